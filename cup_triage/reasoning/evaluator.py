"""The rules evaluated in plain Python: the same firings as the engine, without the engine.

experta (``engine.py``) is the engine of record: it gives ``rank``, ``ask`` and ``teach`` their
firing trace. This module evaluates the same knowledge base directly — every condition
compiled once into a test on one answer, the rules visited in the engine's order — so a batch
row costs tens of microseconds of reasoning instead of milliseconds, and question selection
can try every answer of every open finding. It must fire exactly the rules the engine fires,
in the same order and as often (tests/test_engines.py compares both on every bundled case and
on generated ones); the ranking then gives bit-identical posteriors.

How the engine orders its firings, and so how this module does:

- Every rule that concludes a fact fires before any rule that tests it (strata, given to
  experta as salience). Facts are only ever added, so when a stratum's turn comes its facts
  are final: which of its rules fire is decided then, once.
- Within a stratum, experta's depth strategy fires the activation whose facts are newest
  first (the case is fact 1, each newly concluded fact takes the next number), ties going to
  the rule that comes first in the knowledge base.
- A rule fires once for every combination of concluded facts that matches its fact
  conditions (a condition accepting several values of a fact that holds several of them
  matches each); a fact concluded twice is one fact.

It imports only the knowledge model: no experta, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from itertools import product
from typing import Any

from .errors import KnowledgeError
from .knowledge import Condition, KnowledgeBase, Rule, amount
from .vocabulary import MULTIPLE_FINDINGS, UNKNOWN

CASE_FACT = 1
"""The number experta gives the case's own fact (the initial fact is 0)."""


def holds(condition: Condition, value: Any) -> bool:
    """Whether a finding condition holds for one answer (None, or 'unknown', when unanswered;
    a tuple when a finding holds several answers)."""
    return answer_test(condition)(None if value == UNKNOWN else value)


def holds_for_any(condition: Condition, values: Iterable[str]) -> bool:
    """Whether a fact condition holds for the values rules concluded for that fact."""
    values = frozenset(values)
    if condition.is_ is not None:
        return bool(values & set(condition.is_)) or (not values and condition.accepts_unknown)
    return not values & set(condition.is_not or ())


def rule_holds(
    rule: Rule, findings: Mapping[str, Any], concluded: Mapping[str, Iterable[str]]
) -> bool:
    """Whether every condition of a rule holds for these findings and concluded facts."""
    for condition in rule.when:
        if condition.fact is not None:
            if not holds_for_any(condition, concluded.get(condition.fact, ())):
                return False
        elif not holds(condition, findings.get(condition.finding_key)):
            return False
    return True


def answer_test(condition: Condition) -> Callable[[Any], bool]:
    """One finding condition compiled into a test on the answer (None when unanswered).

    A lab read from a value is a Measurement, which equals its answer (elevated | normal), so
    the set tests serve it; numeric tests read its value, and hold only when a number is known
    (a lab known only as elevated never meets `at_least`). A finding with several answers (a
    tuple of earlier cancers) meets `is` when any of them is listed, `is_not` when none is.
    """
    single = _single_answer_test(condition)
    if condition.finding not in MULTIPLE_FINDINGS or condition.is_numeric:
        return single
    listed = frozenset(condition.is_ or condition.is_not or ())
    positive = condition.is_ is not None

    def any_listed(value: Any) -> bool:
        if not isinstance(value, tuple):
            return single(value)
        return any(v in listed for v in value) == positive

    return any_listed


def _single_answer_test(condition: Condition) -> Callable[[Any], bool]:
    if condition.is_ is not None:
        accepted = frozenset(condition.known_answers) | (
            {None} if condition.accepts_unknown else set()
        )
        return accepted.__contains__
    if condition.is_not is not None:
        refused = frozenset(condition.is_not) | {None}
        return lambda value: value not in refused
    low, high = condition.at_least, condition.below

    def in_range(value: Any) -> bool:
        number = amount(value)
        if number is None:
            return False
        return (low is None or number >= low) and (high is None or number < high)

    return in_range


class _CompiledRule:
    """A rule with its finding conditions as answer tests and its fact conditions split by
    whether they match a concluded fact (positive) or its absence (negative)."""

    __slots__ = (
        "rule",
        "id",
        "position",
        "findings",
        "facts",
        "positive_facts",
        "required_facts",
        "concludes",
    )

    def __init__(self, rule: Rule, position: int) -> None:
        self.rule = rule
        self.id = rule.id
        self.position = position
        self.findings = tuple(
            (c.finding, answer_test(c)) for c in rule.when if c.finding is not None
        )
        self.facts = tuple(c for c in rule.when if c.fact is not None)
        self.positive_facts = tuple(
            (c.fact_name, c.known_answers)
            for c in self.facts
            if c.is_ is not None and c.known_answers
        )
        # Met only by a concluded fact (no "or unknown"): the rule can fire only if some rule
        # concludes one of these values.
        self.required_facts = tuple(
            (c.fact_name, frozenset(c.known_answers))
            for c in self.facts
            if c.is_ is not None and c.known_answers and not c.accepts_unknown
        )
        self.concludes = tuple(rule.concludes.items())

    def matches(self, findings: Mapping[str, Any]) -> bool:
        """Whether the finding conditions hold."""
        for key, test in self.findings:  # noqa: SIM110 (a loop beats all() here)
            if not test(findings.get(key)):
                return False
        return True

    def holds(self, findings: Mapping[str, Any], concluded: Mapping[str, Any]) -> bool:
        """Whether every condition holds; `concluded` maps a fact to its values."""
        return self.matches(findings) and all(
            holds_for_any(c, concluded.get(c.fact_name, ())) for c in self.facts
        )

    def fact_combinations(self, concluded: Mapping[str, dict[str, int]]) -> list[tuple[int, ...]]:
        """The combinations of concluded facts (their numbers) this rule fires for, once its
        conditions are known to hold. A condition met by a fact's absence adds no fact;
        experta tests the alternatives of "is … or unknown" as separate patterns, so with
        the fact concluded only its known answers match."""
        choices = []
        for name, accepted in self.positive_facts:
            values = concluded.get(name)
            if values:
                choices.append(sorted(values[v] for v in accepted if v in values))
        return list(product(*choices))


class Evaluator:
    """The knowledge base's rules compiled once, evaluated for any number of cases."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.levels = levels = kb.strata
        """Each rule's stratum (see `strata`)."""
        compiled = [_CompiledRule(rule, index) for index, rule in enumerate(kb.rules)]
        self._by_level: dict[int, list[_CompiledRule]] = {}
        for rule in compiled:
            self._by_level.setdefault(levels[rule.id], []).append(rule)
        self._by_id = {rule.id: rule for rule in compiled}
        self._testing = {
            subject: tuple(self._by_id[r.id] for r in rules)
            for subject, rules in kb.rules_testing.items()
        }

    @cached_property
    def _strata(self) -> tuple[tuple[Callable, bool], ...]:
        """Each stratum's matcher, compiled on first use: `rank` and the interview only
        re-test a few rules at a time (refire) and never need them."""
        return tuple(
            (_compile_matcher(rules), any(r.facts for r in rules))
            for _, rules in sorted(self._by_level.items())
        )

    def prepare(self) -> None:
        """Compile the matchers now (before forking workers, so that they share them)."""
        self._strata  # noqa: B018 (a cached property, compiled on first read)

    def fire(self, findings: Mapping[str, Any]) -> list[str]:
        """The rule ids the engine fires for these findings, in its firing order (a rule
        appears once per combination of facts it fired for)."""
        answers = _answers(findings)
        concluded: dict[str, dict[str, int]] = {}
        next_fact = CASE_FACT + 1
        fired: list[str] = []
        for matcher, tests_facts in self._strata:
            matching = matcher(answers.get, concluded.get)
            if tests_facts:
                activations = []
                for rule in matching:
                    if not rule.positive_facts:
                        activations.append(((CASE_FACT,), -rule.position, rule))
                        continue
                    for combination in rule.fact_combinations(concluded):
                        newest_first = (*sorted(combination, reverse=True), CASE_FACT)
                        activations.append((newest_first, -rule.position, rule))
                # The engine's agenda pops its largest key: newest facts, then earlier rule.
                activations.sort(key=lambda a: (a[0], a[1]), reverse=True)
                matching = [rule for _, _, rule in activations]
            for rule in matching:
                fired.append(rule.id)
                for name, value in rule.concludes:
                    values = concluded.setdefault(name, {})
                    if value not in values:
                        values[value] = next_fact
                        next_fact += 1
        return fired

    def could_fire(self, findings: Mapping[str, Any]) -> frozenset[str]:
        """The rules that could fire for these findings whatever the engine does: their
        finding conditions hold, and every fact they need concluded is concluded by a rule
        that could fire. No other rule can fire for them, here or in the engine.

        Only what a rule needs present is followed: whether a fact stays absent (a rule
        testing `unknown` or `is_not`) is left to the engine that fires them.
        """
        answers = _answers(findings)
        possible: dict[str, set[str]] = {}
        found = []
        # Stratum by stratum: every rule concluding a fact comes before any rule testing it.
        for _, rules in sorted(self._by_level.items()):
            for rule in rules:
                if not rule.matches(answers) or any(
                    accepted.isdisjoint(possible.get(name, ()))
                    for name, accepted in rule.required_facts
                ):
                    continue
                found.append(rule.id)
                for name, value in rule.concludes:
                    possible.setdefault(name, set()).add(value)
        return frozenset(found)

    def refire(
        self,
        findings: Mapping[str, Any],
        fired: Iterable[str],
        changed: Iterable[str],
        concluded: Mapping[str, frozenset[str]] | None = None,
    ) -> frozenset[str]:
        """The rules that would fire after some findings changed, as a set.

        Starts from the rules that fired before the change and re-tests only the rules that
        read a changed finding, then those that read a fact whose values changed, until
        nothing moves: cheap enough to try every answer of every open question.
        `concluded`, when given, is what `fired` concluded (`kb.concluded_by(fired)`).
        """
        answers = _answers(findings)
        now = set(fired)
        if concluded is None:
            concluded = self.kb.concluded_by(now)
        pending = set(changed)
        for _ in range(len(self.kb.rules) + 1):
            if not pending:
                return frozenset(now)
            touched = {r.id: r for s in pending for r in self._testing.get(s, ())}
            pending = set()
            for rule in touched.values():
                now_holds = rule.holds(answers, concluded)
                if now_holds != (rule.id in now):
                    (now.add if now_holds else now.discard)(rule.id)
                    pending.update(f"fact.{name}" for name, _ in rule.concludes)
            if pending:
                concluded = self.kb.concluded_by(now)
        raise KnowledgeError("re-evaluating the rules did not settle (a cycle through facts?)")


def _compile_matcher(
    rules: list[_CompiledRule],
) -> Callable[[Callable, Callable], list[_CompiledRule]]:
    """One function that returns, in knowledge-base order, the rules of a stratum whose
    conditions hold: each answer and each concluded fact read once, each condition one or
    two comparisons.

    The generated source holds only names made here (v0, f0, r0, t0_0); every answer, key,
    fact name and threshold from the knowledge base is a value in the function's namespace,
    never text, so no knowledge-base content is ever compiled as code.
    """
    namespace: dict[str, Any] = {}
    subjects: dict[tuple[str, str], str] = {}
    lines: list[str] = []

    def variable(kind: str, subject: str) -> str:
        if (kind, subject) not in subjects:
            name = f"{kind}{len(subjects)}"
            subjects[kind, subject] = name
            namespace[f"k{name}"] = subject
        return subjects[kind, subject]

    for number, rule in enumerate(rules):
        namespace[f"r{number}"] = rule
        tests = []
        for index, condition in enumerate(rule.rule.when):
            name = f"t{number}_{index}"
            if condition.finding is not None:
                tests.append(
                    _test_source(condition, variable("v", condition.finding_key), name, namespace)
                )
            else:
                tests.append(
                    _fact_source(condition, variable("f", condition.fact_name), name, namespace)
                )
        lines.append(f"    if {' and '.join(tests) or 'True'}: out(r{number})")
    header = [
        f"    {name} = {'get' if kind == 'v' else 'fact'}(k{name})"
        for (kind, _), name in subjects.items()
    ]
    source = "\n".join(
        [
            "def match(get, fact):",
            "    found = []",
            "    out = found.append",
            *header,
            *lines,
            "    return found",
        ]
    )
    exec(compile(source, "<cup_triage rules>", "exec"), namespace)  # noqa: S102 (see docstring)
    return namespace["match"]


def _fact_source(condition: Condition, variable: str, name: str, namespace: dict[str, Any]) -> str:
    """The source of one fact test on `variable`: the concluded values of that fact (a mapping
    value -> fact number), or None when no rule concluded it."""
    if condition.is_not is not None:
        namespace[name] = frozenset(condition.is_not)
        return f"not ({variable} and not {name}.isdisjoint({variable}))"
    known = condition.known_answers
    namespace[name] = frozenset(known)
    if not known:
        return f"not {variable}"
    found = f"not {name}.isdisjoint({variable})"
    if condition.accepts_unknown:
        return f"(not {variable} or {found})"
    return f"({variable} is not None and {found})"


def _test_source(condition: Condition, variable: str, name: str, namespace: dict[str, Any]) -> str:
    """The source of one finding test on `variable` (None when unanswered); its constants
    go into `namespace` under names starting with `name`."""
    if condition.finding in MULTIPLE_FINDINGS or condition.is_numeric:
        # Several answers (a tuple) or a number to read out of a measurement: the test as a
        # function, rarer and slower than the comparisons below.
        namespace[name] = answer_test(condition)
        return f"{name}({variable})"
    if condition.is_ is not None:
        accepted = set(condition.known_answers) | ({None} if condition.accepts_unknown else set())
        if len(accepted) == 1:
            (namespace[name],) = accepted
            return f"{variable} is None" if namespace[name] is None else f"{variable} == {name}"
        namespace[name] = frozenset(accepted)
        return f"{variable} in {name}"
    if condition.is_not is not None:
        namespace[name] = frozenset(condition.is_not)
        return f"({variable} is not None and {variable} not in {name})"
    raise KnowledgeError(f"no compiled test for condition {condition.describe()}")


def _answers(findings: Mapping[str, Any]) -> Mapping[str, Any]:
    """The findings with 'unknown' answers left out, as the engine sees them."""
    if UNKNOWN in findings.values():
        return {k: v for k, v in findings.items() if v != UNKNOWN}
    return findings
