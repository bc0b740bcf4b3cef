"""The only module that imports experta: compiles a KnowledgeBase into one engine class."""

from __future__ import annotations

import collections
import collections.abc
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import KnowledgeError
from .knowledge import Condition, KnowledgeBase, Rule


def _import_experta() -> Any:
    """Import experta on Python >= 3.10 with the dependency pins it declares.

    experta 1.9.4 pins frozendict==1.2 and schema==0.6.7, which use `collections.Mapping` and its
    siblings (moved to `collections.abc` in 3.10). Restoring the aliases here, once, lets pip and
    uv resolve the same pins. experta also calls `logging.basicConfig()` at import, which would
    attach a handler to the root logger of every program that imports cup_triage; undo that.
    """
    for name in collections.abc.__all__:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    import experta

    for handler in root.handlers[:]:
        if handler not in handlers_before:
            root.removeHandler(handler)
    return experta


experta = _import_experta()


class Finding(experta.Fact):
    """An answered finding: key (e.g. 'markers.ck7') and answer."""


class Concluded(experta.Fact):
    """A fact a rule concluded: name (e.g. 'ck_pattern') and value."""


def _one_of(values: tuple[str, ...]) -> Any:
    if len(values) == 1:
        return values[0]
    allowed = frozenset(values)
    return experta.P(lambda value: value in allowed)


def _pattern(condition: Condition) -> Any:
    if condition.fact is not None:
        subject, field, fact = {"name": condition.fact}, "value", Concluded
    else:
        subject, field, fact = {"key": condition.finding}, "answer", Finding
    if condition.is_not is not None:
        if condition.fact is not None:
            # On a fact, "is_not" means no rule concluded any listed value.
            return experta.NOT(fact(**subject, **{field: _one_of(condition.is_not)}))
        excluded = frozenset(condition.is_not)
        return fact(**subject, **{field: experta.P(lambda value: value not in excluded)})
    if condition.is_ is None:
        return fact(**subject, **{field: experta.P(condition.holds)})
    if condition.tests_unknown:
        return experta.NOT(fact(**subject))
    known = fact(**subject, **{field: _one_of(condition.known_answers)})
    if condition.accepts_unknown:
        return experta.OR(experta.NOT(fact(**subject)), known)
    return known


def _may_negate(condition: Condition) -> bool:
    return condition.accepts_unknown or (condition.fact is not None and condition.is_not is not None)


def _strata(kb: KnowledgeBase) -> dict[str, int]:
    """Order rules so that every rule concluding a fact fires before any rule that tests it.

    Facts are only ever added, so a rule testing that a fact is *unknown* is sound only once all
    rules that could conclude it have had their turn; strata give that order as salience.
    """
    concluders: dict[str, list[Rule]] = {}
    for rule in kb.rules:
        for name in rule.concludes:
            concluders.setdefault(name, []).append(rule)
    strata: dict[str, int] = {}
    visiting: set[str] = set()

    def stratum(rule: Rule) -> int:
        if rule.id in strata:
            return strata[rule.id]
        if rule.id in visiting:
            raise KnowledgeError("rules conclude facts in a cycle", field=f"rule {rule.id}")
        visiting.add(rule.id)
        depends = [c.fact for c in rule.when if c.fact is not None]
        level = 1 + max((stratum(r) for f in depends for r in concluders.get(f, [])), default=-1)
        visiting.discard(rule.id)
        strata[rule.id] = level
        return level

    for rule in kb.rules:
        stratum(rule)
    return strata


def compile_engine_class(kb: KnowledgeBase) -> type:
    """Build one experta KnowledgeEngine subclass holding every rule of the knowledge base."""
    strata = _strata(kb)
    top = max(strata.values(), default=0)
    members: dict[str, Any] = {}
    for index, rule in enumerate(kb.rules):

        def fire(engine: Any, _rule: Rule = rule) -> None:
            engine.fired.append(_rule.id)
            for name, value in _rule.concludes.items():
                engine.declare(Concluded(name=name, value=value))

        patterns = [_pattern(c) for c in rule.when]
        if any(_may_negate(c) for c in rule.when):
            # A negated pattern needs a fact to join against; InitialFact is always there.
            patterns.insert(0, experta.InitialFact())
        salience = top - strata[rule.id]
        members[f"rule_{index:04d}"] = experta.Rule(*patterns, salience=salience)(fire)
    return type("CupTriageEngine", (experta.KnowledgeEngine,), members)


class Engine:
    """A compiled engine, built once and reused for every case."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self._engine = compile_engine_class(kb)()

    def run(self, findings: Mapping[str, Any]) -> list[str]:
        """Run the rules over a case's findings; return the fired rule ids in firing order."""
        engine = self._engine
        engine.reset()
        engine.fired = []
        engine.declare(*_facts(findings))
        engine.run()
        return list(engine.fired)


def _facts(findings: Mapping[str, Any]) -> Iterable[Finding]:
    return [Finding(key=key, answer=answer) for key, answer in sorted(findings.items())]
