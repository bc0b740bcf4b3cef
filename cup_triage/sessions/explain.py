"""The interview's explanations in clinical words: why a question is asked, how the leader
was reached, what a rule says ("makes Lung about 6 times more likely"), never rule syntax.

It also tells which rules can still apply to a patient (a rule for men never explains a
question to a woman) and which open findings a favourable subset still needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..reasoning.assessment import Assessment
from ..reasoning.evaluator import holds, holds_for_any
from ..reasoning.knowledge import Condition, Rule
from ..reasoning.ranking import relative_weight
from ..reasoning.triage import Evaluation, Triage
from ..reasoning.vocabulary import SECTIONS, UNKNOWN, Vocabulary

SHOWN_RULES = 6
SHOWN_EVIDENCE = 4
MAX_DEPTH = 4
"""How deep `open_conditions` follows facts concluded by other rules."""


@dataclass(frozen=True)
class Reason:
    """One rule in words: when it applies, what it does, and (one hop away) why and where from."""

    when: str
    effect: str
    rule_id: str
    rationale: str
    source: str


@dataclass(frozen=True)
class Why:
    """Why a question is asked."""

    path: str
    label: str
    reason: str
    separates: tuple[str, ...]
    rules: tuple[Reason, ...]


@dataclass(frozen=True)
class How:
    """How the leader was reached."""

    leader: str
    probability: float
    evidence: tuple[Reason, ...]


class Explainer:
    """Explanations and rule applicability over one knowledge base."""

    def __init__(self, triage: Triage) -> None:
        self.triage = triage
        self.kb = triage.kb
        self.vocabulary: Vocabulary = triage.kb.vocabulary

    # ------------------------------------------------------------ what changes, what can apply
    @cached_property
    def _marks(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """For each rule with a subset, red flag or advice: what it marks in a result."""
        marks = {}
        for rule in self.kb.rules:
            items = []
            if rule.subset:
                items.append(("subset", self.kb.subsets[rule.subset].label))
            if rule.red_flag:
                items.append(("red_flag", self.kb.red_flags[rule.red_flag].label))
            if rule.advice:
                items.append(("advice", _first_sentence(rule.advice.text).rstrip(".")))
            if items:
                marks[rule.id] = tuple(items)
        return marks

    def signature(self, fired: Iterable[str]) -> frozenset[tuple[str, str]]:
        """The subsets, red flags and advice a set of fired rules gives."""
        marks = self._marks
        return frozenset(item for rule_id in fired for item in marks.get(rule_id, ()))

    @cached_property
    def _subset_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.kb.rules if rule.subset)

    def subset_needs(
        self,
        evaluation: Evaluation,
        unknown: frozenset[str],
        implied: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """Open findings a favourable subset not yet found still needs: finding -> subset.

        A subset often needs two answers at once (a site and a feature, two stains); one
        answer alone would not show it, so this looks at every rule that can still fire.
        `implied` holds the answers the given ones imply (no bone metastases: no blastic
        bone lesions), so that a subset they rule out is not counted as still possible.
        """
        findings = {**(implied or {}), **evaluation.findings}
        concluded = self.kb.concluded_by(evaluation.fired)
        found = set(concluded.get("favourable_subset", ()))
        fired = set(evaluation.fired)
        needs: dict[str, str] = {}
        for rule in self._subset_rules:
            if rule.id in fired or rule.subset in found:
                continue
            missing = self.open_conditions(rule, findings, concluded, unknown)
            if missing is None:
                continue
            label = self.kb.subsets[rule.subset].label
            for key in sorted(missing):
                needs.setdefault(key, label)
        return needs

    def open_conditions(
        self,
        rule: Rule,
        findings: Mapping[str, Any],
        concluded: Mapping[str, frozenset[str]],
        unknown: frozenset[str],
        open_path: str | None = None,
        depth: int = 0,
    ) -> set[str] | None:
        """The open findings a rule still needs to fire, or None when it cannot fire for this
        patient (a known answer contradicts it). `open_path` is treated as not yet answered."""
        needed: set[str] = set()
        sex = findings.get("sex")
        for condition in rule.when:
            if condition.fact is not None:
                values = concluded.get(condition.fact, frozenset())
                if holds_for_any(condition, values):
                    continue
                if condition.is_ is not None and self._can_conclude(
                    condition.fact, condition.known_answers, findings, concluded, unknown, depth
                ):
                    continue  # another answer may still conclude the fact
                return None
            key = condition.finding
            value = None if key == open_path or _in(key, open_path) else findings.get(key)
            if value is not None:
                if not holds(condition, value):
                    return None
                continue
            finding = self.vocabulary.findings[key]
            if finding.section == "derived":
                continue  # counts follow from other answers
            asked_before = key in unknown or finding.section in unknown
            impossible = finding.sex is not None and sex is not None and finding.sex != sex
            if (asked_before or impossible) and key != open_path and not _in(key, open_path):
                if not holds(condition, None):
                    return None
                continue
            if holds(condition, None) and not condition.known_answers:
                continue
            if not holds(condition, None):
                needed.add(key)
        return needed

    def can_matter(
        self,
        key: str,
        findings: Mapping[str, Any],
        concluded: Mapping[str, frozenset[str]],
        unknown: frozenset[str],
    ) -> bool:
        """Whether some rule reading this finding can still fire (or stop firing) for this
        patient: if none can, no answer to it changes anything, and it need not be scored."""
        return any(
            self.open_conditions(rule, findings, concluded, unknown, key) is not None
            for rule in self.kb.rules_testing.get(key, ())
        )

    @cached_property
    def _concluding(self) -> dict[tuple[str, str], tuple[Rule, ...]]:
        index: dict[tuple[str, str], list[Rule]] = {}
        for rule in self.kb.rules:
            for name, value in rule.concludes.items():
                index.setdefault((name, value), []).append(rule)
        return {key: tuple(rules) for key, rules in index.items()}

    def _can_conclude(self, fact, values, findings, concluded, unknown, depth) -> bool:
        """Whether some rule could still conclude one of these values of a fact."""
        if depth >= MAX_DEPTH:
            return True  # deep chains: assume it could, rather than stop too early
        return any(
            self.open_conditions(rule, findings, concluded, unknown, None, depth + 1) is not None
            for value in values
            for rule in self._concluding.get((fact, value), ())
        )

    # ------------------------------------------------------------ why and how
    def why(self, path: str, evaluation: Evaluation, unknown: frozenset[str], reason: str) -> Why:
        findings = evaluation.findings
        concluded = self.kb.concluded_by(evaluation.fired)
        keys = [f"{path}.{i}" for i in self.vocabulary.ids_in(path)] if path in SECTIONS else [path]
        rules: dict[str, Rule] = {}
        for key in keys:
            for rule in self.kb.rules_testing.get(key, ()):
                if self.open_conditions(rule, findings, concluded, unknown, path) is not None:
                    rules.setdefault(rule.id, rule)
        posterior = dict(zip(self.triage.ranker.primaries, evaluation.posterior, strict=True))
        reasons = [
            r for r in (self.reason(rule, posterior) for rule in rules.values()) if r is not None
        ]
        reasons.sort(
            key=lambda r: (-_strength(self.kb.rules_by_id[r.rule_id], posterior), r.rule_id)
        )
        separates: tuple[str, ...] = ()
        if path in self.vocabulary.findings and self.vocabulary.findings[path].prevalence:
            selector = self.triage.selector
            scored = selector.open_finding(findings, evaluation.fired, evaluation.posterior, path)
            separates = tuple(
                self.vocabulary.primary_label(p)
                for p in selector.separates(scored, evaluation.posterior)
            )
        label = (
            self.vocabulary.sections[path].label
            if path in SECTIONS
            else self.vocabulary.findings[path].label
        )
        return Why(path, label, reason, separates, tuple(reasons[:SHOWN_RULES]))

    def reason(self, rule: Rule, posterior: Mapping[str, float] | None = None) -> Reason | None:
        """A rule in words; None when its only effects concern primaries already excluded."""
        effect = self._effect(rule, posterior)
        if not effect:
            return None
        return Reason(
            when=self.conditions_in_words(rule.when),
            effect=effect,
            rule_id=rule.id,
            rationale=" ".join(rule.rationale.split()),
            source=" ".join(rule.source.split()),
        )

    def how(self, assessment: Assessment) -> How:
        leader = assessment.candidates[0]
        items = []
        for contribution in leader.evidence_for[:SHOWN_EVIDENCE]:
            rule = self.kb.rules_by_id[contribution.rule_id]
            items.append(
                Reason(
                    when=self.conditions_in_words(rule.when),
                    effect=times_words(leader.label, contribution.likelihood_ratio),
                    rule_id=rule.id,
                    rationale=" ".join(rule.rationale.split()),
                    source=" ".join(rule.source.split()),
                )
            )
        return How(leader.label, leader.probability, tuple(items))

    def _effect(self, rule: Rule, posterior: Mapping[str, float] | None) -> str:
        parts = []
        if rule.is_evidence:
            weights = [
                (primary, relative_weight(rule, primary))
                for primary in self.vocabulary.primaries
                if posterior is None or posterior.get(primary, 0) > 0
            ]
            weights = [(p, w) for p, w in weights if abs(w - 1) > 1e-9]
            weights.sort(key=lambda pw: (-abs(_log(pw[1])), pw[0]))
            parts += [times_words(self.vocabulary.primary_label(p), w) for p, w in weights[:2]]
        if rule.subset:
            parts.append(f"shows the favourable subset “{self.kb.subsets[rule.subset].label}”")
        if rule.red_flag:
            parts.append(f"raises the red flag “{self.kb.red_flags[rule.red_flag].label}”")
        if rule.advice:
            parts.append(f"advises: {_first_sentence(rule.advice.text).rstrip('.')}")
        return "; ".join(parts)

    def conditions_in_words(self, conditions: Iterable[Condition]) -> str:
        # Guards that only keep a rule from firing for another lineage, or that also hold
        # when a stain was not done, say nothing a clinician needs to read here.
        shown = [
            c
            for c in conditions
            if not (c.fact is not None and c.is_not is not None)
            and not (c.accepts_unknown and not c.tests_unknown)
        ]
        return " and ".join(self.condition_words(c) for c in shown or conditions)

    def condition_words(self, condition: Condition) -> str:
        if condition.fact is not None:
            name = condition.fact.replace("_", " ")
            if condition.is_ is not None:
                if condition.tests_unknown:
                    return f"no {name} yet"
                return f"{name} is {' or '.join(_words(v) for v in condition.is_)}"
            values = [_words(v) for v in condition.is_not or ()]
            shown = ", ".join(values[:3]) + (", …" if len(values) > 3 else "")
            return f"{name} not {shown}"
        finding = self.vocabulary.findings[condition.finding]
        label = _lower_first(finding.label.replace(" (added)", ""))
        if condition.is_ is not None:
            if condition.tests_unknown:
                return f"{label} not known"
            answers = [self._answer_label(finding.key, a) for a in condition.is_]
            return f"{label}: {' or '.join(answers)}"
        if condition.is_not is not None:
            others = [self._answer_label(finding.key, a) for a in condition.is_not]
            return f"{label}: not {' nor '.join(others)}"
        low, high = condition.at_least, condition.below
        if low is not None and high is not None and high == low + 1:
            return f"{label} {low:g}"
        parts = []
        if condition.at_least is not None:
            parts.append(f"{label} {condition.at_least:g} or more")
        if condition.below is not None:
            parts.append(f"{label} under {condition.below:g}")
        return " and ".join(parts)

    def _answer_label(self, key: str, answer: str) -> str:
        if answer == UNKNOWN:
            return "not known"
        if key == "histology" and answer in self.vocabulary.histologies:
            return self.vocabulary.histologies[answer].label
        if answer in self.vocabulary.primaries:
            return self.vocabulary.primary_label(answer)
        return _words(answer)


def answer_words(vocabulary: Vocabulary, path: str, value: Any) -> str:
    """An answer as a clinician reads it back: 'haemoptysis: yes', 'metastatic sites: liver'."""
    if path in SECTIONS:
        label = vocabulary.sections[path].label
        if value == UNKNOWN:
            return f"{label}: not known"
        names = [vocabulary.findings[f"{path}.{i}"].label for i in value]
        return f"{label}: {', '.join(names) if names else 'none'}"
    finding = vocabulary.findings[path]
    label = finding.label.replace(" (added)", "")
    if value == UNKNOWN:
        return f"{label}: not known"
    if isinstance(value, tuple):
        names = [vocabulary.primary_label(v) if v in vocabulary.primaries else v for v in value]
        return f"{label}: {', '.join(names)}"
    if path == "histology" and value in vocabulary.histologies:
        return f"{label}: {vocabulary.histologies[value].label}"
    if value in vocabulary.primaries:
        return f"{label}: {vocabulary.primary_label(value)}"
    return f"{label}: {value}"


def times_words(label: str, ratio: float) -> str:
    """A likelihood ratio as a clinician says it: 'makes Lung about 6 times more likely'."""
    if ratio <= 0:
        return f"rules out {label}"
    if ratio >= 1:
        return f"makes {label} about {_round(ratio)} times more likely"
    return f"makes {label} about {_round(1 / ratio)} times less likely"


def _round(value: float) -> str:
    if value >= 10:
        return f"{value:.0f}"
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _strength(rule: Rule, posterior: Mapping[str, float]) -> float:
    if not rule.is_evidence:
        return 1.0 if (rule.subset or rule.red_flag) else 0.0
    return max(
        (abs(_log(relative_weight(rule, p))) for p in posterior if posterior[p] > 0), default=0.0
    )


def _log(value: float) -> float:
    import math

    return math.log(value) if value > 0 else 50.0


def _words(value: str) -> str:
    return value.replace("_", " ")


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _lower_first(label: str) -> str:
    """'Sex' reads as 'sex' inside a sentence; 'CK7' and 'PAX8' stay as they are."""
    return label[0].lower() + label[1:] if label[1:2].islower() else label


def _in(key: str, section: str | None) -> bool:
    return section is not None and key.startswith(f"{section}.")
