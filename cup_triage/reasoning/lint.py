"""Semantic checks over a KnowledgeBase: dead, duplicate and contradictory rules, gaps."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import Any

from .evaluator import holds
from .knowledge import Condition, Evidence, Kind, KnowledgeBase, Rule
from .vocabulary import NONE, Finding

LR_RANGE = (0.01, 200.0)
ADVISABLE_SECTIONS = ("markers", "labs", "molecular", "workup")
"""Sections whose findings a work-up advice can ask for (a stain, a serum test, a study)."""
PROFILE_FACT = "site_profile"
"""The fact that stains conclude when they name one primary (thyroglobulin: thyroid)."""
EVIDENCE_TOLERANCE = 1.5
"""How far a likelihood ratio may sit from the ratio its recorded figures give (either way)."""
NAME_GAP = r"[\s\-_./,]*"
"""What may stand between the words of a test's name in advice text ('CA-125', 'CA 125')."""
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
        problems += [Problem("error", where, m) for m in _evidence_mismatch(rule)]
        problems += [Problem("error", where, m) for m in _bad_asks_for(kb, rule)]
    problems += _subset_workup_unlisted(kb)
    problems += _subset_against_profile(kb)
    problems += _duplicates_and_contradictions(kb)
    problems += _cycles(kb)
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
        if not any(all(holds(c, a) for c in conditions) for a in _candidates(finding, conditions)):
            messages.append(f"can never fire: no answer of {subject} meets all its conditions")
    sex = _required_sex(rule)
    if sex:
        for primary, value in rule.lr.items():
            needs = kb.vocabulary.primaries[primary].sex
            if needs and needs != sex and value > 1:
                messages.append(f"raises {primary} in {sex} patients, for whom it is impossible")
    return messages


def _candidates(finding: Finding, conditions: list[Condition]) -> list[Any]:
    """Answers that between them meet every satisfiable combination of these conditions: each
    answer and none; for a measured test, values on both sides of every threshold and of the
    upper limit; for a list finding, the list of every id the conditions name."""
    candidates: list[Any] = [*finding.answers, None]
    if finding.is_measured:
        assert finding.upper_limit is not None
        bounds = {finding.upper_limit, 0.0}
        bounds |= {b for c in conditions for b in (c.at_least, c.below) if b is not None}
        for bound in bounds:
            for value in (bound * 0.999, bound, bound * 1.001 + 1e-9):
                candidates.append(finding.reading(max(value, 0.0)))
    if finding.is_multiple:
        named = {a for c in conditions for a in c.known_answers} - {NONE}
        candidates.append(tuple(sorted(named)))
    return candidates


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
    treat_as = kb.subsets[rule.subset].treat_as if rule.subset else None
    if treat_as and rule.lr and rule.likelihood_ratio(treat_as) < rule.lr_others:
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


@dataclass(frozen=True)
class AuditRow:
    """One likelihood ratio set beside the figures recorded for it."""

    rule_id: str
    primary: str
    versus: tuple[str, ...]
    recorded: float
    recomputed: float
    bound: str  # "two-sided", "at least" (nothing seen in the others) or "at most"
    agrees: bool


def audit(kb: KnowledgeBase) -> list[AuditRow]:
    """Every recorded figure of every rule, recomputed and compared with the rule's ratio."""
    return [_audit_row(rule, item) for rule in kb.rules for item in rule.evidence]


def _audit_row(rule: Rule, item: Evidence) -> AuditRow:
    recorded = rule.effective_ratio(item.primary, item.versus)
    recomputed = item.ratio
    low, high = recomputed / EVIDENCE_TOLERANCE, recomputed * EVIDENCE_TOLERANCE
    # An empty cell bounds the ratio on one side only: a marker never seen in 40 other
    # tumours proves a large ratio, not its exact size (and not one above the LR ceiling).
    if item.in_others.is_zero and not item.in_primary.is_zero:
        bound, agrees = "at least", recorded >= min(low, LR_RANGE[1] / EVIDENCE_TOLERANCE)
    elif item.in_primary.is_zero and not item.in_others.is_zero:
        bound, agrees = "at most", recorded <= max(high, LR_RANGE[0] * EVIDENCE_TOLERANCE)
    else:
        bound, agrees = "two-sided", low <= recorded <= high
    return AuditRow(rule.id, item.primary, item.versus, recorded, recomputed, bound, agrees)


def _evidence_mismatch(rule: Rule) -> list[str]:
    messages = []
    for item in rule.evidence:
        row = _audit_row(rule, item)
        if row.agrees:
            continue
        against = " or ".join(item.versus) if item.versus else "the primaries it does not name"
        messages.append(
            f"likelihood ratio for {item.primary} against {against} is {row.recorded:.3g}, "
            f"but the recorded figures ({item.table}) give {row.recomputed:.3g} "
            f"({row.bound}; tolerance {EVIDENCE_TOLERANCE:g}x)"
        )
    return messages


def _bad_asks_for(kb: KnowledgeBase, rule: Rule) -> list[str]:
    """Advice must list the tests its text names, and never ask for what it requires known."""
    if not rule.advice:
        return []
    messages = []
    required = {c.finding for c in rule.when if c.finding and not c.accepts_unknown}
    asked_and_required = sorted(set(rule.asks_for) & required)
    if asked_and_required:
        messages.append(
            f"asks for {', '.join(asked_and_required)}, which its own conditions already know"
        )
    listed = set(rule.asks_for) | {c.finding for c in rule.when if c.finding}
    named = tests_named(kb, rule.advice.text)
    missing = sorted(label for label, keys in named.items() if not keys & listed)
    if missing:
        messages.append(
            f"the advice names {', '.join(missing)}; list the finding in asks_for "
            f"(or in the conditions) so that it is not advised once known"
        )
    return messages


def _subset_against_profile(kb: KnowledgeBase) -> list[Problem]:
    """A subset that treats as one primary must be withdrawn when the stains name another."""
    profiles = kb.concluded_values.get(PROFILE_FACT, frozenset())
    problems = []
    for rule in kb.rules:
        treat_as = kb.subsets[rule.subset].treat_as if rule.subset else None
        if not treat_as:
            continue
        excluded = {
            value
            for c in rule.when
            if c.fact == PROFILE_FACT and c.is_not is not None
            for value in c.is_not
        }
        missing = sorted(profiles - {treat_as} - excluded)
        if missing:
            problems.append(
                Problem(
                    "error",
                    f"{kb.rule_file[rule.id]} › rule {rule.id}",
                    f"treats as {treat_as} even when the stains name {', '.join(missing)}; add "
                    f"{{fact: {PROFILE_FACT}, is_not: [...]}}",
                )
            )
    return problems


def _subset_workup_unlisted(kb: KnowledgeBase) -> list[Problem]:
    """A subset's confirming test must list the findings it names, as advice does."""
    problems = []
    for subset in kb.subsets.values():
        for step in subset.workup:
            named = tests_named(kb, step.text)
            missing = sorted(
                label for label, keys in named.items() if not keys & set(step.asks_for)
            )
            if missing:
                problems.append(
                    Problem(
                        "error",
                        f"subset {subset.id} › workup {step.text[:40]!r}",
                        f"names {', '.join(missing)}; list the finding in asks_for",
                    )
                )
    return problems


def tests_named(kb: KnowledgeBase, text: str) -> dict[str, set[str]]:
    """The tests (stains, serum tests, work-up studies) the text names, by label or synonym.

    A test is named by its label (a serum test also without 'serum'), the name in its
    label's brackets, or a synonym in rules/synonyms.yaml ('EUS', 'CT thorax'), spelt with or
    without spaces, hyphens, dots, slashes and commas ('CA 125', 'PET-CT'), as the case
    loader reads them (commas aside). Longer names are matched
    first and blanked out, so 'serum PSA' is not also read as the PSA stain.
    """
    synonyms = getattr(kb.vocabulary, "synonyms", None)  # rules/synonyms.yaml, set by the loader
    names: dict[str, set[str]] = defaultdict(set)
    for key, finding in kb.vocabulary.findings.items():
        if finding.section in ADVISABLE_SECTIONS:
            spellings = _short_labels(finding.label)
            # 'serum CA-125' is also named 'CA-125' (shared with a stain of that name, e.g.
            # PSA: either finding listed satisfies the check).
            spellings += [n[len("serum ") :] for n in spellings if n.startswith("serum ")]
            if synonyms is not None:
                spellings += synonyms.words_for(finding.section, key.split(".", 1)[1])
            for name in spellings:
                names[name].add(key)
    named: dict[str, set[str]] = {}
    for name in sorted(names, key=lambda x: (-len(x), x)):
        pattern = name_pattern(name)
        if re.search(pattern, text, re.IGNORECASE):
            named[name] = names[name]
            text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return named


@cache  # the lint builds the pattern of every test name for every advice text
def name_pattern(name: str) -> str:
    """A test's name as a pattern: its words and numbers ('NKX', '3', '1') joined by any
    spacing or punctuation the case loader ignores. 'CK20+', 'CK7−' and 'ER-positive' report
    a result (context), they do not ask for one."""
    parts = [re.escape(p) for p in re.findall(r"[^\W\d_]+|\d+|[^\w\s\-./,]", name)]
    return r"(?<![\w-])" + NAME_GAP.join(parts) + r"(?![\w+\-−])"


def _short_labels(label: str) -> list[str]:
    """'oestrogen receptor (ER)' -> ['oestrogen receptor', 'ER']: each name a text may use; a
    lower-case aside in brackets ('PSA (tissue)') is a qualifier, not a name."""
    match = re.fullmatch(r"(.+?)\s*\((.+)\)", label)
    if not match:
        return [label]
    inner = match.group(2)
    return [match.group(1), inner] if any(c.isupper() for c in inner) else [match.group(1)]


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


def _cycles(kb: KnowledgeBase) -> list[Problem]:
    """Rules that conclude facts in a cycle (A tests a fact B concludes, B one A concludes):
    the engine orders rules so that a fact is concluded before it is tested, and refuses a
    knowledge base where no such order exists."""
    concluders: dict[str, list[str]] = defaultdict(list)
    for rule in kb.rules:
        for name in rule.concludes:
            concluders[name].append(rule.id)
    depends = {
        rule.id: sorted({r for c in rule.when if c.fact for r in concluders.get(c.fact, [])})
        for rule in kb.rules
    }
    problems = []
    for component in _strongly_connected(depends):
        if len(component) > 1 or component[0] in depends[component[0]]:
            ring = " → ".join([*component, component[0]])
            problems.append(
                Problem(
                    "error",
                    f"{kb.rule_file[component[0]]} › rule {component[0]}",
                    f"rules conclude facts in a cycle ({ring}); the engine refuses this",
                )
            )
    return problems


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, without recursion (thousands of rules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components
