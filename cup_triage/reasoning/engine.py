"""The only module that imports experta: compiles a KnowledgeBase into one engine class."""

from __future__ import annotations

import collections
import collections.abc
import inspect
import logging
from collections.abc import Mapping
from functools import reduce
from operator import and_
from typing import Any

from .evaluator import answer_test
from .knowledge import Condition, KnowledgeBase, Rule
from .vocabulary import MULTIPLE_FINDINGS, UNKNOWN


def _import_experta() -> Any:
    """Import experta on Python >= 3.10 with the dependency pins it declares.

    experta 1.9.4 pins frozendict==1.2 and schema==0.6.7, which use `collections.Mapping` and its
    siblings (moved to `collections.abc` in 3.10). Restoring the aliases here, once, lets pip and
    uv resolve the same pins; they are removed again once experta is imported (frozendict and
    schema read them only while their classes are defined), so importing cup_triage leaves
    `collections` as it was for the rest of the program. experta also calls
    `logging.basicConfig()` at import, which would attach a handler to the root logger of every
    program that imports cup_triage; undo that.
    """
    added = [name for name in collections.abc.__all__ if not hasattr(collections, name)]
    for name in added:
        setattr(collections, name, getattr(collections.abc, name))
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    try:
        import experta
    finally:
        for name in added:
            delattr(collections, name)
    for handler in root.handlers[:]:
        if handler not in handlers_before:
            root.removeHandler(handler)
    return experta


experta: Any = _import_experta()


class _ChangedNodesMatcher(experta.matchers.ReteMatcher):
    """experta's RETE matcher, visiting only the rules whose conflict set changed.

    After every firing experta asks each rule's conflict-set node for new activations; with
    hundreds of rules and a few dozen firings a case, that scan was most of the run time. A
    node can only have news if it was activated since the last scan, so each node marks itself
    when activated, and the scan visits the marked ones in network order (the same order as
    before, so the agenda and the firing order do not change).
    """

    def build_network(self) -> None:
        super().build_network()
        self._changed: dict[int, Any] = {}
        self._position: dict[int, int] = {}
        for position, node in enumerate(self._get_conflict_set_nodes()):
            self._position[id(node)] = position
            node._activate = self._marking(node, node._activate)

    def _marking(self, node: Any, activate: Any) -> Any:
        def activate_and_mark(token: Any) -> None:
            self._changed[id(node)] = node
            activate(token)

        return activate_and_mark

    def changes(self, adding: Any = None, deleting: Any = None) -> tuple[list, list]:
        for fact in deleting or ():
            self.root_node.remove(fact)
        for fact in adding or ():
            self.root_node.add(fact)
        added: list = []
        removed: list = []
        for key in sorted(self._changed, key=self._position.__getitem__):
            node_added, node_removed = self._changed[key].get_activations()
            added.extend(node_added)
            removed.extend(node_removed)
        self._changed.clear()
        return added, removed


class _KnowledgeBaseOrderStrategy(experta.strategies.DepthStrategy):
    """experta's depth strategy with a total order on activations.

    experta orders the agenda by salience and fact ids only; ties (common, since one fact holds
    the whole case) fell to set iteration order, which follows Python's string hashing, so the
    firing order could differ between two processes. Ties now go to the rule that comes first
    in the knowledge base: the agenda pops its largest key, hence the negated position.
    """

    def get_key(self, activation: Any) -> tuple:
        salience, facts = super().get_key(activation)
        return salience, facts, -_rule_position(activation.rule.__name__)


RULE_PREFIX = "rule_"


def _rule_position(method_name: str) -> int:
    return int(method_name.removeprefix(RULE_PREFIX))


class CaseFacts(experta.Fact):
    """One case as one fact: a field per finding, `unknown` where unanswered.

    One fact per case, rather than one per finding, lets each rule's finding conditions become
    field tests on a single pattern: the RETE network needs no joins for them, and a case
    passes through the network once.
    """


class Concluded(experta.Fact):
    """A fact a rule concluded: name (e.g. 'ck_pattern') and value."""


def field_name(key: str) -> str:
    """experta reads '__' in a field name as nesting, and a dot is no keyword: use '_'."""
    return key.replace(".", "_")


def _one_of(values: tuple[str, ...]) -> Any:
    if len(values) == 1:
        return values[0]
    allowed = frozenset(values)
    return experta.P(lambda value: value in allowed)


def _finding_test(condition: Condition) -> Any:
    """The field test of one finding condition (unanswered findings hold UNKNOWN).

    A lab read from a value holds a Measurement, which equals its answer, so the literal tests
    below serve it too; a finding with several answers (a tuple) is tested as the evaluator
    tests it.
    """
    if condition.tests_unknown:
        return UNKNOWN
    if condition.finding in MULTIPLE_FINDINGS:
        multiple = answer_test(condition)
        return experta.P(lambda value: multiple(None if value == UNKNOWN else value))
    if condition.is_ is not None:
        answers = condition.known_answers + ((UNKNOWN,) if condition.accepts_unknown else ())
        return _one_of(answers)
    test = answer_test(condition)
    return experta.P(lambda value: value != UNKNOWN and test(value))


def _as_pattern(test: Any) -> Any:
    return experta.L(test) if isinstance(test, str) else test


def _fact_pattern(condition: Condition) -> Any:
    if condition.is_not is not None:
        # On a fact, "is_not" means no rule concluded any listed value.
        return experta.NOT(Concluded(name=condition.fact, value=_one_of(condition.is_not)))
    if condition.tests_unknown:
        return experta.NOT(Concluded(name=condition.fact))
    known = Concluded(name=condition.fact, value=_one_of(condition.known_answers))
    if condition.accepts_unknown:
        return experta.OR(experta.NOT(Concluded(name=condition.fact)), known)
    return known


def _patterns(rule: Rule) -> list[Any]:
    tests: dict[str, list[Any]] = {}
    for condition in rule.when:
        if condition.finding is not None:
            tests.setdefault(field_name(condition.finding), []).append(_finding_test(condition))
    fields = {}
    for name, field_tests in tests.items():
        if len(field_tests) == 1:
            fields[name] = field_tests[0]
        else:
            # A bare answer is a literal only on its own; combined with & it must be one.
            fields[name] = reduce(and_, (_as_pattern(test) for test in field_tests))
    return [CaseFacts(**fields)] + [_fact_pattern(c) for c in rule.when if c.fact is not None]


_FIRE_SIGNATURE = inspect.Signature(
    [inspect.Parameter("engine", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
)
"""What experta sees of every rule's action: it takes the engine and no bound variables.
experta reads an action's signature each time it rewrites a rule (a dozen times a rule while
building the network); given ready-made, building the network costs about 40 % less."""


def compile_engine_class(
    kb: KnowledgeBase,
    only: frozenset[str] | None = None,
) -> type:
    """Build one experta KnowledgeEngine subclass holding every rule of the knowledge base, or
    the rules in `only`. Each rule keeps its salience and its place in the knowledge base, so
    the rules it holds fire in the same order as in the whole network."""
    strata = kb.strata
    top = max(strata.values(), default=0)
    members: dict[str, Any] = {}
    for index, rule in enumerate(kb.rules):
        if only is not None and rule.id not in only:
            continue

        def fire(engine: Any, _rule: Rule = rule) -> None:
            engine.fired.append(_rule.id)
            for name, value in _rule.concludes.items():
                engine.declare(Concluded(name=name, value=value))

        salience = top - strata[rule.id]
        fire.__name__ = f"{RULE_PREFIX}{index:05d}"
        fire.__signature__ = _FIRE_SIGNATURE  # type: ignore[attr-defined]
        members[fire.__name__] = experta.Rule(*_patterns(rule), salience=salience)(fire)
    members["__matcher__"] = _ChangedNodesMatcher
    members["__strategy__"] = _KnowledgeBaseOrderStrategy
    return type("CupTriageEngine", (experta.KnowledgeEngine,), members)


class Engine:
    """A compiled engine, built once and reused for every case.

    With `only`, the network holds only those rules: given every rule that could fire for a
    case (`Evaluator.could_fire`: its finding conditions hold and the facts it needs can be
    concluded), it fires for that case exactly what the whole network fires, as no other
    rule can match, for a fraction of the cost of building the network."""

    def __init__(
        self,
        kb: KnowledgeBase,
        only: frozenset[str] | None = None,
    ) -> None:
        self._engine = compile_engine_class(kb, only)()
        self._keys = tuple(kb.vocabulary.findings)

    def run(self, findings: Mapping[str, Any]) -> list[str]:
        """Run the rules over a case's findings; return the fired rule ids in firing order."""
        engine = self._engine
        engine.reset()
        engine.fired = []
        engine.declare(
            CaseFacts(**{field_name(key): findings.get(key, UNKNOWN) for key in self._keys})
        )
        engine.run()
        return list(engine.fired)
