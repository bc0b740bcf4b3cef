"""Semantic checks over a KnowledgeBase: dead, duplicate and contradictory rules, gaps."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from .evaluator import holds
from .knowledge import Condition, Kind, KnowledgeBase, Rule

LR_RANGE = (0.01, 200.0)
PLACEHOLDER = re.compile(r"\b(todo|tbd|fixme|lorem|xxx|placeholder)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" or "warning"
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


def lint(kb: KnowledgeBase) -> list[Problem]:
    """Every problem found, errors first; a clean knowledge base gives an empty list."""
    problems: list[Problem] = []
    for rule in kb.rules:
        where = f"{kb.rule_file[rule.id]} › rule {rule.id}"
        problems += [Problem("error", where, m) for m in _never_fires(kb, rule)]
        problems += [Problem("error", where, m) for m in _bad_weights(kb, rule)]
        problems += [Problem("error", where, m) for m in _bad_text(rule)]
    problems += _duplicates_and_contradictions(kb)
    problems += _coverage(kb)
    return sorted(problems, key=lambda p: (p.severity != "error", p.where, p.message))


def _never_fires(kb: KnowledgeBase, rule: Rule) -> list[str]:
    """Conditions on the same subject that no single answer can satisfy together."""
    messages = []
    by_subject: dict[str, list[Condition]] = defaultdict(list)
    for condition in rule.when:
        by_subject[condition.subject].append(condition)
    for subject, conditions in by_subject.items():
        if len(conditions) < 2 or subject.startswith("fact."):
            continue
        finding = kb.vocabulary.findings[subject]
        if finding.is_numeric:
            low = max((c.at_least for c in conditions if c.at_least is not None), default=None)
            high = min((c.below for c in conditions if c.below is not None), default=None)
            if low is not None and high is not None and low >= high:
                messages.append(f"can never fire: {subject} ≥ {low:g} and < {high:g}")
            continue
        if not any(all(holds(c, a) for c in conditions) for a in (*finding.answers, None)):
            messages.append(f"can never fire: no answer of {subject} meets all its conditions")
    sex = _required_sex(rule)
    if sex:
        for primary, value in rule.lr.items():
            needs = kb.vocabulary.primaries[primary].sex
            if needs and needs != sex and value > 1:
                messages.append(f"raises {primary} in {sex} patients, for whom it is impossible")
    return messages


def _required_sex(rule: Rule) -> str | None:
    for condition in rule.when:
        if condition.finding == "sex" and condition.is_ and len(condition.is_) == 1:
            return condition.is_[0]
    return None


def _bad_weights(kb: KnowledgeBase, rule: Rule) -> list[str]:
    low, high = LR_RANGE
    values = list(rule.lr.values()) + ([rule.lr_others] if rule.is_evidence else [])
    zero_allowed = rule.kind == Kind.DEMOGRAPHICS
    messages = []
    for value in values:
        if value == 0 and zero_allowed:
            continue
        if not low <= value <= high:
            messages.append(f"likelihood ratio {value:g} outside [{low:g}, {high:g}]")
    if rule.subset and rule.lr:
        treat_as = kb.subsets[rule.subset].treat_as
        if rule.likelihood_ratio(treat_as) < rule.lr_others:
            messages.append(f"recognises a subset treated as {treat_as} but argues against it")
    return messages


def _bad_text(rule: Rule) -> list[str]:
    messages = []
    for name in ("rationale", "source"):
        if PLACEHOLDER.search(getattr(rule, name)):
            messages.append(f"{name} looks like a placeholder")
    if rule.rationale.strip() == rule.source.strip():
        messages.append("rationale repeats the source instead of explaining")
    return messages


def _duplicates_and_contradictions(kb: KnowledgeBase) -> list[Problem]:
    problems = []
    by_conditions: dict[frozenset[str], list[Rule]] = defaultdict(list)
    for rule in kb.rules:
        if rule.is_evidence:
            by_conditions[frozenset(c.describe() for c in rule.when)].append(rule)
    for rules in by_conditions.values():
        for first, second in zip(rules, rules[1:], strict=False):
            if first.group is not None and first.group == second.group:
                continue
            where = f"rules {first.id} and {second.id}"
            opposite = [
                p
                for p in kb.vocabulary.primaries
                if (first.likelihood_ratio(p) - 1) * (second.likelihood_ratio(p) - 1) < 0
            ]
            if opposite:
                problems.append(
                    Problem(
                        "error",
                        where,
                        "same conditions, contradictory "
                        f"likelihood ratios for {', '.join(opposite)}",
                    )
                )
            else:
                problems.append(
                    Problem(
                        "error",
                        where,
                        "same conditions counted twice; merge them or give them one group",
                    )
                )
    return problems


def _coverage(kb: KnowledgeBase) -> list[Problem]:
    """Vocabulary nobody reasons about, and catalogue entries no rule can reach."""
    tested = set(kb.rules_testing)
    problems = [
        Problem("warning", "vocabulary.yaml", f"no rule tests {key}")
        for key, finding in kb.vocabulary.findings.items()
        if key not in tested and finding.section != "derived"
    ]
    used_subsets = {r.subset for r in kb.rules if r.subset}
    used_flags = {r.red_flag for r in kb.rules if r.red_flag}
    problems += [
        Problem("warning", "subsets", f"no rule recognises subset {s}")
        for s in kb.subsets
        if s not in used_subsets
    ]
    problems += [
        Problem("warning", "red_flags", f"no rule raises red flag {f}")
        for f in kb.red_flags
        if f not in used_flags
    ]
    return problems
