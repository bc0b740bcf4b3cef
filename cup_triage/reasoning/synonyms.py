"""Synonyms: the words case files and registry exports use for the vocabulary's ids.

rules/synonyms.yaml lists them per kind (sex, primaries, histology, each section, answers).
`Synonyms.normalise_case` rewrites a raw case mapping before it is validated: a value that is
not an id but is a synonym of one (`gastric`, `neck nodes`, `F`, `pos`, `+`, `raised`) becomes
that id. Words also match without case, spaces and punctuation (`TTF-1` is `ttf1`, `CA 19-9`
is `ca19_9`). Anything else is left alone for the case model to refuse, with a suggestion
that also knows the synonyms.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import CaseError, KnowledgeError
from .vocabulary import LIST_SECTIONS, SECTIONS, Vocabulary, register_suggestions

PRIMARY_FIELDS = ("prior_cancer", "tissue_of_origin", "pathology_favours", "confirmed_primary")
"""Fields whose words are primaries: one, or a list of them (each word read)."""


def word_key(word: str) -> str:
    """How words are compared: lower case, Greek beta and micro spelt out, without spaces,
    hyphens, underscores, dots and slashes (a word of those only, such as '-', is kept). Other
    characters count: a stray quote or a control byte never turns a word into an id."""
    lowered = word.strip().lower().replace("β", "beta").replace("µ", "u").replace("μ", "u")
    return re.sub(r"[\s\-_./]+", "", lowered) or lowered.replace("−", "-")


class SynonymsFile(BaseModel):
    """The schema of rules/synonyms.yaml: kind -> id -> words."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    version: str
    sex: dict[str, list[str]] = {}
    primaries: dict[str, list[str]] = {}
    histology: dict[str, list[str]] = {}
    sections: dict[str, dict[str, list[str]]] = {}
    answers: dict[str, list[str]] = {}


class Synonyms:
    """Lookups from words to ids, checked against a vocabulary."""

    def __init__(self, data: SynonymsFile, vocabulary: Vocabulary) -> None:
        self.version = data.version
        options = {
            "sex": list(vocabulary.findings["sex"].answers),
            "primaries": list(vocabulary.primaries),
            "histology": list(vocabulary.histologies),
            **{section: vocabulary.ids_in(section) for section in SECTIONS},
        }
        answers = {a for s in SECTIONS for a in vocabulary.answers_of(s)}
        tables = {
            "sex": data.sex,
            "primaries": data.primaries,
            "histology": data.histology,
            **data.sections,
            "answers": data.answers,
        }
        self._words: dict[str, dict[str, str]] = {}
        self._ids: dict[str, dict[str, str]] = {}
        self._listed: dict[tuple[str, str], list[str]] = {}
        for kind, table in tables.items():
            valid = answers if kind == "answers" else set(options.get(kind, ()))
            if kind not in options and kind != "answers":
                raise KnowledgeError(f"unknown kind {kind!r}", field=f"sections.{kind}")
            words: dict[str, str] = {}
            for id_, listed in table.items():
                if id_ not in valid:
                    raise KnowledgeError(
                        f"synonyms for {id_!r}, which is not a {kind} id", field=f"{kind}.{id_}"
                    )
                self._listed[(kind, id_)] = list(listed)
                for word in listed:
                    key = word_key(word)
                    if kind != "answers" and words.get(key, id_) != id_:
                        raise KnowledgeError(
                            f"{word!r} is a synonym of both {words[key]!r} and {id_!r}",
                            field=f"{kind}.{id_}",
                        )
                    words.setdefault(key, id_)
            self._words[kind] = words
        self._answer_words: dict[str, list[str]] = {}
        for id_, listed in data.answers.items():
            for word in listed:
                self._answer_words.setdefault(word_key(word), []).append(id_)
        self._known: dict[str, frozenset[str]] = {}
        for kind, ids in options.items():
            self._ids[kind] = {word_key(i): i for i in ids}
            self._known[kind] = frozenset(ids)
        self._register()

    def _register(self) -> None:
        for kind in self._ids:
            register_suggestions(dict(self._words.get(kind, {})), kind=kind)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Read back from the knowledge-base cache: did-you-mean learns the synonyms again.
        self.__dict__.update(state)
        self._register()

    def words_for(self, kind: str, id_: str) -> list[str]:
        """The synonyms listed for one id (for `cup-triage vocab`)."""
        return list(self._listed.get((kind, id_), ()))

    def resolve(self, kind: str, value: Any) -> Any:
        """The id a word stands for, or the value unchanged."""
        if not isinstance(value, str):
            return value
        if value in self._known.get(kind, ()):
            return value
        ids = self._ids.get(kind, {})
        key = word_key(value)
        return ids.get(key) or self._words.get(kind, {}).get(key) or value

    def resolve_answer(self, allowed: tuple[str, ...], value: Any) -> Any:
        """An answer in the form one section takes (`pos` is positive for a stain, `present`
        yes for a symptom and detected for a mutation)."""
        if not isinstance(value, str) or value.strip().lower() in allowed:
            return value
        for target in self._answer_words.get(word_key(value), ()):
            if target in allowed:
                return target
        return value

    def normalise_case(self, data: Mapping[str, Any], vocabulary: Vocabulary) -> dict[str, Any]:
        """A copy of a raw case mapping with synonyms replaced by ids."""
        case = dict(data)
        if "sex" in case:
            case["sex"] = self.resolve("sex", case["sex"])
        if "histology" in case:
            case["histology"] = self.resolve("histology", case["histology"])
        for field in PRIMARY_FIELDS:
            if field in case:
                case[field] = self._each("primaries", case[field])
        for section in SECTIONS:
            value = case.get(section)
            if isinstance(value, list | tuple) and section in LIST_SECTIONS:
                case[section] = self._each(section, value)
            elif isinstance(value, Mapping):
                allowed = vocabulary.answers_of(section)
                resolved: dict[Any, Any] = {}
                for key, answer in value.items():
                    finding = self.resolve(section, key)
                    if finding in resolved or finding in value and finding != key:
                        raise CaseError(
                            f"given twice, as {reprlib.repr(_spelling(value, finding, key))} "
                            f"and {reprlib.repr(key)}",
                            field=f"{section}.{finding}",
                            hint="a synonym names the same finding; give it once",
                        )
                    resolved[finding] = self.resolve_answer(allowed, answer)
                case[section] = resolved
        return case

    def _each(self, kind: str, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [self.resolve(kind, item) for item in value]
        return self.resolve(kind, value)


def _spelling(value: Mapping[Any, Any], finding: str, other: Any) -> Any:
    """The key a section gave first for a finding it gives twice."""
    if finding in value and finding != other:
        return finding
    return next(k for k in value if k != other)
