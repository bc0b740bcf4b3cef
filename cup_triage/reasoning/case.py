"""The Case model: one patient's findings, checked against a Vocabulary; unknown is not negative.

The case-file contract is docs/case-format.md. `Case.findings` gives the answers the reasoning
reads, as `key -> answer`: a lab given as a value becomes a `Measurement` (elevated or normal,
carrying the value), and several earlier cancers a sorted tuple of primary ids.
"""

from __future__ import annotations

import datetime
import reprlib
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .consistency import Conflict, conflicts, set_aside
from .errors import CaseError, from_validation
from .vocabulary import (
    DERIVED_FINDINGS,
    LIST_SECTIONS,
    MULTIPLE_FINDINGS,
    NONE,
    SECTIONS,
    UNKNOWN,
    ValueRefused,
    Vocabulary,
    did_you_mean,
    normalise_answer,
)

LIST_FIELDS = (*LIST_SECTIONS, *MULTIPLE_FINDINGS)
"""Fields a case file may give as a list (in a CSV cell, separated as the sites are)."""


def shown(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut short (input can be huge)."""
    return reprlib.repr(value)


def _described(value: Any) -> str:
    """What a YAML or JSON reader made of a value, in words a case-file author recognises."""
    if isinstance(value, bool):
        return f"the yes/no value {str(value).lower()}"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, float):
        return f"the number {value!r}"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__} {shown(value)}"


def _field(info: ValidationInfo) -> str:
    # A field validator always runs for a named field.
    assert info.field_name is not None
    return info.field_name


def _vocabulary(info: ValidationInfo) -> Vocabulary:
    # parse_case always validates with a vocabulary in the context.
    context = info.context or {}
    return context["vocabulary"]


def _check_id(
    value: Any, options: Mapping[str, Any] | list[str] | tuple[str, ...], what: str, field: str
) -> str:
    value = normalise_answer(value)
    if not isinstance(value, str) or value not in options:
        valid = list(options)
        expected = " | ".join(valid) if len(valid) <= 6 else f"one of the {what} ids"
        raise CaseError(
            f"expected {expected}, got {shown(value)}",
            field=field,
            hint=did_you_mean(value, options) if isinstance(value, str) else None,
        )
    return value


def _primary_ids(value: Any, options: Mapping[str, Any] | list[str], field: str) -> set[str]:
    """The primary ids of one id or a list of them, each checked and, in a list, named by its
    place (`prior_cancer[1]`)."""
    if not isinstance(value, list | tuple):
        return {_check_id(value, options, "primary", field)}
    return {
        _check_id(item, options, "primary", f"{field}[{index}]") for index, item in enumerate(value)
    }


def _one_or_sorted(ids: set[str]) -> str | tuple[str, ...]:
    """A list of one id is that id; a longer one is kept sorted (its order means nothing)."""
    return next(iter(ids)) if len(ids) == 1 else tuple(sorted(ids))


ID_LIMIT = 200
"""The longest case id: enough for any registry or study id with a prefix."""


class Case(BaseModel):
    """One case as in docs/case-format.md. Build it with `parse_case`."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    sex: str | None = None
    age: int | None = Field(default=None, ge=0, le=120)
    sites: dict[str, str] | None = None
    histology: str | None = None
    features: dict[str, str] | None = None
    markers: dict[str, str] = Field(default_factory=dict)
    labs: dict[str, str | float] = Field(default_factory=dict)
    molecular: dict[str, str] = Field(default_factory=dict)
    imaging: dict[str, str] = Field(default_factory=dict)
    workup: dict[str, str] = Field(default_factory=dict)
    history: dict[str, str] = Field(default_factory=dict)
    prior_cancer: str | tuple[str, ...] | None = None
    tissue_of_origin: str | None = None
    pathology_favours: str | tuple[str, ...] | None = None
    confirmed_primary: str | None = None
    source: str | None = None
    notes: Any = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_is_text(cls, value: Any) -> Any:
        # An id is kept exactly as written. A whole number is its own text (the YAML reader
        # refuses the forms that would change it: 010, 0x1F, 1_000, 1:30); anything else a
        # YAML reader turns into another type (1.50, yes, a date, !!binary) would change.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ValueError(f'a case id is text, got {_described(value)} (quote it: id: "...")')
        return value

    @field_validator("id")
    @classmethod
    def _id_is_one_line(cls, value: str) -> str:
        # A case id names the case in every error line and in every row of a batch output.
        if not value.strip():
            raise ValueError("a case id cannot be blank")
        if value != value.strip():
            raise ValueError(f"a case id has no leading or trailing spaces, got {shown(value)}")
        if not value.isprintable():
            raise ValueError(f"a case id is one line of printable text, got {shown(value)}")
        if len(value) > ID_LIMIT:
            # Every error line and output row repeats it: a megabyte id is a pasted note.
            raise ValueError(
                f"a case id is at most {ID_LIMIT} characters, got {len(value):,} ({shown(value)})"
            )
        return value

    @field_validator("age", mode="before")
    @classmethod
    def _age_is_a_number(cls, value: Any) -> Any:
        digits = isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()
        if isinstance(value, str) and not (digits and len(value.strip()) <= 6):
            raise ValueError(f"expected a whole number of years, got {shown(value)}")
        if isinstance(value, bool) or not isinstance(value, int | float | str | None):
            raise ValueError(f"expected a whole number of years, got {_described(value)}")
        return value

    @field_validator("sex", mode="before")
    @classmethod
    def _sex(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        answers = _vocabulary(info).findings["sex"].answers
        return _check_id(value, answers, "sex", "sex")

    @field_validator("histology", mode="before")
    @classmethod
    def _histology(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        return _check_id(value, _vocabulary(info).histologies, "histology", "histology")

    @field_validator("tissue_of_origin", "confirmed_primary", mode="before")
    @classmethod
    def _primary(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        return _check_id(value, _vocabulary(info).primaries, "primary", _field(info))

    @field_validator("prior_cancer", mode="before")
    @classmethod
    def _prior_cancers(cls, value: Any, info: ValidationInfo) -> Any:
        """One primary id, a list of them, or none; a list of one is that id, an empty list
        none, and a longer list is kept sorted (its order means nothing)."""
        if value is None:
            return None
        ids = _primary_ids(value, [*_vocabulary(info).primaries, NONE], "prior_cancer")
        if NONE in ids and len(ids) > 1:
            raise CaseError("none together with earlier cancers", field="prior_cancer")
        ids.discard(NONE)
        return _one_or_sorted(ids) if ids else NONE

    @field_validator("pathology_favours", mode="before")
    @classmethod
    def _favoured_primaries(cls, value: Any, info: ValidationInfo) -> Any:
        """The primary a pathology report says the metastasis is consistent with, or the
        primaries it names together ("a Mullerian primary"); kept sorted like prior_cancer.
        An empty list, or `unknown`, is no opinion."""
        if value is None or (isinstance(value, str) and normalise_answer(value) == UNKNOWN):
            return None
        ids = _primary_ids(value, _vocabulary(info).primaries, "pathology_favours")
        return _one_or_sorted(ids) if ids else None

    @field_validator("source", mode="before")
    @classmethod
    def _source_is_text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"a source is the citation as text, got {type(value).__name__}")
        return value

    @field_validator(*SECTIONS, mode="before")
    @classmethod
    def _section(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None if info.field_name in LIST_SECTIONS else {}
        vocabulary = _vocabulary(info)
        section = _field(info)
        ids = vocabulary.id_options(section)
        yes, no = vocabulary.answers_of(section)
        if isinstance(value, list | tuple) and section in LIST_SECTIONS:
            present = {_check_id(item, ids, section, section) for item in value}
            if section == "sites":
                # The format: a site not listed was not found.
                return {site: yes if site in present else no for site in ids}
            return {feature: yes for feature in sorted(present)}
        if not isinstance(value, Mapping):
            form = "a list of ids or a mapping" if section in LIST_SECTIONS else "a mapping"
            raise ValueError(f"expected {form}, got {type(value).__name__}")
        answers: dict[str, str | float] = {}
        spelt: dict[str, Any] = {}
        for key, raw in value.items():
            if isinstance(raw, str) and raw in (yes, no) and key in ids:
                answers[key] = raw  # the common case, already in the form the model keeps
                continue
            finding = _check_id(key, ids, section, f"{section}.{key}")
            if finding in spelt:
                # Two spellings of one finding (`TTF1` and `ttf1`): which one holds is not ours
                # to choose, even when they agree.
                raise CaseError(
                    f"given twice, as {shown(spelt[finding])} and {shown(key)}",
                    field=f"{section}.{finding}",
                    hint="give each finding once",
                )
            spelt[finding] = key
            spec = vocabulary.findings[f"{section}.{finding}"]
            try:
                measured = spec.read_value(raw)
            except ValueRefused as exc:
                raise CaseError(str(exc), field=f"{section}.{finding}") from None
            if measured is not None:
                answers[finding] = measured
                continue
            answer = normalise_answer(raw)
            if answer not in (yes, no, "unknown", None):
                value_too = f" or a value in {spec.unit}" if spec.is_measured else ""
                raise CaseError(
                    f"expected {yes} | {no}{value_too}, got {shown(answer)}",
                    field=f"{section}.{finding}",
                    hint=did_you_mean(answer, (yes, no)) if isinstance(answer, str) else None,
                )
            if answer in (yes, no):
                answers[finding] = answer
        return answers

    @field_validator("sex", "age", "histology", "prior_cancer", mode="before")
    @classmethod
    def _unknown_is_not_given(cls, value: Any) -> Any:
        # An interview saves "not known" answers as `unknown`, so a resumed one does not ask
        # them again; for the reasoning they are simply not given.
        return None if isinstance(value, str) and normalise_answer(value) == UNKNOWN else value

    @model_validator(mode="after")
    def _one_sex(self, info: ValidationInfo) -> Case:
        """Findings and primaries only one sex can have must agree with the patient's sex
        and with each other (the vocabulary marks them with `sex`)."""
        patient = self.sex
        first: tuple[str, str] | None = None  # the answer that told the sex, if the case did not
        for field, what, sex in _sex_specific_answers(self, _vocabulary(info)):
            if patient is None:
                patient, first = sex, (field, what)
            elif sex != patient and first is None:
                raise CaseError(
                    f"{what} in a {patient} patient",
                    field=field,
                    hint=f"only {sex} patients have this; check the sex or the answer",
                )
            elif sex != patient and first is not None:
                raise CaseError(
                    f"{what} contradicts {first[0]} ({first[1]})",
                    field=field,
                    hint=f"only {sex} patients have the one, only {patient} the other",
                )
        return self

    def findings(self, vocabulary: Vocabulary) -> dict[str, Any]:
        """Every answered finding the reasoning reads, as `key -> answer` (e.g.
        'history.hemoptysis' -> 'yes'): the answers, less those set aside because they
        contradict others (see `conflicts` and consistency.py).

        Numbers are derived: `site_count` (when the sites are known), `sites_found`,
        `history_answered` and `markers_answered`.
        """
        return set_aside(self.answers(vocabulary), vocabulary)

    def conflicts(self, vocabulary: Vocabulary) -> list[Conflict]:
        """The implications of rules/implications.yaml this case's answers break."""
        return conflicts(self.answers(vocabulary), vocabulary)

    def answers(self, vocabulary: Vocabulary) -> dict[str, Any]:
        """Every answer as given, `key -> answer`, with the two derived numbers."""
        found: dict[str, Any] = {}
        for key in (
            "sex",
            "age",
            "histology",
            "prior_cancer",
            "tissue_of_origin",
            "pathology_favours",
        ):
            if getattr(self, key) is not None:
                found[key] = getattr(self, key)
        for section in SECTIONS:
            for finding, answer in (getattr(self, section) or {}).items():
                key = f"{section}.{finding}"
                if isinstance(answer, float):
                    answer = vocabulary.findings[key].reading(answer)
                found[key] = answer
        return with_derived_findings(found, vocabulary)

    def to_file_dict(self, vocabulary: Vocabulary) -> dict[str, Any]:
        """The case as a case-file mapping (what `parse_case` reads back)."""
        data: dict[str, Any] = {"id": self.id}
        for key in ("sex", "age"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.sites is not None:
            complete = set(self.sites) == set(vocabulary.ids_in("sites"))
            data["sites"] = (
                [s for s, a in self.sites.items() if a == "yes"] if complete else dict(self.sites)
            )
        if self.histology is not None:
            data["histology"] = self.histology
        if self.features is not None:
            all_yes = all(a == "yes" for a in self.features.values())
            data["features"] = [f for f in self.features] if all_yes else dict(self.features)
        for section in SECTIONS:
            if section not in ("sites", "features") and getattr(self, section):
                data[section] = dict(getattr(self, section))
        for key in MULTIPLE_FINDINGS:
            value = getattr(self, key)
            if value is not None:
                data[key] = list(value) if isinstance(value, tuple) else value
        for key in ("tissue_of_origin", "confirmed_primary", "source", "notes"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    def with_findings(self, vocabulary: Vocabulary, changes: Mapping[str, Any]) -> Case:
        """A copy with some findings set (`key -> answer`) or cleared (answer None)."""
        data = self.to_file_dict(vocabulary)
        for key, answer in changes.items():
            section, _, finding = key.partition(".")
            if not finding:
                data.pop(key, None) if answer is None else data.__setitem__(key, answer)
                continue
            current = data.get(section)
            mapping = section_as_mapping(current, vocabulary, section)
            if answer is None:
                mapping.pop(finding, None)
            else:
                mapping[finding] = answer
            data[section] = mapping
        return parse_case(data, vocabulary)


def _sex_specific_answers(case: Case, vocabulary: Vocabulary) -> Iterator[tuple[str, str, str]]:
    """(field, the answer in words, sex) for each answer only one sex can have, in a fixed order
    (vocabulary order) so that the error a case gets never depends on the order of its keys."""
    for finding in vocabulary.sex_specific:
        answers = getattr(case, finding.section) or {}
        positive = finding.answers[0]
        answer = answers.get(finding.key.partition(".")[2])
        if isinstance(answer, float):
            answer = finding.reading(answer)
        if finding.sex is not None and (
            answer == positive or (finding.sex_any_answer and answer is not None)
        ):
            yield finding.key, _in_words(finding.section, finding.label, answer), finding.sex
    for field in ("prior_cancer", "tissue_of_origin", "pathology_favours", "confirmed_primary"):
        value = getattr(case, field)
        for primary_id in value if isinstance(value, tuple) else (value,):
            primary = vocabulary.primaries.get(primary_id or "")
            if primary is not None and primary.sex is not None:
                yield field, f"{primary.label} primary", primary.sex


def _in_words(section: str, label: str, answer: str) -> str:
    if section == "sites":
        return f"metastases to the {label}"
    if section == "workup":
        return f"a {label} ({answer})"
    return label if answer == "yes" else f"{label} {answer}"


def with_derived_findings(answers: Mapping[str, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    """Add the numbers rules may test: `site_count` (once every site is known), `sites_found`
    (the sites known to be involved, once one is), `history_answered` and `markers_answered`
    (how many stains are given). Shared by cases and
    by hypothetical answers in question selection."""
    found = {k: v for k, v in answers.items() if k not in DERIVED_FINDINGS}
    sites = [answer for key, answer in found.items() if key.startswith("sites.")]
    present = vocabulary.answers_of("sites")[0]
    involved = sum(1 for answer in sites if answer == present)
    if len(sites) == len(vocabulary.sections["sites"].findings):
        found["site_count"] = involved
    if involved:
        # A lower bound on site_count, known from the first involved site: a mapping that
        # names two involved sites already says the disease is at two sites or more.
        found["sites_found"] = involved
    found["history_answered"] = sum(1 for key in found if key.startswith("history."))
    # A pathologist's stated origin rests on the stains when the case lists any: rules tell
    # the opinion alone from the opinion beside its stains by this count (rules/README.md).
    found["markers_answered"] = sum(1 for key in found if key.startswith("markers."))
    return found


def with_answer(
    findings: Mapping[str, Any], key: str, answer: Any, vocabulary: Vocabulary
) -> dict[str, Any]:
    """`with_derived_findings({**findings, key: answer})` for findings that already hold their
    derived numbers (as `Case.findings` returns them), without recounting them all: question
    selection tries every answer of every open finding. The same mapping, keys in another
    order (nothing reads findings by position)."""
    if (
        key.startswith("sites.")
        or key in DERIVED_FINDINGS
        or "history_answered" not in findings
        or "markers_answered" not in findings
    ):
        return with_derived_findings({**findings, key: answer}, vocabulary)
    hypothetical = dict(findings)
    if key not in hypothetical:
        for prefix, count in (("history.", "history_answered"), ("markers.", "markers_answered")):
            if key.startswith(prefix):
                hypothetical[count] += 1
    hypothetical[key] = answer
    return hypothetical


def section_as_mapping(current: Any, vocabulary: Vocabulary, section: str) -> dict[str, Any]:
    """A case-file section as a mapping of answers, whether written as a list or a mapping
    (a listed site is present and every other site absent, as the format says)."""
    if current is None:
        return {}
    if isinstance(current, list):
        if section == "sites":
            yes, no = vocabulary.answers_of("sites")
            return {s: yes if s in current else no for s in vocabulary.ids_in("sites")}
        return {f: "yes" for f in current}
    return dict(current)


def parse_case(data: Any, vocabulary: Vocabulary, *, file: str | None = None) -> Case:
    """Validate one case mapping; errors name the file, the case id and the field."""
    raw_id = data.get("id") if isinstance(data, Mapping) else None
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    # An id that is not usable text names no case: the error names the item ('#3') instead.
    case_id: str | None = None
    if isinstance(raw_id, str) and raw_id.strip():
        case_id = raw_id if len(raw_id) <= 100 else shown(raw_id)
    if not isinstance(data, Mapping):
        raise CaseError(f"a case is a mapping of fields, got {type(data).__name__}", file=file)
    synonyms = getattr(vocabulary, "synonyms", None)  # rules/synonyms.yaml, set by the loader
    try:
        if synonyms is not None:
            data = synonyms.normalise_case(data, vocabulary)
        return Case.model_validate(data, context={"vocabulary": vocabulary})
    except CaseError as exc:
        raise exc.located(file=file, case=case_id) from None
    except ValidationError as exc:
        raise from_validation(
            exc,
            CaseError,
            data,
            file=file,
            case=case_id,
            fields=list(Case.model_fields),
            what="case",
        ) from exc
