"""The next question or test, by value of information, history first, weighed by burden."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .assessment import QuestionSuggestion
from .case import with_derived_findings
from .evaluator import Evaluator
from .knowledge import KnowledgeBase
from .ranking import Ranker, entropy_bits, normalise

MATERIAL_GAIN_BITS = 0.01
"""Below this expected information gain, an answer would not change the ranking materially."""

MATERIAL_SHIFT = 0.05
"""A shift of probability (total variation) this large counts as a material change of ranking."""


@dataclass(frozen=True)
class Outcome:
    """One possible answer to an open finding and what it would do to the ranking."""

    answer: str
    probability: float
    posterior: tuple[float, ...]
    """Of the listed primaries, as in `Evaluation.posterior` (summing to 1 − the other share)."""


class QuestionSelector:
    """Scores every unanswered finding by how much its answer is expected to move the ranking.

    The answers are tried with the pure-Python evaluator (`Evaluator.refire`), not by
    re-running the engine for each hypothetical answer.
    """

    def __init__(self, kb: KnowledgeBase, ranker: Ranker, evaluator: Evaluator) -> None:
        self.kb = kb
        self.ranker = ranker
        self.evaluator = evaluator
        self.askable = [f for f in kb.vocabulary.findings.values() if f.prevalence and f.routine]

    def outcomes(
        self, findings: Mapping[str, Any], fired: Sequence[str], key: str
    ) -> list[Outcome]:
        """The possible answers to one finding: how likely each is, and the ranking after it.

        P(answer | primary) ∝ prevalence(answer) × the likelihood ratio the answer would bring,
        so an answer that points to the current leaders is expected more often.
        """
        return self._outcomes(findings, fired, key, self._log_scores_now(findings, fired))

    def _log_scores_now(self, findings: Mapping[str, Any], fired: Sequence[str]) -> list[float]:
        return self.ranker.log_scores(self.ranker.counted(fired)[0], findings)

    def _outcomes(
        self, findings: Mapping[str, Any], fired: Sequence[str], key: str, now: list[float]
    ) -> list[Outcome]:
        finding = self.kb.vocabulary.findings[key]
        prior_now = normalise(now)
        scored = []
        for answer, prevalence in finding.prevalence.items():
            hypothetical = with_derived_findings({**findings, key: answer}, self.kb.vocabulary)
            changed = [key] + [
                k
                for k in ("site_count", "history_answered")
                if hypothetical.get(k) != findings.get(k)
            ]
            fired_after = self.evaluator.refire(hypothetical, fired, changed)
            after = self.ranker.log_scores(self.ranker.counted(fired_after)[0], hypothetical)
            ratios = [
                math.exp(a - n) if n > -math.inf and a > -math.inf else 0.0
                for a, n in zip(after, now, strict=True)
            ]
            scored.append((answer, prevalence, ratios, self.ranker.listed(after)))
        per_primary_total = [
            sum(prev * ratios[i] for _, prev, ratios, _ in scored) or 1.0 for i in range(len(now))
        ]
        outcomes = []
        listed = len(self.ranker.primaries)
        for answer, prevalence, ratios, shown in scored:
            # P(answer | primary) as the expectation above models it; the ranking after the
            # answer is Bayes' rule with that same likelihood, so that the expected information
            # gain is a true mutual information (never negative, however the evidence is
            # tempered or discounted).
            joint = [
                prior_now[i] * prevalence * ratios[i] / per_primary_total[i]
                for i in range(len(now))
            ]
            probability = sum(joint)
            posterior = (
                tuple(j / probability for j in joint[:listed]) if probability else shown
            )
            outcomes.append(Outcome(answer, probability, posterior))
        return outcomes

    def suggest(
        self,
        findings: Mapping[str, Any],
        fired: Sequence[str],
        posterior: Sequence[float],
    ) -> list[QuestionSuggestion]:
        """Open findings worth asking, lowest tier first (history before imaging), then by
        expected information gain per unit of burden; answers that inform nothing are left out."""
        ranked = []
        vocabulary = self.kb.vocabulary
        # The current ranking is the same for every open finding: computed once.
        now = self._log_scores_now(findings, fired)
        for finding in self.askable:
            if finding.key in findings:
                continue
            if finding.sex is not None and findings.get("sex") != finding.sex:
                # Only asked once the patient's sex is known to allow it.
                continue
            outcomes = self._outcomes(findings, fired, finding.key, now)
            gain = entropy_bits(posterior) - sum(
                o.probability * entropy_bits(o.posterior) for o in outcomes
            )
            if gain < MATERIAL_GAIN_BITS:
                continue
            shift_by_primary = [
                sum(o.probability * abs(o.posterior[i] - posterior[i]) for o in outcomes)
                for i in range(len(posterior))
            ]
            step = vocabulary.steps[finding.step]
            order = sorted(range(len(posterior)), key=lambda i: -shift_by_primary[i])
            separates = tuple(self.ranker.primaries[i] for i in order[:3])
            ranked.append(
                (
                    (step.tier, -gain / step.burden, finding.key),
                    QuestionSuggestion(
                        finding=finding.key,
                        question=finding.question,
                        step=finding.step,
                        expected_gain_bits=round(gain, 4),
                        separates=separates,
                    ),
                )
            )
        ranked.sort(key=lambda item: item[0])
        return [suggestion for _, suggestion in ranked]
