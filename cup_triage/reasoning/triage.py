"""The one entry point: build the engine once, then assess(case) -> Assessment."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .assessment import (
    AdviceItem,
    Assessment,
    Candidate,
    Contribution,
    DataConflict,
    FiredRule,
    KnowledgeBaseStamp,
    OtherPrimaryShare,
    RankedCase,
    RankedPrimary,
    RedFlagConclusion,
    SubsetConclusion,
    Uncertainty,
)
from .case import Case
from .consistency import implied_answers
from .evaluator import Evaluator
from .knowledge import KnowledgeBase, Rule, WorkupStep
from .questions import QuestionSelector
from .ranking import Ranker, entropy_bits, relative_weight

if TYPE_CHECKING:
    from .engine import Engine


def _per_rule(method: Callable[[Triage, Rule], Any]) -> Callable[[Triage, Rule], Any]:
    """Build a method's answer once per rule and triage (rules never change)."""

    def cached(self: Triage, rule: Rule) -> Any:
        memo = self._per_rule.setdefault(method.__name__, {})
        if rule.id not in memo:
            memo[rule.id] = method(self, rule)
        return memo[rule.id]

    return cached


@dataclass(frozen=True)
class Evaluation:
    """What the engine and the ranking made of a set of findings."""

    findings: Mapping[str, Any]
    fired: tuple[str, ...]
    counted: tuple[str, ...]
    superseded: Mapping[str, str]
    posterior: tuple[float, ...]
    """The listed primaries, in vocabulary order; they sum to 1 − `other`."""
    other: float = 0.0
    """The probability of a primary not on the list."""
    discounted: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    """Counted rules whose evidence counts only in part: (weight, why)."""


EXPERTA = "experta"
"""The engine of record: experta, whose firing trace `rank`, `ask` and `teach` show."""

EVALUATOR = "evaluator"
"""The same rules evaluated in plain Python (reasoning/evaluator.py): the same firings, in the
same order, tens of times faster; batch rows use it by default."""

ENGINES = (EVALUATOR, EXPERTA)

SMALL_NETWORKS = 30
"""How many cases experta fires on a network of only the rules that could fire for each case
(a median of 30 of 874 rules for the bundled cases: `rank` of a case, the answers of an
interview, build that, not the whole network). Building and running one took a median of
23 ms against 690 ms for building the whole network, measured side by side: from the next
case on, the process has spent about what the whole network costs, and builds it once for
every later case."""

TESTS_ON_SAMPLES = ("markers", "labs", "molecular")
"""Sections of tests run on the tissue or blood already taken (stains, serum tests, molecular
and in-situ tests): one that cannot move a near-certain leader is not asked for."""

ORGAN_SEARCHES = ("workup",)
"""Sections of studies that look for a primary in an organ (mammography, endoscopy, an
ultrasound): one that cannot move a near-certain leader is not asked for either, unless one of
its results would raise the leader, since a search of the leader's own organ finds the
primary that its treatment needs (colonoscopy under a colorectal profile). A study that also
stages the disease says `chooses_treatment`."""


class Triage:
    """Holds the compiled rules and assesses any number of cases with them.

    `fired_by` chooses what fires the rules: experta (the default, the engine of record) or
    the evaluator, which fires exactly the same rules in the same order. experta's network is
    compiled on first use only, so a process that never runs it never pays for it.
    """

    def __init__(self, kb: KnowledgeBase, fired_by: str = EXPERTA) -> None:
        if fired_by not in ENGINES:
            raise ValueError(f"fired_by must be one of {ENGINES}, not {fired_by!r}")
        self.kb = kb
        self.fired_by = fired_by
        self.evaluator = Evaluator(kb)
        self.ranker = Ranker(kb)
        self.selector = QuestionSelector(kb, self.ranker, self.evaluator)
        self.stamp = KnowledgeBaseStamp(version=kb.version, hash=kb.fingerprint)
        self._contributions: dict[tuple[str, str], Contribution | None] = {}
        self._rounded_prior = tuple(round(p, 6) for p in self.ranker.prior)
        primaries = self.ranker.primaries
        self._codes = tuple(
            (kb.vocabulary.primaries[p].icd_o3, kb.vocabulary.primaries[p].oncotree)
            for p in primaries
        )
        self._by_id = sorted(range(len(primaries)), key=primaries.__getitem__)
        self._per_rule: dict[str, dict[str, Any]] = {}
        self._small_networks = 0
        vocabulary = kb.vocabulary
        self._question_steps = vocabulary.steps_suggested_as("question")
        self._test_steps = vocabulary.steps_suggested_as("test")
        self._shown = vocabulary.presentation.suggestions_shown

    @cached_property
    def engine(self) -> Engine:
        """experta's network for this knowledge base, compiled the first time it is needed."""
        from .engine import Engine

        return Engine(self.kb)

    def fire(self, findings: Mapping[str, Any]) -> list[str]:
        """The rules that fire for these findings, in firing order."""
        if self.fired_by == EVALUATOR:
            return self.evaluator.fire(findings)
        if "engine" in self.__dict__ or self._small_networks >= SMALL_NETWORKS:
            return self.engine.run(findings)
        from .engine import Engine

        self._small_networks += 1
        only = self.evaluator.could_fire(findings)
        return Engine(self.kb, only).run(findings)

    def evaluate(self, case: Case) -> Evaluation:
        """Fire the rules on a case and rank the primaries."""
        findings = case.findings(self.kb.vocabulary)
        fired = tuple(self.fire(findings))
        counted, superseded = self.ranker.counted(fired)
        ranked = self.ranker.rank(counted, findings)
        return Evaluation(
            findings,
            fired,
            tuple(counted),
            superseded,
            ranked.posterior,
            ranked.other,
            ranked.discounted,
        )

    def rank(self, case: Case) -> RankedCase:
        """What a batch row needs of a case: the same ranking, subsets and red flags as its
        Assessment, without the explanations (and several times cheaper to build)."""
        evaluation = self.evaluate(case)
        primaries, codes = self.ranker.primaries, self._codes
        posterior = evaluation.posterior
        fired = evaluation.fired
        subsets, red_flags = self._raised
        return RankedCase(
            case_id=case.id,
            knowledge_base=self.stamp,
            candidates=tuple(
                RankedPrimary(primaries[i], round(posterior[i], 6), *codes[i])
                for i in self._order(posterior)
            ),
            other_primary_probability=round(evaluation.other, 6),
            subsets=tuple(dict.fromkeys(subsets[r] for r in fired if r in subsets)),
            red_flags=tuple(dict.fromkeys(red_flags[r] for r in fired if r in red_flags)),
            confirmed_primary=case.confirmed_primary,
        )

    def _order(self, posterior: tuple[float, ...]) -> list[int]:
        """The primaries' indices, most probable first, ties by primary id: a stable sort of
        the indices taken in id order (`reverse` keeps equal keys in their order)."""
        return sorted(self._by_id, key=posterior.__getitem__, reverse=True)

    @cached_property
    def _raised(self) -> tuple[dict[str, str], dict[str, str]]:
        """Rule id -> the subset it raises, and rule id -> the red flag it raises."""
        rules = self.kb.rules
        return (
            {r.id: r.subset for r in rules if r.subset},
            {r.id: r.red_flag for r in rules if r.red_flag},
        )

    def assess(self, case: Case, *, suggest: bool = True, explain: bool = True) -> Assessment:
        """The full assessment of one case: ranking, explanations, subsets, red flags, advice.

        `suggest=False` skips the next questions and tests; `explain=False` also leaves out the
        evidence lists and the firing trace (what a batch row does not show), for speed.
        """
        evaluation = self.evaluate(case)
        rules = [self.kb.rules_by_id[rule_id] for rule_id in evaluation.fired]
        order = self._order(evaluation.posterior)
        candidates = tuple(self._candidate(i, evaluation, explain) for i in order)
        # What the case holds: every answer as given (a premise set aside for a conflict is
        # still in the case) and every answer they imply. Nothing held is asked for again.
        given = case.answers(self.kb.vocabulary)
        held = frozenset(given) | frozenset(implied_answers(given, self.kb.vocabulary))
        immovable = _Immovable(self, evaluation, order[0])
        suggestions = (
            [
                s
                for s in self.selector.suggest(
                    evaluation.findings, evaluation.fired, evaluation.posterior, held=held
                )
                if not immovable.tests((s.finding,))
            ]
            if suggest
            else []
        )
        return Assessment(
            case_id=case.id,
            knowledge_base=self.stamp,
            candidates=candidates,
            other_primary=OtherPrimaryShare(
                label=self.ranker.other_label,
                prior=round(self.ranker.other_prior, 6),
                probability=round(evaluation.other, 6),
            ),
            fired=tuple(self._fired(n, rule, evaluation) for n, rule in enumerate(rules, 1))
            if explain
            else (),
            subsets=tuple(
                _unique(
                    self._subset(r, held, evaluation.findings, candidates[0], immovable)
                    for r in rules
                    if r.subset
                )
            ),
            red_flags=tuple(_unique(self._red_flag(r) for r in rules if r.red_flag)),
            advice=tuple(
                self._advice(r)
                for r in rules
                if r.advice
                and not _already_answered(r, held)
                and (
                    r.advice.chooses_treatment
                    or not immovable.tests((*r.asks_for, *r.advice.result_in))
                )
            ),
            next_questions=tuple(
                [s for s in suggestions if s.step in self._question_steps][: self._shown]
            ),
            # Tests are ordered together, so the most informative comes first whatever its tier.
            next_tests=tuple(
                sorted(
                    (s for s in suggestions if s.step in self._test_steps),
                    key=lambda s: (-s.expected_gain_bits, s.finding),
                )[: self._shown]
            ),
            uncertainty=self._uncertainty(
                [round(evaluation.posterior[i], 6) for i in order], evaluation.other
            ),
            confirmed_primary=case.confirmed_primary,
            data_conflicts=tuple(
                DataConflict(
                    implication=c.implication.id,
                    fields=(c.premise.key, c.broken.key),
                    message=c.message(self.kb.vocabulary),
                    source=c.implication.source,
                )
                for c in case.conflicts(self.kb.vocabulary)
            ),
            disclaimer=self.kb.vocabulary.disclaimer,
        )

    def _contribution(self, rule_id: str, primary_id: str) -> Contribution | None:
        """What one rule says for or against one primary (None if nothing); rules never change,
        so each answer is built once."""
        key = (rule_id, primary_id)
        if key not in self._contributions:
            rule = self.kb.rules_by_id[rule_id]
            weight = relative_weight(rule, primary_id)
            self._contributions[key] = (
                None
                if weight == 1.0
                else Contribution(
                    rule_id=rule.id,
                    kind=rule.kind,
                    conditions=rule.describe(),
                    likelihood_ratio=round(weight, 4),
                    rationale=rule.rationale,
                    source=rule.source,
                )
            )
        return self._contributions[key]

    def _candidate(self, index: int, evaluation: Evaluation, explain: bool) -> Candidate:
        primary_id = self.ranker.primaries[index]
        primary = self.kb.vocabulary.primaries[primary_id]
        probability = round(evaluation.posterior[index], 6)
        contributions = [
            _discounted(contribution, evaluation.discounted.get(rule_id))
            for rule_id in (evaluation.counted if explain else ())
            if (contribution := self._contribution(rule_id, primary_id)) is not None
        ]
        contributions.sort(
            key=lambda c: (-abs(_log_or_big(c.likelihood_ratio) * c.weight), c.rule_id)
        )
        return Candidate(
            primary=primary_id,
            label=primary.label,
            icd_o3=primary.icd_o3,
            oncotree=primary.oncotree,
            prior=self._rounded_prior[index],
            probability=probability,
            evidence_for=tuple(c for c in contributions if c.likelihood_ratio > 1),
            evidence_against=tuple(c for c in contributions if c.likelihood_ratio < 1),
        )

    def _fired(self, order: int, rule: Rule, evaluation: Evaluation) -> FiredRule:
        return FiredRule(
            order=order,
            rule_id=rule.id,
            kind=rule.kind,
            conditions=rule.describe(),
            concludes=dict(rule.concludes),
            counted=rule.id in evaluation.counted,
            superseded_by=evaluation.superseded.get(rule.id),
        )

    # Advice and red flags, like contributions, depend on the rule alone: built once per rule.

    @_per_rule
    def _advice(self, rule: Rule) -> AdviceItem:
        assert rule.advice is not None
        return AdviceItem(
            category=rule.advice.category,
            text=rule.advice.text,
            rule_id=rule.id,
            source=rule.source,
        )

    def _subset(
        self,
        rule: Rule,
        held: frozenset[str],
        findings: Mapping[str, Any],
        leader: Candidate,
        immovable: _Immovable,
    ) -> SubsetConclusion:
        assert rule.subset is not None  # called only for rules that raise a subset
        subset = self.kb.subsets[rule.subset]
        presentation = self.kb.vocabulary.presentation
        management = subset.management
        treat_as = subset.treat_as or leader.primary
        listed = None
        if treat_as != leader.primary and leader.probability >= presentation.near_certain:
            # The box never contradicts the ranking: a near-certain leader is what to treat.
            listed, treat_as = treat_as, leader.primary
            note = presentation.near_certain_note.format(
                leader=leader.label,
                probability=f"{leader.probability:.0%}",
                listed=self.kb.vocabulary.primaries[listed].label,
            )
            management = f"{note} {management}"
        return SubsetConclusion(
            id=subset.id,
            label=subset.label,
            # A subset whose treatment does not depend on the primary follows the ranking, so
            # its box can never name a primary the stains have ruled out.
            treat_as=treat_as,
            management=management,
            workup=tuple(
                s.text
                for s in subset.workup
                if not _already_answered(s, held)
                and not s.needless(findings)
                and (s.chooses_treatment or not immovable.tests(s.asks_for, samples_only=True))
            ),
            rule_id=rule.id,
            source=subset.source,
            treat_as_listed=listed,
        )

    def _uncertainty(self, probabilities: list[float], other: float) -> Uncertainty:
        top = probabilities[0]
        top3 = sum(probabilities[:3])
        return Uncertainty(
            entropy_bits=round(entropy_bits([*probabilities, other]), 4),
            top_probability=round(top, 6),
            top3_probability=round(top3, 6),
            statement=self.kb.vocabulary.presentation.statement(top, top3),
        )

    @_per_rule
    def _red_flag(self, rule: Rule) -> RedFlagConclusion:
        assert rule.red_flag is not None  # called only for rules that raise a red flag
        flag = self.kb.red_flags[rule.red_flag]
        return RedFlagConclusion(
            id=flag.id, label=flag.label, action=flag.action, rule_id=rule.id, source=flag.source
        )


def _already_answered(item: Rule | WorkupStep, held: frozenset[str]) -> bool:
    """Advice that asks for a test the case already holds would ask for it again: it has been
    acted on, and what is still open is chosen by value of information (the next tests)."""
    return any(key in held for key in item.asks_for)


class _Immovable:
    """Which stains, serum and molecular tests cannot move a near-certain leader: for every
    answer of every one of them, the leader would stay at or above the near-certain
    probability (presentation.near_certain), so asking for them cannot change the work-up."""

    def __init__(self, triage: Triage, evaluation: Evaluation, leader: int) -> None:
        self.triage = triage
        self.evaluation = evaluation
        self.leader = leader
        self.threshold = triage.kb.vocabulary.presentation.near_certain
        self.active = evaluation.posterior[leader] >= self.threshold
        self._memo: dict[str, bool] = {}

    def tests(self, keys: tuple[str, ...], *, samples_only: bool = False) -> bool:
        """True when the leader is near-certain and none of these tests (stains, serum and
        molecular tests, organ searches) could bring it below near-certain nor, for an organ
        search, raise it; False when any is another kind (a history question), or an organ
        search with `samples_only` (a subset's own searches and staging are its protocol)."""
        vocabulary = self.triage.kb.vocabulary
        if not self.active or not keys:
            return False
        sections = {vocabulary.findings[key].section for key in keys}
        if not sections <= {*TESTS_ON_SAMPLES, *(() if samples_only else ORGAN_SEARCHES)}:
            return False
        return not any(self._moves(key) for key in keys)

    def _moves(self, key: str) -> bool:
        """Whether an answer could bring the leader below near-certain; for an organ search,
        also whether an answer would raise it (the search looks for the leader itself)."""
        if key not in self._memo:
            evaluation = self.evaluation
            outcomes = self.triage.selector.outcomes(evaluation.findings, evaluation.fired, key)
            self._memo[key] = any(
                (o.shown or o.posterior)[self.leader] < self.threshold for o in outcomes
            ) or (
                self.triage.kb.vocabulary.findings[key].section in ORGAN_SEARCHES
                and any(self._points_to_leader(o.fired) for o in outcomes)
            )
        return self._memo[key]

    def _points_to_leader(self, fired: frozenset[str]) -> bool:
        """Whether a rule this answer would fire weighs for the leader itself (an abnormal
        colonoscopy for colorectum), not only against another primary (a normal mammography
        raises every other primary alike)."""
        primary = self.triage.ranker.primaries[self.leader]
        rules = self.triage.kb.rules_by_id
        return any(
            relative_weight(rules[r], primary) > 1 for r in fired - set(self.evaluation.fired)
        )


def _discounted(contribution: Contribution, discount: tuple[float, str] | None) -> Contribution:
    if discount is None:
        return contribution
    weight, why = discount
    return contribution.model_copy(update={"weight": round(weight, 4), "discounted_because": why})


def _log_or_big(value: float) -> float:
    return math.log(value) if value > 0 else -1e9


def _unique(items):
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(item.id, item)
    return list(seen.values())
