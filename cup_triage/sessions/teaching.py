"""Teaching: a case unfolded in stages, the learner's differential compared with the engine's
and scored, seed and soil beside Ewing, what-if and step-through; returns data, never prints.

What a learner sees during a quiz is kept apart, by type, from what needs the answer: a
`Comparison` is made from the engine's differential alone; a `StageScore` needs the confirmed
primary and is shown only once the case is over.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..reasoning.assessment import Assessment, Contribution, FiredRule, QuestionSuggestion
from ..reasoning.case import Case, parse_case
from ..reasoning.errors import CaseError
from ..reasoning.knowledge import Kind
from ..reasoning.ranking import relative_weight
from ..reasoning.triage import Triage
from ..reasoning.vocabulary import MULTIPLE_FINDINGS, Vocabulary
from .scoring import (
    Differential,
    agreement,
    brier_score,
    learner_distribution,
    log_score,
)

SHOWN_EVIDENCE = 3
"""How many pieces of evidence a stage's feedback names (the strongest first)."""

LEADERS = 3
"""The engine's leading candidates whose evidence a stage's feedback describes."""

OTHER = "(a primary not on the list)"
"""The scoring's name for the engine's other-primary share; never a primary id."""


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    case: Case
    revealed: tuple[str, ...]


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


def revealed_findings(stage: Stage, vocabulary: Vocabulary) -> list[str]:
    """The findings a stage reveals, in words ('haemoptysis: yes'); the metastatic sites on one
    line ('metastatic sites: liver, lung')."""
    lines = []
    sites: list[str] = []
    sites_at: int | None = None
    for key, answer in stage.case.findings(vocabulary).items():
        section = key.split(".", 1)[0]
        if section not in stage.revealed or key not in vocabulary.findings:
            continue
        finding = vocabulary.findings[key]
        if section == "sites":
            if sites_at is None:
                sites_at = len(lines)
                lines.append("")  # the place of the sites line, filled in below
            if answer == "yes":
                sites.append(finding.label)
            continue
        label = finding.label if "." in key else finding.label.lower()
        shown = answer
        if key == "histology":
            shown = vocabulary.histologies[answer].label
        elif key in MULTIPLE_FINDINGS:
            listed = [answer] if isinstance(answer, str) else list(answer)
            shown = ", ".join(vocabulary.primary_label(p) for p in listed)
        lines.append(f"{label}: {shown}")
    if sites_at is not None:
        heading = vocabulary.sections["sites"].label.lower()
        lines[sites_at] = f"{heading}: {', '.join(sites) or 'none'}"
    return lines


# --- the learner's next question --------------------------------------------------------


def parse_finding(text: str, vocabulary: Vocabulary) -> str:
    """Read the finding a learner would ask about or test next: its key ('markers.ttf1'), its
    id ('ttf1') or its label ('TTF-1'), typos tolerated."""
    names: dict[str, set[str]] = {}
    for key, finding in vocabulary.findings.items():
        for name in (key, key.rsplit(".", 1)[-1], key.rsplit(".", 1)[-1].replace("_", " ")):
            names.setdefault(name.lower(), set()).add(key)
        names.setdefault(finding.label.lower().removesuffix(" (added)"), set()).add(key)
    typed = text.strip().lower()
    match = typed if typed in names else None
    if match is None:
        close = difflib.get_close_matches(typed, names, n=1, cutoff=0.75)
        match = close[0] if close else None
    if match is None:
        raise CaseError(
            f"not a finding: {text.strip()!r}",
            field="question",
            hint="name a finding such as a symptom, a site, a stain or a blood test",
        )
    keys = sorted(names[match])
    if len(keys) > 1:
        raise CaseError(
            f"{text.strip()!r} could be {' or '.join(keys)}",
            field="question",
            hint="type the full key",
        )
    return keys[0]


@dataclass(frozen=True)
class QuestionCheck:
    """The learner's next question beside the engine's: what each is expected to tell."""

    asked: str
    already_known: bool
    gain_bits: float
    rank: int | None
    """Place of the learner's question among the engine's suggestions (None: not among them,
    its answer would not change the ranking materially)."""
    suggestions: int
    engine_first: QuestionSuggestion | None
    """What the engine would ask next (history and examination before tests)."""
    most_informative: QuestionSuggestion | None
    """The suggestion with the largest expected information gain, whatever its step."""

    @property
    def was_most_informative(self) -> bool:
        best = self.most_informative
        return best is not None and self.gain_bits >= best.expected_gain_bits


def check_question(triage: Triage, case: Case, asked: str) -> QuestionCheck:
    """Compare the finding a learner would ask about next with the engine's suggestions."""
    evaluation = triage.evaluate(case)
    suggestions = triage.selector.suggest(
        evaluation.findings, evaluation.fired, evaluation.posterior
    )
    rank = next((n for n, s in enumerate(suggestions, 1) if s.finding == asked), None)
    return QuestionCheck(
        asked=asked,
        already_known=asked in evaluation.findings,
        gain_bits=suggestions[rank - 1].expected_gain_bits if rank else 0.0,
        rank=rank,
        suggestions=len(suggestions),
        engine_first=suggestions[0] if suggestions else None,
        most_informative=max(
            suggestions, key=lambda s: (s.expected_gain_bits, s.finding), default=None
        ),
    )


# --- one stage of a quiz ----------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """The learner's differential beside the engine's, made without the confirmed primary:
    what a learner may see before the case is over."""

    yours: tuple[tuple[str, float, float, int], ...]
    """For each primary the learner named: (primary, learner's probability, engine's
    probability, engine's rank)."""
    engine_mass_on_yours: float
    shared_top3: int
    engine_top3_unnamed: int
    agreement: float
    weighed_most: tuple[str, ...]
    """The findings the engine weighed most so far, in words (no primary named)."""


@dataclass(frozen=True)
class StageScore:
    """The learner's differential at one stage scored against the confirmed primary, beside
    the engine's: shown only after the last stage."""

    stage: str
    differential: tuple[str, ...]
    stated: bool
    true_rank_learner: int | None
    true_rank_engine: int
    probability_learner: float
    probability_engine: float
    log_score_learner: float
    log_score_engine: float
    brier_learner: float
    brier_engine: float
    engine_top3: tuple[str, ...]
    missed: tuple[Contribution, ...]
    over_weighted: tuple[Contribution, ...]


@dataclass(frozen=True)
class StageResult:
    stage: str
    comparison: Comparison
    score: StageScore
    question: QuestionCheck | None


def assess_stage(
    triage: Triage,
    stage: Stage,
    differential: Differential,
    asked: str | None = None,
    assessment: Assessment | None = None,
) -> StageResult:
    """The engine's view of one stage, the learner's differential compared with it, and (for
    the end of the quiz) both scored against the confirmed primary."""
    truth = stage.case.confirmed_primary
    if truth is None:
        raise CaseError(
            "a quiz case needs confirmed_primary", case=stage.case.id, field="confirmed_primary"
        )
    assessment = assessment or triage.assess(stage.case, suggest=False)
    candidates = assessment.candidates
    other = assessment.other_primary
    # "A primary not on the list" is one more candidate: the engine gives it a share, and the
    # learner's unnamed probability reaches it in proportion to its prior, like any other.
    primaries = [c.primary for c in candidates] + [OTHER]
    engine = [c.probability for c in candidates] + [other.probability]
    prior = [c.prior for c in candidates] + [other.prior]
    learner = learner_distribution(differential, primaries, prior)
    by_primary = {c.primary: c for c in candidates}
    named = differential.named
    engine_top3 = tuple(primaries[:3])
    comparison = Comparison(
        yours=tuple(
            (
                p,
                round(learner[primaries.index(p)], 4),
                by_primary[p].probability,
                primaries.index(p) + 1,
            )
            for p in named
        ),
        engine_mass_on_yours=round(sum(by_primary[p].probability for p in named), 4),
        shared_top3=len(set(named[:3]) & set(engine_top3)),
        engine_top3_unnamed=len(set(engine_top3) - set(named)),
        agreement=round(agreement(learner, engine), 4),
        weighed_most=_weighed_most(triage, candidates),
    )
    t = primaries.index(truth)
    missed: tuple[Contribution, ...] = ()
    if learner[t] < engine[t]:
        missed = by_primary[truth].evidence_for[:SHOWN_EVIDENCE]
    over: tuple[Contribution, ...] = ()
    if named[0] != truth:
        over = by_primary[named[0]].evidence_against[:SHOWN_EVIDENCE]
    score = StageScore(
        stage=stage.name,
        differential=named,
        stated=differential.stated is not None,
        true_rank_learner=named.index(truth) + 1 if truth in named else None,
        true_rank_engine=t + 1,
        probability_learner=round(learner[t], 4),
        probability_engine=round(engine[t], 4),
        log_score_learner=round(log_score(learner, t), 4),
        log_score_engine=round(log_score(engine, t), 4),
        brier_learner=round(brier_score(learner, t), 4),
        brier_engine=round(brier_score(engine, t), 4),
        engine_top3=engine_top3,
        missed=missed,
        over_weighted=over,
    )
    question = check_question(triage, stage.case, asked) if asked else None
    return StageResult(stage.name, comparison, score, question)


def _weighed_most(triage: Triage, candidates) -> tuple[str, ...]:
    # Not the rules reading a concluded lead ("fact.clinical_lead = ..."): their conditions
    # name the primary the engine leans to, which would give the answer away mid-quiz.
    primaries = triage.kb.vocabulary.primaries
    rules = triage.kb.rules_by_id
    strength: dict[str, tuple[float, str]] = {}
    # What moves the leaders, not what rules out primaries nobody is considering.
    for candidate in candidates[:LEADERS]:
        for item in (*candidate.evidence_for, *candidate.evidence_against):
            if any(
                c.fact is not None and set(c.is_ or ()) & set(primaries)
                for c in rules[item.rule_id].when
            ):
                continue
            if item.likelihood_ratio <= 0:
                continue
            weight = abs(math.log(item.likelihood_ratio))
            if weight > strength.get(item.rule_id, (0.0, ""))[0]:
                strength[item.rule_id] = (weight, item.conditions)
    ranked = sorted(strength.items(), key=lambda kv: (-kv[1][0], kv[0]))
    seen: list[str] = []
    for _, (_, conditions) in ranked:
        if conditions not in seen:
            seen.append(conditions)
    return tuple(seen[:SHOWN_EVIDENCE])


# --- seed and soil beside Ewing ---------------------------------------------------------


@dataclass(frozen=True)
class Theory:
    kind: Kind
    title: str
    short_title: str
    reference: str


THEORIES = (
    Theory(
        Kind.ORGANOTROPISM,
        "Seed and soil (organotropism)",
        "Seed and soil (Paget)",
        "Paget S. The distribution of secondary growths in cancer of the breast. "
        "Lancet 1889;133:571-573",
    ),
    Theory(
        Kind.ANATOMICAL_DRAINAGE,
        "Anatomical and venous drainage",
        "Drainage (Ewing)",
        "Ewing J. Neoplastic Diseases, 3rd ed. Philadelphia: Saunders, 1928",
    ),
)
"""The two classic explanations of where metastases go, each the rules of one kind."""

FAVOURS_SHOWN = 3


@dataclass(frozen=True)
class TheoryEvidence:
    """One fired rule behind a theory's ranking: the findings, and what it concludes or
    favours."""

    rule_id: str
    conditions: str
    concludes: tuple[tuple[str, str], ...]
    favours: tuple[tuple[str, float], ...]
    disfavours: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class TheoryView:
    """A ranking made from one theory's rules only (prior × their likelihood ratios)."""

    title: str
    short_title: str
    reference: str
    kind: str | None
    ranking: tuple[tuple[str, float], ...]
    """The listed primaries, most likely first; with the other-primary share they sum to 1."""
    evidence: tuple[TheoryEvidence, ...]


def theories(triage: Triage, case: Case) -> tuple[TheoryView, ...]:
    """Seed and soil beside Ewing: the ranking from organotropism rules only, from anatomical
    and venous drainage rules only, and the combined ranking, each with the fired rules
    behind it. Within a theory, rules of one group still count once (the most specific)."""
    evaluation = triage.evaluate(case)
    rules = triage.kb.rules_by_id
    views = []
    for theory in THEORIES:
        fired = [r for r in evaluation.fired if rules[r].kind == theory.kind]
        counted, _ = triage.ranker.counted(fired)
        shown = [r for r in fired if r in counted or not rules[r].is_evidence]
        views.append(
            TheoryView(
                title=theory.title,
                short_title=theory.short_title,
                reference=theory.reference,
                kind=theory.kind.value,
                ranking=_ranked(triage, triage.ranker.rank(counted, evaluation.findings).posterior),
                evidence=tuple(_theory_evidence(triage, r) for r in shown),
            )
        )
    views.append(
        TheoryView(
            title="All the evidence (the engine's ranking)",
            short_title="All the evidence",
            reference="prior × every counted rule",
            kind=None,
            ranking=_ranked(triage, evaluation.posterior),
            evidence=(),
        )
    )
    return tuple(views)


def _ranked(triage: Triage, posterior: Sequence[float]) -> tuple[tuple[str, float], ...]:
    pairs = zip(triage.ranker.primaries, posterior, strict=True)
    return tuple((p, round(v, 6)) for p, v in sorted(pairs, key=lambda pv: (-pv[1], pv[0])))


def _theory_evidence(triage: Triage, rule_id: str) -> TheoryEvidence:
    rule = triage.kb.rules_by_id[rule_id]
    weights = (
        [(p, relative_weight(rule, p)) for p in triage.ranker.primaries] if rule.is_evidence else []
    )
    favours = sorted((w for w in weights if w[1] > 1), key=lambda w: (-w[1], w[0]))
    disfavours = sorted((w for w in weights if w[1] < 1), key=lambda w: (w[1], w[0]))
    return TheoryEvidence(
        rule_id=rule.id,
        conditions=rule.describe(),
        concludes=tuple(sorted(rule.concludes.items())),
        favours=tuple((p, round(w, 3)) for p, w in favours[:FAVOURS_SHOWN]),
        disfavours=tuple((p, round(w, 3)) for p, w in disfavours[:FAVOURS_SHOWN]),
    )


# --- what-if and step-through -----------------------------------------------------------


@dataclass(frozen=True)
class WhatIf:
    before: Assessment
    after: Assessment
    appeared: tuple[FiredRule, ...]
    disappeared: tuple[FiredRule, ...]

    @property
    def leader_changed(self) -> bool:
        return self.before.candidates[0].primary != self.after.candidates[0].primary


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
    """The rule firings grouped by kind of reasoning, each group in firing order, each rule
    once."""
    groups: dict[str, list[FiredRule]] = {}
    seen: set[str] = set()
    for item in fired:
        if item.rule_id not in seen:
            seen.add(item.rule_id)
            groups.setdefault(item.kind, []).append(item)
    return groups
