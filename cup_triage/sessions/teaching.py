"""Teaching: staged quiz scoring, what-if, and step-through; returns data, never prints."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..reasoning.assessment import Assessment, Contribution, FiredRule
from ..reasoning.case import Case, parse_case
from ..reasoning.errors import CaseError
from ..reasoning.triage import Triage
from ..reasoning.vocabulary import Vocabulary

UNLISTED_MASS = 0.05
"""Probability a learner's list leaves for everything unlisted (keeps log scores finite)."""


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    case: Case
    revealed: tuple[str, ...]


@dataclass(frozen=True)
class StageScore:
    """A learner's differential at one stage, scored against the engine and the truth."""

    stage: str
    differential: tuple[str, ...]
    true_rank_learner: int | None
    true_rank_engine: int
    engine_top3: tuple[str, ...]
    overlap_with_engine_top3: int
    brier_learner: float
    brier_engine: float
    log_score_learner: float
    log_score_engine: float
    missed: tuple[Contribution, ...]
    over_weighted: tuple[Contribution, ...]


@dataclass(frozen=True)
class WhatIf:
    before: Assessment
    after: Assessment
    appeared: tuple[FiredRule, ...]
    disappeared: tuple[FiredRule, ...]

    @property
    def leader_changed(self) -> bool:
        return self.before.candidates[0].primary != self.after.candidates[0].primary


def stages(case: Case, vocabulary: Vocabulary) -> list[Stage]:
    """The case revealed cumulatively, stage by stage; stages that reveal nothing are skipped."""
    data = case.to_file_dict(vocabulary)
    keep = {"id", "confirmed_primary", "notes"}
    result = []
    for stage in vocabulary.presentation.teaching_stages:
        keep |= set(stage.reveals)
        revealed = tuple(f for f in stage.reveals if f in data)
        if revealed:
            partial = {k: v for k, v in data.items() if k in keep}
            result.append(Stage(stage.id, stage.title, parse_case(partial, vocabulary), revealed))
    return result


def parse_differential(text: str, vocabulary: Vocabulary) -> tuple[str, ...]:
    """Read a ranked differential typed by a learner: ids or labels, commas or spaces between,
    typos tolerated. Unrecognised entries raise a CaseError with the closest match."""
    names: dict[str, str] = {}
    for primary in vocabulary.primaries.values():
        names[primary.id] = primary.id
        names[primary.id.replace("_", " ")] = primary.id
        names[primary.label.lower()] = primary.id
        names[primary.label.lower().split(" (")[0]] = primary.id
    entries = [e.strip() for e in text.replace(";", ",").split(",")]
    if len(entries) == 1:
        entries = entries[0].split()
    chosen: list[str] = []
    for entry in filter(None, (e.lower() for e in entries)):
        match = names.get(entry) or next(
            iter(difflib.get_close_matches(entry, names, n=1, cutoff=0.75)), None
        )
        if match is None:
            hint = difflib.get_close_matches(entry, names, n=1, cutoff=0.4)
            raise CaseError(
                f"not a primary: {entry!r}",
                field="differential",
                hint=f"did you mean {names[hint[0]]!r}?" if hint else None,
            )
        if names[match] not in chosen:
            chosen.append(names[match])
    if not chosen:
        raise CaseError(
            "an empty differential",
            field="differential",
            hint="list one to five primaries, most likely first",
        )
    return tuple(chosen)


def learner_distribution(differential: Sequence[str], primaries: Sequence[str]) -> list[float]:
    """Turn a ranked list into probabilities (weights 1/rank), so proper scoring rules apply."""
    weights = {p: 1 / rank for rank, p in enumerate(differential, 1)}
    listed = sum(weights.values())
    unlisted = [p for p in primaries if p not in weights]
    spare = UNLISTED_MASS / len(unlisted) if unlisted else 0.0
    scale = (1 - UNLISTED_MASS) if unlisted else 1.0
    return [weights[p] / listed * scale if p in weights else spare for p in primaries]


def _brier(probabilities: Sequence[float], truth_index: int) -> float:
    return sum((p - (i == truth_index)) ** 2 for i, p in enumerate(probabilities))


def score_stage(stage: Stage, differential: Sequence[str], assessment: Assessment) -> StageScore:
    """Score a learner's differential at one stage against the engine and the confirmed primary."""
    truth = stage.case.confirmed_primary
    primaries = [c.primary for c in assessment.candidates]
    engine = [c.probability for c in assessment.candidates]
    learner = learner_distribution(differential, primaries)
    truth_index = primaries.index(truth)
    engine_top3 = tuple(primaries[:3])
    by_primary = {c.primary: c for c in assessment.candidates}
    missed: list[Contribution] = []
    if truth not in differential[:3]:
        missed = list(by_primary[truth].evidence_for[:3])
    over: list[Contribution] = []
    if differential[0] != truth:
        over = list(by_primary[differential[0]].evidence_against[:3])
    return StageScore(
        stage=stage.name,
        differential=tuple(differential),
        true_rank_learner=differential.index(truth) + 1 if truth in differential else None,
        true_rank_engine=truth_index + 1,
        engine_top3=engine_top3,
        overlap_with_engine_top3=len(set(differential[:3]) & set(engine_top3)),
        brier_learner=round(_brier(learner, truth_index), 4),
        brier_engine=round(_brier(engine, truth_index), 4),
        log_score_learner=round(math.log(max(learner[truth_index], 1e-9)), 4),
        log_score_engine=round(math.log(max(engine[truth_index], 1e-9)), 4),
        missed=tuple(missed),
        over_weighted=tuple(over),
    )


def what_if(triage: Triage, case: Case, changes: Mapping[str, Any]) -> WhatIf:
    """Change, add (answer) or remove (None) findings and compare the two assessments."""
    changed = case.with_findings(triage.kb.vocabulary, changes)
    before = triage.assess(case, suggest=False)
    after = triage.assess(changed, suggest=False)
    before_ids = {f.rule_id for f in before.fired}
    after_ids = {f.rule_id for f in after.fired}
    return WhatIf(
        before=before,
        after=after,
        appeared=tuple(f for f in after.fired if f.rule_id not in before_ids),
        disappeared=tuple(f for f in before.fired if f.rule_id not in after_ids),
    )


def fired_by_kind(fired: Iterable[FiredRule]) -> dict[str, list[FiredRule]]:
    """The rule firings grouped by kind of reasoning, each group in firing order."""
    groups: dict[str, list[FiredRule]] = {}
    for item in fired:
        groups.setdefault(item.kind, []).append(item)
    return groups


def revealed_findings(stage: Stage, vocabulary: Vocabulary) -> list[str]:
    """The findings a stage reveals, in words ('haemoptysis: yes')."""
    lines = []
    for key, answer in stage.case.findings(vocabulary).items():
        section = key.split(".", 1)[0]
        if section not in stage.revealed or key not in vocabulary.findings:
            continue
        finding = vocabulary.findings[key]
        if section == "sites" and answer != "yes":
            continue
        label = finding.label if "." in key else finding.label.lower()
        shown = vocabulary.histologies[answer].label if key == "histology" else answer
        lines.append(f"{label}: {shown}")
    return lines
