"""Primaries and findings: ids, answers, questions, codes, lab units, and did-you-mean for typos.

A serum test with a `unit` in rules/vocabulary.yaml also takes a measured value
(`Finding.read_value`); a case's findings then hold a `Measurement`: the answer elevated or
normal (against the upper reference limit) that also carries the value in the reference unit.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .errors import KnowledgeError

if TYPE_CHECKING:
    from .consistency import ImplicationsFile

SECTIONS = ("sites", "features", "markers", "labs", "molecular", "imaging", "workup", "history")
"""Sections of a case that hold many findings each, in the order of the case format."""

DERIVED_FINDINGS = ("site_count", "sites_found", "history_answered", "markers_answered")
"""Numbers derived from a case: how many sites are involved (once every site is known), how
many sites are known to be involved (a lower bound, known as soon as one site is), how
many history questions were answered, and how many stains (markers) the case gives."""

NUMERIC_FINDINGS = ("age", *DERIVED_FINDINGS)
"""Findings whose answer is a number."""

MULTIPLE_FINDINGS = ("prior_cancer", "pathology_favours")
"""Findings that may hold several answers at once (a sorted tuple when there are two or more)."""

LIST_SECTIONS = ("sites", "features")
"""Sections a case file may give as a list of present findings (or as a mapping of answers)."""

UNKNOWN = "unknown"
NONE = "none"

Sex = Literal["female", "male"]


def normalise_answer(value: Any) -> Any:
    """Map YAML 1.1 booleans to the format's yes/no and tidy strings; leave other values alone."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, str):
        return value.strip().lower()
    return value


AnswerId = Annotated[str, BeforeValidator(normalise_answer)]


_SUGGESTIONS: dict[str, set[str]] = {}
"""Synonym words (compared as `synonyms.word_key` does) -> the ids they stand for; filled
when a knowledge base's synonyms are loaded, so a misspelt synonym suggests its id."""


def register_suggestions(words: Mapping[str, str], kind: str = "") -> None:
    """Let did-you-mean suggest an id for words close to one of its synonyms."""
    for word, id_ in words.items():
        _SUGGESTIONS.setdefault(word, set()).add(id_)


def _squashed(word: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", word.lower()) or word.lower()


def did_you_mean(word: object, options: Iterable[str]) -> str | None:
    """Suggest the closest valid id for a misspelt one, as a hint for an error message.

    Words are compared without case and punctuation, against the ids and the synonyms of
    those ids (difflib's ratio is enough for ids of a few words; no fuzzy-matching library)."""
    valid = list(options)
    candidates: dict[str, str] = {_squashed(option): option for option in valid}
    for synonym, ids in _SUGGESTIONS.items():
        for id_ in sorted(ids):
            if id_ in valid:
                candidates.setdefault(synonym, id_)
    matches = difflib.get_close_matches(_squashed(str(word)), list(candidates), n=1, cutoff=0.6)
    return f"did you mean {candidates[matches[0]]!r}?" if matches else None


class _Model(BaseModel):
    # .nan and .inf are YAML numbers: a burden, prevalence, limit or unit factor is finite.
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, allow_inf_nan=False)


class Measurement(str):
    """A lab answer (elevated | normal) read from a measured value, which it carries.

    It compares equal to its answer, so every rule that tests `is: elevated` reads it as it
    reads the plain answer; two measurements are equal only if their values are too.
    """

    value: float

    def __new__(cls, answer: str, value: float) -> Measurement:
        reading = super().__new__(cls, answer)
        reading.value = value
        return reading

    def __getnewargs__(self) -> tuple[str, float]:  # type: ignore[override]
        return str(self), self.value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Measurement):
            return str.__eq__(self, other) and self.value == other.value
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"Measurement({str(self)!r}, {self.value:g})"


_VALUE = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*(.*)$", re.IGNORECASE)


def _unit_key(unit: str) -> str:
    """Units compare without case, spaces, or the difference between µ, μ and u."""
    return unit.replace(" ", "").replace("µ", "u").replace("μ", "u").lower()


class ValueRefused(ValueError):
    """A lab value that cannot be used: a unit the test does not take, or out of range."""


class Step(_Model):
    """A kind of step that answers a finding, e.g. a history question or an imaging study."""

    label: str
    tier: int = Field(ge=1, description="Order of asking: history and examination first.")
    burden: float = Field(gt=0, description="Relative cost, risk and delay for the patient.")
    suggested_as: Literal["question", "test", "none"] = Field(
        description="Where information-gain suggestions of this step appear in an assessment."
    )


class Primary(_Model):
    """A candidate primary site with its codes."""

    id: str
    label: str
    icd_o3: tuple[str, ...] = Field(min_length=1)
    oncotree: str
    sex: Sex | None = None


class AnswerOption(_Model):
    id: AnswerId
    label: str
    prevalence: float = Field(gt=0, lt=1)
    icd_o3_morphology: str | None = Field(
        default=None,
        pattern=r"^[89][0-9]{3}/[0-3]$",
        description="ICD-O-3 morphology code (histology/behaviour) of a histology answer.",
    )


class ConditionCodes(_Model):
    """What every case is: a cancer whose primary site is not known, and its ICD-10 code."""

    label: str
    icd10: str
    icd10_display: str


class _FindingEntry(_Model):
    id: str
    label: str
    question: str
    prevalence: float = Field(gt=0, lt=1)
    step: str | None = None
    sex: Sex | None = Field(
        default=None,
        description="Set for findings only one sex can have (ovarian metastases, serum PSA): "
        "a positive answer in the other sex is a contradiction, not evidence.",
    )
    routine: bool = Field(
        default=True,
        description="False for tests the guidelines advise against ordering routinely; "
        "they are used when known but never suggested.",
    )
    unit: str | None = Field(default=None, description="Reference unit of a measured value.")
    upper_limit: float | None = Field(default=None, gt=0, description="In the reference unit.")
    units: dict[str, float] = Field(
        default_factory=dict, description="Other accepted units: factor to the reference unit."
    )

    @model_validator(mode="after")
    def _unit_and_limit_together(self) -> _FindingEntry:
        if (self.unit is None) != (self.upper_limit is None):
            raise ValueError("a measured test needs both unit and upper_limit")
        if self.units and self.unit is None:
            raise ValueError("units need a reference unit")
        if any(factor <= 0 or not math.isfinite(factor) for factor in self.units.values()):
            raise ValueError("unit factors are positive numbers")
        return self


class _Section(_Model):
    label: str
    answers: tuple[AnswerId, AnswerId]
    step: str
    findings: tuple[_FindingEntry, ...]
    limits_source: str | None = None
    answer_means_done: bool = Field(
        default=False,
        description="Any answer says the test or examination was done (the work-up): for a "
        "finding only one sex can have, a negative answer in the other sex is a contradiction "
        "too (a testicular ultrasound in a woman), not only the positive one.",
    )


class _Categorical(_Model):
    label: str
    question: str
    step: str
    answers: tuple[AnswerOption, ...] = ()


class _Demographics(_Model):
    sex: _Categorical
    age: _Categorical


class UncertaintyBand(_Model):
    """A statement shown when the top candidate (and the top three together) reach thresholds."""

    top_at_least: float | None = Field(default=None, ge=0, le=1)
    top3_at_least: float | None = Field(default=None, ge=0, le=1)
    statement: str

    def applies(self, top: float, top3: float) -> bool:
        return (self.top_at_least is None or top >= self.top_at_least) and (
            self.top3_at_least is None or top3 >= self.top3_at_least
        )


class TeachingStage(_Model):
    """One stage of a teaching case: the case-file fields it reveals."""

    id: str
    title: str
    reveals: tuple[str, ...] = Field(min_length=1)


class Presentation(_Model):
    """How assessments word their uncertainty and how teaching cases unfold."""

    suggestions_shown: int = Field(ge=1)
    near_certain: float = Field(
        gt=0.5,
        lt=1,
        description="A leader at this probability or more is near-certain: a subset treating "
        "as another primary follows the ranking, and a stain or serum test none of whose answers "
        "could bring the leader below it is not advised (it cannot move the ranking).",
    )
    near_certain_note: str = Field(
        description="Said in a subset's box when a near-certain leader replaces its treat_as.",
    )
    disclaimer: str
    uncertainty: tuple[UncertaintyBand, ...] = Field(min_length=1)
    teaching_stages: tuple[TeachingStage, ...] = Field(min_length=1)

    def statement(self, top: float, top3: float) -> str:
        """The first band that applies; the last band must apply always."""
        return next(b.statement for b in self.uncertainty if b.applies(top, top3))


class VocabularyFile(_Model):
    """The schema of rules/vocabulary.yaml."""

    version: str
    prevalence_source: str
    steps: dict[str, Step]
    presentation: Presentation
    condition: ConditionCodes | None = None
    primaries: tuple[Primary, ...]
    demographics: _Demographics
    histology: _Categorical
    sections: dict[Literal[SECTIONS], _Section]  # type: ignore[valid-type]


class Finding(_Model):
    """One askable finding: its key (e.g. 'history.hemoptysis'), answers and question."""

    key: str
    section: str
    label: str
    question: str
    step: str
    answers: tuple[str, ...]
    prevalence: Mapping[str, float] = Field(default_factory=dict)
    sex: Sex | None = None
    sex_any_answer: bool = False
    """Any answer, not only the positive one, is what only `sex` can have (a study done)."""
    routine: bool = True
    unit: str | None = None
    upper_limit: float | None = None
    units: Mapping[str, float] = Field(default_factory=dict)

    @property
    def is_numeric(self) -> bool:
        """The answer is a number (age, derived counts), never a categorical answer."""
        return self.key in NUMERIC_FINDINGS

    @property
    def is_measured(self) -> bool:
        """The test takes a measured value with a unit as well as elevated / normal."""
        return self.unit is not None

    @property
    def is_multiple(self) -> bool:
        """The finding may hold several answers (a list of earlier cancers)."""
        return self.key in MULTIPLE_FINDINGS

    @property
    def accepted_units(self) -> tuple[str, ...]:
        return (self.unit, *self.units) if self.unit else ()

    def reading(self, value: float) -> Measurement:
        """A value in the reference unit as the answer it gives: above the upper limit is the
        first (raised) answer, at or below it the second."""
        raised, normal = self.answers
        assert self.upper_limit is not None
        return Measurement(raised if value > self.upper_limit else normal, value)

    def read_value(self, raw: Any) -> float | None:
        """A measured value in the reference unit, or None if `raw` is not a value at all
        (then it is an answer such as 'elevated'). Raises ValueRefused for a value that
        cannot be used."""
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int | float):
            number, unit = float(raw), ""
        elif isinstance(raw, str):
            text = raw.strip()
            if text[:1] in ("<", ">", "≤", "≥") and _VALUE.match(text[1:].strip()):
                # "<0.5" or ">1000" is a bound, not a value: a threshold could not be tested.
                raise ValueRefused(
                    f"a bound is not a value, got {raw!r}; give the answer it means "
                    f"({' or '.join(self.answers)}) or the value itself"
                )
            if re.match(r"^\d{1,3}(,\d{3})+(\.\d+)?\b", text):
                raise ValueRefused(f"write the number without thousands separators, got {raw!r}")
            match = _VALUE.match(text)
            if match is None:
                return None
            number, unit = float(match[1]), match[2].strip()
        else:
            return None
        if not self.is_measured:
            raise ValueRefused(f"takes {' | '.join(self.answers)} only, got {raw!r}")
        if not math.isfinite(number):
            raise ValueRefused(f"a value is a finite number, got {raw!r}")
        if number < 0:
            raise ValueRefused(f"a value cannot be negative, got {raw!r}")
        factors = {_unit_key(self.unit or ""): 1.0}
        factors.update({_unit_key(name): factor for name, factor in self.units.items()})
        factor = factors.get(_unit_key(unit)) if unit else 1.0
        if factor is None:
            raise ValueRefused(
                f"unit {unit!r} is not accepted; expected {' | '.join(self.accepted_units)}"
            )
        return number * factor


class Vocabulary:
    """Lookups over the validated vocabulary file."""

    def __init__(self, data: VocabularyFile, implications: ImplicationsFile | None = None) -> None:
        self.version = data.version
        # Which answers imply or exclude which (rules/implications.yaml), checked against the
        # findings by the KnowledgeBase; see consistency.py.
        self.implications_file = implications
        self.implications = implications.implications if implications is not None else ()
        self.steps = data.steps
        self.presentation = data.presentation
        self.condition = data.condition
        last = data.presentation.uncertainty[-1]
        if last.top_at_least is not None or last.top3_at_least is not None:
            raise KnowledgeError(
                "the last uncertainty band must have no threshold", field="presentation.uncertainty"
            )
        self.primaries: dict[str, Primary] = {p.id: p for p in data.primaries}
        self.histologies: dict[str, AnswerOption] = {a.id: a for a in data.histology.answers}
        self.sections = {name: data.sections[name] for name in SECTIONS}
        findings: list[Finding] = [
            _categorical("sex", "sex", data.demographics.sex),
            Finding(
                key="age",
                section="age",
                label=data.demographics.age.label,
                question=data.demographics.age.question,
                step=data.demographics.age.step,
                answers=(),
            ),
            _categorical("histology", "histology", data.histology),
            Finding(
                key="prior_cancer",
                section="prior_cancer",
                label="Earlier treated cancer",
                question="Has the patient been treated for a cancer before? Which one?",
                step="history",
                answers=(*self.primaries, NONE),
            ),
            Finding(
                key="tissue_of_origin",
                section="tissue_of_origin",
                label="Tissue-of-origin assay",
                question="Was a gene-expression tissue-of-origin assay done? What did it predict?",
                step="molecular",
                answers=tuple(self.primaries),
            ),
            Finding(
                key="pathology_favours",
                section="pathology_favours",
                label="Pathologist's stated origin",
                question=(
                    "Does the pathology report of the metastasis say which primary it is"
                    " consistent with or favours? Which one(s)?"
                ),
                # Read from the same report, at the same step, as the histology.
                step=data.histology.step,
                answers=tuple(self.primaries),
            ),
        ]
        for name, section in self.sections.items():
            yes, no = section.answers
            for entry in section.findings:
                findings.append(
                    Finding(
                        key=f"{name}.{entry.id}",
                        section=name,
                        label=entry.label,
                        question=entry.question,
                        step=entry.step or section.step,
                        answers=section.answers,
                        prevalence={yes: entry.prevalence, no: 1 - entry.prevalence},
                        sex=entry.sex,
                        sex_any_answer=section.answer_means_done,
                        routine=entry.routine,
                        unit=entry.unit,
                        upper_limit=entry.upper_limit,
                        units=entry.units,
                    )
                )
        for key in DERIVED_FINDINGS:
            findings.append(
                Finding(
                    key=key,
                    section="derived",
                    label=key.replace("_", " "),
                    question="(derived from the case)",
                    step="history",
                    answers=(),
                )
            )
        self.findings: dict[str, Finding] = {f.key: f for f in findings}
        # Looked up for every field of every case read: built once.
        self._ids = {
            name: dict.fromkeys(e.id for e in s.findings) for name, s in self.sections.items()
        }
        self.sex_specific = tuple(
            f for f in findings if f.sex is not None and f.section in SECTIONS
        )
        """The findings only one sex can have, in vocabulary order."""
        unknown_steps = {f.step for f in findings} - set(self.steps)
        if unknown_steps:
            raise KnowledgeError(
                f"findings use undeclared steps: {sorted(unknown_steps)}", field="steps"
            )

    def ids_in(self, section: str) -> list[str]:
        """The finding ids of one section, e.g. all marker ids."""
        return list(self._ids[section])

    def id_options(self, section: str) -> Mapping[str, None]:
        """The finding ids of one section as a mapping in vocabulary order (for lookups;
        not to be changed)."""
        return self._ids[section]

    def answers_of(self, section: str) -> tuple[str, str]:
        return self.sections[section].answers

    def primary_label(self, primary_id: str) -> str:
        return self.primaries[primary_id].label

    def steps_suggested_as(self, role: str) -> frozenset[str]:
        """The step ids whose suggestions appear as `role` ("question" or "test")."""
        return frozenset(name for name, step in self.steps.items() if step.suggested_as == role)

    @property
    def disclaimer(self) -> str:
        return self.presentation.disclaimer.format(primary_count=len(self.primaries))


def _categorical(key: str, section: str, spec: _Categorical) -> Finding:
    return Finding(
        key=key,
        section=section,
        label=spec.label,
        question=spec.question,
        step=spec.step,
        answers=tuple(a.id for a in spec.answers),
        prevalence={a.id: a.prevalence for a in spec.answers},
    )


def catalogue(vocabulary: Vocabulary, section: str | None = None) -> list[dict[str, Any]]:
    """Every finding a case file may give (or those of one section), as rows a listing shows:
    key, label, allowed answers, and for measured tests the units and the upper limit."""
    rows = []
    for finding in vocabulary.findings.values():
        if finding.section == "derived" or (section and finding.section != section):
            continue
        row: dict[str, Any] = {
            "key": finding.key,
            "label": finding.label,
            "answers": list(finding.answers),
        }
        if finding.is_measured:
            row |= {"unit": finding.unit, "units": list(finding.units)}
            row["upper_limit"] = finding.upper_limit
        if finding.sex:
            row["sex"] = finding.sex
        rows.append(row)
    return rows
