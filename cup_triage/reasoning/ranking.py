"""Prior × likelihood ratios → posteriors, counting each piece of evidence once.

The combined evidence is tempered and corrected for correlated findings (calibration.py):

    score(p) = T · (w_prior · log prior(p) + Σ_rules w_rule · log LR_rule(p))

over the listed primaries and one more candidate, "a primary not on the list", whose prior is
the share of CUP that the list does not cover and which every rule treats as a primary it
does not name (`lr_others`). The ranking is a function of the fired rules and the case's
findings only, so it is the same whichever engine fired the rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import add
from typing import Any

from .calibration import Discount
from .knowledge import KnowledgeBase, Rule


def _log(value: float) -> float:
    return math.log(value) if value > 0 else -math.inf


@dataclass(frozen=True)
class Ranked:
    """Posteriors of the listed primaries (summing to 1 − other), the other-primary share,
    and the counted rules whose weight was reduced, with the reason."""

    posterior: tuple[float, ...]
    other: float
    discounted: Mapping[str, tuple[float, str]] = field(default_factory=dict)


class Ranker:
    """Turns fired rules into posterior probabilities over the primaries."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.primaries: tuple[str, ...] = tuple(kb.vocabulary.primaries)
        calibration = kb.calibration
        self.temperature = calibration.temperature
        other = calibration.other_primary
        self.other_prior = other.prior if other is not None else 0.0
        self.other_label = other.label if other is not None else "a primary not on the list"
        prior = kb.prior()
        # The listed primaries share what the other-primary candidate leaves.
        self.prior = tuple(prior[p] * (1 - self.other_prior) for p in self.primaries)
        # The prior counts with its weight (1 when the calibration block sets none): the
        # other-primary share is a prior too and is weighted alike. The sex and age rules are
        # evidence of this patient and count whole.
        w = calibration.prior_weight
        self.log_prior = (*(w * _log(v) for v in self.prior), w * _log(self.other_prior))
        self._evidence = frozenset(rule.id for rule in kb.rules if rule.is_evidence)
        # Each rule's ratios are worked out the first time it counts: `rank` of one case
        # reads a few dozen of the hundreds of rules.
        rules = kb.rules_by_id
        self._log_lr = PerRule(lambda rule_id: self._log_ratios(rules[rule_id]))
        self.discount = Discount(
            kb.vocabulary,
            {rule_id: rules[rule_id] for rule_id in self._evidence},
            kb.site_effects,
            kb.correlated_findings,
        )
        # Within a group, the most specific reading of the evidence wins.
        self._group = {rule.id: rule.group or rule.id for rule in kb.rules}
        self._specificity = {
            rule.id: (rule.priority, len(rule.when), -index) for index, rule in enumerate(kb.rules)
        }
        self._order = {rule.id: index for index, rule in enumerate(kb.rules)}

    def _log_ratios(self, rule: Rule) -> tuple[float, ...]:
        """log LR of a rule for each listed primary, then for a primary not on the list (a
        rule names a few primaries; every other one gets `lr_others`)."""
        others = _log(rule.lr_others)
        named = {primary: _log(value) for primary, value in rule.lr.items()}
        return (*(named.get(p, others) for p in self.primaries), others)

    def counted(self, fired: Iterable[str]) -> tuple[list[str], dict[str, str]]:
        """The fired evidence rules that count, and for each superseded one the rule that won."""
        evidence = [rule_id for rule_id in fired if rule_id in self._evidence]
        winners: dict[str, str] = {}
        for rule_id in evidence:
            group = self._group[rule_id]
            best = winners.get(group)
            if best is None or self._specificity[rule_id] > self._specificity[best]:
                winners[group] = rule_id
        superseded = {
            rule_id: winners[self._group[rule_id]]
            for rule_id in evidence
            if winners[self._group[rule_id]] != rule_id
        }
        return [rule_id for rule_id in evidence if rule_id not in superseded], superseded

    def weights(
        self, counted: Iterable[str], findings: Mapping[str, Any]
    ) -> dict[str, tuple[float, str]]:
        """The counted rules whose evidence is partly explained by a site or shared with
        correlated findings: (share of the log-likelihood ratio that counts, why)."""
        return self.discount.weights(counted, findings)

    def log_scores(self, counted: Iterable[str], findings: Mapping[str, Any]) -> list[float]:
        """Unnormalised log posteriors: the listed primaries, then the other-primary share."""
        counted = list(counted)
        return self._scores(counted, self.weights(counted, findings))

    def _scores(
        self, counted: Sequence[str], weights: Mapping[str, tuple[float, str]]
    ) -> list[float]:
        scores: Iterable[float] = self.log_prior
        # Added in knowledge-base order, not firing order: floating-point sums depend on their
        # order, and the posteriors must not depend on how the engine's agenda broke ties.
        for rule_id in sorted(counted, key=self._order.__getitem__):
            scores = self._added(scores, rule_id, weights.get(rule_id))
        return self._tempered(scores)

    def running_scores(self, counted: Iterable[str], findings: Mapping[str, Any]) -> RunningScores:
        """The log scores of `log_scores`, with the sum after each rule kept, so that the
        scores after a few rules change (`log_scores_after`) start from the sum they share."""
        steps = self._steps(counted, findings)
        sums = [list(self.log_prior)]
        for rule_id, weight in steps:
            sums.append(list(self._added(sums[-1], rule_id, weight)))
        return RunningScores(steps, sums, self._tempered(sums[-1]))

    def log_scores_after(
        self, before: RunningScores, counted: Iterable[str], findings: Mapping[str, Any]
    ) -> list[float]:
        """`log_scores(counted, findings)`, bit for bit, adding only the rules (with their
        weights) that follow the longest run it shares with `before`."""
        steps = self._steps(counted, findings)
        shared = 0
        for step, earlier in zip(steps, before.steps, strict=False):  # runs of any lengths
            if step != earlier:
                break
            shared += 1
        scores: Iterable[float] = before.sums[shared]
        for rule_id, weight in steps[shared:]:
            scores = self._added(scores, rule_id, weight)
        return self._tempered(scores)

    def _steps(
        self, counted: Iterable[str], findings: Mapping[str, Any]
    ) -> list[tuple[str, tuple[float, str] | None]]:
        counted = list(counted)
        weights = self.weights(counted, findings)
        return [(r, weights.get(r)) for r in sorted(counted, key=self._order.__getitem__)]

    def _added(
        self, scores: Iterable[float], rule_id: str, weight: tuple[float, str] | None
    ) -> Iterable[float]:
        """One counted rule's log ratios added to the scores, whole or weighted (map adds
        primary by primary, as a loop would, only lazily: a chain of them is summed once)."""
        if weight is None:
            return map(add, scores, self._log_lr[rule_id])
        return _add_weighted(scores, self._log_lr[rule_id], weight[0])

    def _tempered(self, scores: Iterable[float]) -> list[float]:
        # Temperature scaling of the whole log posterior keeps the order of the candidates:
        # calibrating changes the stated probabilities, never the ranking.
        if self.temperature == 1.0:
            return list(scores)
        return [score * self.temperature for score in scores]

    def listed(self, log_scores: Sequence[float]) -> tuple[float, ...]:
        """The probabilities of the listed primaries (they sum to 1 − the other share)."""
        return tuple(normalise(log_scores)[: len(self.primaries)])

    def rank(self, counted: Iterable[str], findings: Mapping[str, Any]) -> Ranked:
        counted = list(counted)
        weights = self.weights(counted, findings)
        probabilities = normalise(self._scores(counted, weights))
        return Ranked(
            posterior=tuple(probabilities[: len(self.primaries)]),
            other=probabilities[-1],
            discounted=weights,
        )


@dataclass(frozen=True)
class RunningScores:
    """Log scores with the running sum after each counted rule (in knowledge-base order)."""

    steps: list[tuple[str, tuple[float, str] | None]]
    """Each counted rule with its weight (None: counted whole), in the order they are added."""
    sums: list[list[float]]
    """sums[i]: the log prior plus the first i steps."""
    final: list[float]
    """The log scores (the last sum, tempered)."""


class PerRule(dict):
    """Rule id -> a value worked out from the rule the first time it is read, then kept: a
    read of a kept value is a plain dict read."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, rule_id: str) -> Any:
        value = self[rule_id] = self._make(rule_id)
        return value


def _add_weighted(scores: Iterable[float], log_lr: Sequence[float], weight: float) -> list[float]:
    # An impossible primary (a ratio of 0) stays impossible however it is weighted.
    return [
        score + (value if value == -math.inf else weight * value)
        for score, value in zip(scores, log_lr, strict=True)
    ]


def normalise(log_scores: Sequence[float]) -> list[float]:
    """Softmax of log scores; if every primary is excluded, fall back to uniform (the
    uncertainty statement then reports no lead)."""
    top = max(log_scores)
    if top == -math.inf:
        return [1 / len(log_scores)] * len(log_scores)
    weights = [math.exp(s - top) for s in log_scores]
    total = sum(weights)
    return [w / total for w in weights]


def relative_weight(rule: Rule, primary: str) -> float:
    """How much a rule multiplies one primary's odds against the primaries it does not name."""
    value = rule.likelihood_ratio(primary)
    return value / rule.lr_others if rule.lr_others > 0 else value


def entropy_bits(probabilities: Iterable[float]) -> float:
    return -sum(p * math.log2(p) for p in probabilities if p > 0)
