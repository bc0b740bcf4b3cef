"""Primaries and findings: ids, answers, questions, codes, and did-you-mean for typos."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .errors import KnowledgeError

SECTIONS = ("sites", "features", "markers", "labs", "imaging", "history")
"""Sections of a case that hold many findings each, in the order of the case format."""

NUMERIC_FINDINGS = ("age", "site_count", "history_answered")
"""Findings whose answer is a number; site_count and history_answered are derived from a case."""

UNKNOWN = "unknown"

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


def did_you_mean(word: object, options: Iterable[str]) -> str | None:
    """Suggest the closest valid id for a misspelt one, as a hint for an error message."""
    matches = difflib.get_close_matches(str(word).lower(), list(options), n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class _Section(_Model):
    label: str
    answers: tuple[AnswerId, AnswerId]
    step: str
    findings: tuple[_FindingEntry, ...]


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
    routine: bool = True

    @property
    def is_numeric(self) -> bool:
        return self.key in NUMERIC_FINDINGS


class Vocabulary:
    """Lookups over the validated vocabulary file."""

    def __init__(self, data: VocabularyFile) -> None:
        self.version = data.version
        self.steps = data.steps
        self.presentation = data.presentation
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
                answers=(*self.primaries, "none"),
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
                        routine=entry.routine,
                    )
                )
        for key in ("site_count", "history_answered"):
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
        unknown_steps = {f.step for f in findings} - set(self.steps)
        if unknown_steps:
            raise KnowledgeError(
                f"findings use undeclared steps: {sorted(unknown_steps)}", field="steps"
            )

    def ids_in(self, section: str) -> list[str]:
        """The finding ids of one section, e.g. all marker ids."""
        return [entry.id for entry in self.sections[section].findings]

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
