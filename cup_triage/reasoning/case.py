"""The Case model: one patient's findings, checked against a Vocabulary; unknown is not negative."""

from __future__ import annotations

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

from .errors import CaseError
from .vocabulary import SECTIONS, Vocabulary, did_you_mean, normalise_answer

LIST_SECTIONS = ("sites", "features")
"""Sections a case file may give as a list of present findings (or as a mapping of answers)."""


def shown(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut short (input can be huge)."""
    return reprlib.repr(value)


def _vocabulary(info: ValidationInfo) -> Vocabulary:
    return info.context["vocabulary"]


def _check_id(value: Any, options: Mapping[str, Any] | list[str], what: str, field: str) -> str:
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


class Case(BaseModel):
    """One case as in ../shared/case-format.md. Build it with `parse_case`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    sex: str | None = None
    age: int | None = Field(default=None, ge=0, le=120)
    sites: dict[str, str] | None = None
    histology: str | None = None
    features: dict[str, str] | None = None
    markers: dict[str, str] = Field(default_factory=dict)
    labs: dict[str, str] = Field(default_factory=dict)
    imaging: dict[str, str] = Field(default_factory=dict)
    history: dict[str, str] = Field(default_factory=dict)
    prior_cancer: str | None = None
    confirmed_primary: str | None = None
    notes: Any = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_is_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("id")
    @classmethod
    def _id_is_one_line(cls, value: str) -> str:
        # A case id names the case in every error line and in every row of a batch output.
        if not value.isprintable():
            raise ValueError(f"a case id is one line of printable text, got {shown(value)}")
        return value

    @field_validator("sex", mode="before")
    @classmethod
    def _sex(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        answers = _vocabulary(info).findings["sex"].answers
        return _check_id(value, list(answers), "sex", "sex")

    @field_validator("histology", mode="before")
    @classmethod
    def _histology(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        return _check_id(value, _vocabulary(info).histologies, "histology", "histology")

    @field_validator("prior_cancer", "confirmed_primary", mode="before")
    @classmethod
    def _primary(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        options = list(_vocabulary(info).primaries)
        if info.field_name == "prior_cancer":
            options.append("none")
        return _check_id(value, options, "primary", info.field_name)

    @field_validator(*SECTIONS, mode="before")
    @classmethod
    def _section(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None if info.field_name in LIST_SECTIONS else {}
        vocabulary = _vocabulary(info)
        section = info.field_name
        ids = vocabulary.ids_in(section)
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
        answers: dict[str, str] = {}
        for key, answer in value.items():
            finding = _check_id(key, ids, section, f"{section}.{key}")
            answer = normalise_answer(answer)
            if answer not in (yes, no, "unknown", None):
                raise CaseError(
                    f"expected {yes} | {no}, got {shown(answer)}",
                    field=f"{section}.{finding}",
                    hint=did_you_mean(answer, (yes, no)) if isinstance(answer, str) else None,
                )
            if answer in (yes, no):
                answers[finding] = answer
        return answers

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
            elif sex != patient:
                raise CaseError(
                    f"{what} contradicts {first[0]} ({first[1]})",
                    field=field,
                    hint=f"only {sex} patients have the one, only {patient} the other",
                )
        return self

    def findings(self, vocabulary: Vocabulary) -> dict[str, Any]:
        """Every answered finding as `key -> answer` (e.g. 'history.hemoptysis' -> 'yes').

        Two numbers are derived: `site_count` (when the sites are known) and `history_answered`.
        """
        found: dict[str, Any] = {}
        for key in ("sex", "age", "histology", "prior_cancer"):
            if getattr(self, key) is not None:
                found[key] = getattr(self, key)
        for section in SECTIONS:
            for finding, answer in (getattr(self, section) or {}).items():
                found[f"{section}.{finding}"] = answer
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
        for section in ("markers", "labs", "imaging", "history"):
            if getattr(self, section):
                data[section] = dict(getattr(self, section))
        for key in ("prior_cancer", "confirmed_primary", "notes"):
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
            mapping = _as_mapping(current, vocabulary, section)
            if answer is None:
                mapping.pop(finding, None)
            else:
                mapping[finding] = answer
            data[section] = mapping
        return parse_case(data, vocabulary)


def _sex_specific_answers(case: Case, vocabulary: Vocabulary) -> Iterator[tuple[str, str, str]]:
    """(field, the answer in words, sex) for each answer only one sex can have, in a fixed order
    (vocabulary order) so that the error a case gets never depends on the order of its keys."""
    for finding in vocabulary.findings.values():
        if finding.sex is None or finding.section not in SECTIONS:
            continue
        answers = getattr(case, finding.section) or {}
        positive = finding.answers[0]
        if answers.get(finding.key.partition(".")[2]) == positive:
            yield finding.key, _in_words(finding.section, finding.label, positive), finding.sex
    for field in ("prior_cancer", "confirmed_primary"):
        primary = vocabulary.primaries.get(getattr(case, field) or "")
        if primary is not None and primary.sex is not None:
            yield field, f"{primary.label} primary", primary.sex


def _in_words(section: str, label: str, answer: str) -> str:
    if section == "sites":
        return f"metastases to the {label}"
    return label if answer == "yes" else f"{label} {answer}"


def with_derived_findings(answers: Mapping[str, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    """Add the numbers rules may test: `site_count` (once every site is known) and
    `history_answered`. Shared by cases and by hypothetical answers in question selection."""
    found = {k: v for k, v in answers.items() if k not in ("site_count", "history_answered")}
    sites = [answer for key, answer in found.items() if key.startswith("sites.")]
    if len(sites) == len(vocabulary.sections["sites"].findings):
        found["site_count"] = sum(1 for answer in sites if answer == "yes")
    found["history_answered"] = sum(1 for key in found if key.startswith("history."))
    return found


def _as_mapping(current: Any, vocabulary: Vocabulary, section: str) -> dict[str, Any]:
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
    short = isinstance(raw_id, str) and len(raw_id) <= 100
    case_id = None if raw_id is None else raw_id if short else shown(raw_id)
    if not isinstance(data, Mapping):
        raise CaseError(f"a case is a mapping of fields, got {type(data).__name__}", file=file)
    try:
        return Case.model_validate(data, context={"vocabulary": vocabulary})
    except CaseError as exc:
        raise exc.located(file=file, case=case_id) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        location = [str(part) for part in first["loc"]]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            fields = list(Case.model_fields)
            message = f"unknown field {location[-1]!r}"
            hint = did_you_mean(location[-1], fields)
            message += f"; {hint}" if hint else f"; expected one of {', '.join(fields)}"
        elif first["type"] == "missing":
            message = "required field is missing"
        elif "input" in first:
            message += f", got {shown(first['input'])}"
        more = exc.error_count() - 1
        raise CaseError(
            message,
            file=file,
            case=case_id,
            field=".".join(location) or None,
            hint=f"and {more} more problem(s) in this case" if more else None,
        ) from exc
