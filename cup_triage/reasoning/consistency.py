"""Clinical consistency as data: which answers imply or exclude which (rules/implications.yaml).

An implication says: when every statement of `if` holds, every statement of `then` holds too
(blastic bone lesions → bone metastases; a single metastatic deposit → at most one site). A
statement is one finding with one answer (`{finding: sites.bone, is: yes}`) or a numeric
bound (`{finding: site_count, below: 2}`).

The API, used by the case model and by the interview:

- `conflicts(findings, vocabulary)`: the implications a case's answers break (every `if`
  known and holding, a `then` known and not holding), in the order of the file.
- `set_aside(findings, vocabulary)`: the answers without the premises of broken implications,
  which is what the reasoning reads (`Case.findings`): a premise presupposes its consequence
  (blastic lesions presuppose bone metastases, a single deposit one site), so when the two
  disagree the premise is the answer that cannot be used. The assessment reports every
  conflict (`Assessment.data_conflicts`), so nothing is set aside silently.
- `implied_answers(findings, vocabulary)`: the answers the given ones imply for findings not
  yet answered, as `key -> answer`: forwards (blastic lesions → `sites.bone: yes`) and, for an
  implication with one premise, backwards (`sites.bone: no` → `imaging.blastic_bone_lesions:
  no`; more than one site → `imaging.solitary_lesion: no`), repeated until nothing changes.
  The interview does not ask a question whose answer is already implied.

No clinical fact is written here: the implications, with their rationale and source, are data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .errors import KnowledgeError
from .vocabulary import AnswerId, Measurement, Vocabulary, did_you_mean, normalise_answer


class _Model(BaseModel):
    model_config = ConfigDict(
        defer_build=True, extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class Statement(_Model):
    """One finding with one answer, a numeric bound on a number (age, site_count, a lab), or a
    count: at least `at_least` of the statements in `of` hold (`field` names what they read)."""

    finding: str | None = None
    is_: Annotated[AnswerId | None, BeforeValidator(normalise_answer)] = Field(
        default=None, alias="is"
    )
    at_least: float | None = None
    below: float | None = None
    of: tuple[Statement, ...] | None = Field(default=None, min_length=2)
    field: str | None = Field(default=None, description="The case field a count reads.")
    label: str | None = Field(default=None, description="What a count counts, in a few words.")

    @model_validator(mode="after")
    def _one_test(self) -> Statement:
        if self.of is not None:
            if self.finding is not None or self.is_ is not None or self.below is not None:
                raise ValueError("a count (of) has at_least and no finding, is or below")
            if self.at_least is None or self.field is None or self.label is None:
                raise ValueError("a count (of) needs at_least, field and label")
            if any(s.is_ is None or s.of is not None for s in self.of):
                raise ValueError("a count (of) counts statements of one finding and one answer")
            return self
        if self.finding is None:
            raise ValueError("a statement names a finding (or counts statements with of)")
        if sum(t is not None for t in (self.is_, self.at_least, self.below)) != 1:
            raise ValueError("a statement has exactly one of is, at_least, below")
        return self

    @property
    def key(self) -> str:
        """The field a conflict names: the finding, or the field a count reads."""
        return self.finding if self.finding is not None else str(self.field)

    def value(self, findings: Mapping[str, Any]) -> Any:
        """The answer this statement tests (for a count: how many of its statements hold)."""
        if self.of is None:
            return findings.get(str(self.finding))
        return sum(s.truth(findings) is True for s in self.of)

    def truth(self, findings: Mapping[str, Any]) -> bool | None:
        """Whether the statement holds for these answers; None while it cannot be told."""
        if self.of is None:
            return self.holds(findings.get(str(self.finding)))
        truths = [s.truth(findings) for s in self.of]
        assert self.at_least is not None
        if truths.count(True) >= self.at_least:
            return True
        if truths.count(True) + truths.count(None) < self.at_least:
            return False
        return None

    def holds(self, value: Any) -> bool | None:
        """True or False for a known answer, None when the finding is unanswered."""
        if value is None:
            return None
        if self.is_ is not None:
            return self.is_ in value if isinstance(value, tuple) else value == self.is_
        number = value.value if isinstance(value, Measurement) else value
        if not isinstance(number, int | float) or isinstance(number, bool):
            return None  # a lab known only as elevated/normal has no number to compare
        if self.at_least is not None:
            return number >= self.at_least
        assert self.below is not None
        return number < self.below

    def describe(self, vocabulary: Vocabulary) -> str:
        if self.of is not None:
            return f"{self.label}"
        label = vocabulary.findings[str(self.finding)].label
        if self.is_ is not None:
            return f"{label} ({self.is_})"
        if self.at_least is not None:
            return f"{self.finding} ≥ {self.at_least:g}"
        return f"{self.finding} < {self.below:g}"


class Implication(_Model):
    """When every `if` statement holds, every `then` statement holds."""

    id: str = Field(pattern=r"^[a-z0-9_.\-]+$")
    if_: tuple[Statement, ...] = Field(alias="if", min_length=1)
    then: tuple[Statement, ...] = Field(min_length=1)
    says: str = Field(min_length=5, description="The reason in a few words, for error lines.")
    rationale: str = Field(min_length=20)
    source: str = Field(min_length=5)


class ImplicationsFile(_Model):
    """The schema of rules/implications.yaml."""

    description: str
    implications: tuple[Implication, ...]


@dataclass(frozen=True)
class Conflict:
    """An implication a case breaks: the premises hold, one consequence is known and false."""

    implication: Implication
    premise: Statement
    broken: Statement
    value: Any

    def message(self, vocabulary: Vocabulary) -> str:
        shown = f"= {_shown(self.value)}"
        if self.broken.of is not None:
            shown = f"({self.broken.describe(vocabulary)}: {_shown(self.value)})"
        return (
            f"{self.premise.finding}: {self.premise.describe(vocabulary)} contradicts "
            f"{self.broken.key} {shown}: {self.implication.says}; "
            f"{self.premise.finding} is set aside"
        )


def _shown(value: Any) -> str:
    if isinstance(value, Measurement):
        return f"{value} ({value.value:g})"
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


def check_implications(data: ImplicationsFile, vocabulary: Vocabulary, file: str) -> None:
    """Every statement names a known finding and one of its answers (or bounds a number)."""
    seen: set[str] = set()
    for implication in data.implications:
        if implication.id in seen:
            raise KnowledgeError("duplicate implication id", file=file, field=implication.id)
        seen.add(implication.id)
        for part, statements in (("if", implication.if_), ("then", implication.then)):
            for index, statement in enumerate(statements):
                where = f"implication {implication.id} › {part}[{index}]"
                if statement.of is None:
                    check_statement(statement, vocabulary, file, where)
                    continue
                if part == "if":
                    raise KnowledgeError(
                        "a count (of) is a consequence only; write one premise per finding",
                        file=file,
                        field=where,
                    )
                for number, counted in enumerate(statement.of):
                    check_statement(counted, vocabulary, file, f"{where}.of[{number}]")


def check_statement(statement: Statement, vocabulary: Vocabulary, file: str, where: str) -> None:
    """The statement names a known finding and one of its answers (or bounds a number)."""
    key = str(statement.finding)
    finding = vocabulary.findings.get(key)
    if finding is None:
        raise KnowledgeError(
            f"unknown finding {key!r}",
            file=file,
            field=where,
            hint=did_you_mean(key, vocabulary.findings),
        )
    numeric = finding.is_numeric or finding.is_measured
    if statement.is_ is None and not numeric:
        raise KnowledgeError(f"{finding.key} has no number to bound", file=file, field=where)
    if statement.is_ is not None and statement.is_ not in finding.answers:
        raise KnowledgeError(
            f"{statement.is_!r} is not an answer of {finding.key}; expected one of "
            f"{', '.join(finding.answers)}",
            file=file,
            field=where,
            hint=did_you_mean(statement.is_, finding.answers),
        )


def conflicts(findings: Mapping[str, Any], vocabulary: Vocabulary) -> list[Conflict]:
    """The implications these answers break, in the order of rules/implications.yaml."""
    found = []
    for implication in vocabulary.implications:
        if not all(s.truth(findings) for s in implication.if_):
            continue
        for statement in implication.then:
            if statement.truth(findings) is False:
                value = statement.value(findings)
                found.append(Conflict(implication, implication.if_[0], statement, value))
    return found


def set_aside(findings: Mapping[str, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    """The answers without the premises of the implications they break."""
    kept = dict(findings)
    for _ in range(len(vocabulary.implications) + 1):
        found = conflicts(kept, vocabulary)
        if not found:
            return kept
        for conflict in found:
            for statement in conflict.implication.if_:
                kept.pop(statement.key, None)
    return kept


def implied_answers(findings: Mapping[str, Any], vocabulary: Vocabulary) -> dict[str, str]:
    """The answers implied for unanswered findings, forwards and (one premise) backwards."""
    known: dict[str, Any] = dict(findings)
    implied: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for implication in vocabulary.implications:
            for key, answer in _implied_by(implication, known, vocabulary):
                if key not in known:
                    known[key] = implied[key] = answer
                    changed = True
    return dict(sorted(implied.items()))


def _implied_by(
    implication: Implication, known: Mapping[str, Any], vocabulary: Vocabulary
) -> list[tuple[str, str]]:
    if all(s.truth(known) for s in implication.if_):
        return [(s.key, s.is_) for s in implication.then if s.is_ is not None]
    if len(implication.if_) != 1:
        return []
    premise = implication.if_[0]
    if any(s.truth(known) is False for s in implication.then):
        other = _other_answer(premise, vocabulary)
        return [(premise.key, other)] if other is not None else []
    return []


def _other_answer(statement: Statement, vocabulary: Vocabulary) -> str | None:
    """The answer that negates a one-answer statement on a finding with two answers."""
    answers = vocabulary.findings[statement.key].answers
    if statement.is_ is None or len(answers) != 2:
        return None
    return answers[1] if statement.is_ == answers[0] else answers[0]
