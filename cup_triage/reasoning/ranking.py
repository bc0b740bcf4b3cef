"""Prior × likelihood ratios → posteriors, counting each piece of evidence once."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from operator import add

from .knowledge import KnowledgeBase, Rule


def _log(value: float) -> float:
    return math.log(value) if value > 0 else -math.inf


class Ranker:
    """Turns fired rules into posterior probabilities over the primaries."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.primaries: tuple[str, ...] = tuple(kb.vocabulary.primaries)
        prior = kb.prior()
        self.prior = tuple(prior[p] for p in self.primaries)
        self.log_prior = tuple(_log(v) for v in self.prior)
        self._log_lr = {
            rule.id: tuple(_log(rule.likelihood_ratio(p)) for p in self.primaries)
            for rule in kb.rules
            if rule.is_evidence
        }
        # Within a group, the most specific reading of the evidence wins.
        self._group = {rule.id: rule.group or rule.id for rule in kb.rules}
        self._specificity = {
            rule.id: (rule.priority, len(rule.when), -index) for index, rule in enumerate(kb.rules)
        }
        self._order = {rule.id: index for index, rule in enumerate(kb.rules)}

    def counted(self, fired: Iterable[str]) -> tuple[list[str], dict[str, str]]:
        """The fired evidence rules that count, and for each superseded one the rule that won."""
        evidence = [rule_id for rule_id in fired if rule_id in self._log_lr]
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

    def log_scores(self, counted: Iterable[str]) -> list[float]:
        scores = self.log_prior
        # Added in knowledge-base order, not firing order: floating-point sums depend on their
        # order, and the posteriors must not depend on how the engine's agenda broke ties.
        # (map adds primary by primary, in the same order as a loop would, only faster.)
        for rule_id in sorted(counted, key=self._order.__getitem__):
            scores = map(add, scores, self._log_lr[rule_id])
        return list(scores)

    def posteriors(self, counted: Iterable[str]) -> list[float]:
        return normalise(self.log_scores(counted))


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
