"""The knowledge base: rule, prior and catalogue models, loaded from data and cross-checked."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, NoReturn

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .calibration import (
    NO_CALIBRATION,
    Calibration,
    CorrelatedFindings,
    SiteEffect,
    check_corrections,
)
from .consistency import Statement, check_implications, check_statement
from .errors import KnowledgeError
from .vocabulary import UNKNOWN, AnswerId, Measurement, Vocabulary, did_you_mean


def amount(value: Any) -> float | None:
    """The number a numeric condition tests: a count or age, or a measured lab value; None for
    a categorical answer (a lab known only as elevated or normal has no number to compare)."""
    if isinstance(value, Measurement):
        return value.value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


IMPLICATIONS_FILE = "implications.yaml"
"""The file of the knowledge base that says which answers imply or exclude which."""


class Kind(StrEnum):
    """The kind of reasoning a rule encodes."""

    DEMOGRAPHICS = "demographics"
    HISTORY = "history"
    EXAMINATION = "examination"
    ORGANOTROPISM = "organotropism"
    ANATOMICAL_DRAINAGE = "anatomical_drainage"
    IMAGING = "imaging"
    HISTOLOGY = "histology"
    IMMUNOHISTOCHEMISTRY = "immunohistochemistry"
    SERUM_MARKER = "serum_marker"
    MOLECULAR = "molecular"
    FAVOURABLE_SUBSET = "favourable_subset"
    PRIOR_CANCER = "prior_cancer"
    RED_FLAG = "red_flag"
    WORKUP_ADVICE = "workup_advice"


class AdviceCategory(StrEnum):
    MINIMAL_WORKUP = "minimal_workup"
    TARGETED_WORKUP = "targeted_workup"
    IMAGING_UNLIKELY_TO_HELP = "imaging_unlikely_to_help"
    LIMIT_INVESTIGATION = "limit_investigation"


def _as_tuple(value: Any) -> Any:
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else [value]
    return tuple(items)


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, populate_by_name=True)


Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A likelihood ratio or a prior: a finite number, not negative (an infinite ratio would make
every probability NaN, a NaN one would silently remove a primary)."""

Threshold = Annotated[float, Field(allow_inf_nan=False)]


class Condition(_Model):
    """One test over a finding or over a fact another rule concluded.

    `is` lists the answers that satisfy it (any of them); `unknown` among them also accepts an
    unanswered finding (or a fact nobody concluded). `is_not` on a finding holds for a known
    answer outside the list; on a fact, it holds when no rule concluded any listed value.
    On a finding with several answers (earlier cancers, favoured primaries), `is` holds when
    any of them is listed and `is_not` when none is.
    `at_least` / `below` test numeric findings (age, site_count, history_answered,
    markers_answered) and measured lab values, in the test's reference unit: they hold only
    when a number is known, so a lab known only as `elevated` never satisfies `at_least` (nor
    `normal` a `below`).
    """

    finding: str | None = None
    fact: str | None = None
    is_: Annotated[tuple[AnswerId, ...] | None, BeforeValidator(_as_tuple)] = Field(
        default=None, alias="is"
    )
    is_not: Annotated[tuple[AnswerId, ...] | None, BeforeValidator(_as_tuple)] = None
    at_least: Threshold | None = None
    below: Threshold | None = None

    @model_validator(mode="after")
    def _one_subject_one_test(self) -> Condition:
        if (self.finding is None) == (self.fact is None):
            raise ValueError("a condition names exactly one of 'finding' or 'fact'")
        tests = [t for t in (self.is_, self.is_not) if t is not None]
        numeric = self.at_least is not None or self.below is not None
        if len(tests) + numeric != 1:
            raise ValueError("a condition has exactly one test: is, is_not, or at_least/below")
        if numeric and self.fact is not None:
            raise ValueError("at_least/below apply to findings, not to concluded facts")
        for bound in (self.at_least, self.below):
            if bound is not None and not math.isfinite(bound):
                raise ValueError("at_least/below are finite numbers")
        return self

    @property
    def finding_key(self) -> str:
        """The finding this condition tests (for a condition on a finding, not on a fact)."""
        assert self.finding is not None, "a condition on a fact tests no finding"
        return self.finding

    @property
    def fact_name(self) -> str:
        """The concluded fact this condition tests (for a condition on a fact)."""
        assert self.fact is not None, "a condition on a finding tests no fact"
        return self.fact

    @property
    def is_numeric(self) -> bool:
        return self.at_least is not None or self.below is not None

    @property
    def subject(self) -> str:
        return self.finding if self.finding is not None else f"fact.{self.fact}"

    @property
    def tests_unknown(self) -> bool:
        """Holds only when the subject is unknown."""
        return self.is_ == (UNKNOWN,)

    @property
    def accepts_unknown(self) -> bool:
        """Holds when the subject is unknown (possibly among other answers)."""
        return self.is_ is not None and UNKNOWN in self.is_

    @property
    def known_answers(self) -> tuple[str, ...]:
        """The answers listed in `is`, without `unknown`."""
        return tuple(a for a in self.is_ or () if a != UNKNOWN)

    def describe(self) -> str:
        """The condition in words a clinician can read, e.g. 'history.hemoptysis = yes'."""
        if self.tests_unknown:
            return f"{self.subject} unknown"
        if self.is_ is not None:
            return f"{self.subject} = {' or '.join(self.is_)}"
        if self.is_not is not None:
            return f"{self.subject} ≠ {' nor '.join(self.is_not)}"
        parts = []
        if self.at_least is not None:
            parts.append(f"{self.subject} ≥ {self.at_least:g}")
        if self.below is not None:
            parts.append(f"{self.subject} < {self.below:g}")
        return " and ".join(parts)


class Advice(_Model):
    category: AdviceCategory
    text: str
    chooses_treatment: bool = Field(
        default=False,
        description="The tests it asks for choose the treatment (ER, PR and HER2 in a breast "
        "presentation) or stage the disease (the CT of chest, abdomen and pelvis, a PET-CT "
        "before radical treatment), so they are advised even when they cannot move a "
        "near-certain leader; tests asked only to find the primary are not.",
    )
    result_in: tuple[str, ...] = Field(
        default=(),
        description="The findings that record the result of a search that asks for no new "
        "test (a radiologist's review of the chest is read in workup.chest_ct): under a "
        "near-certain leader the advice is weighed as if it asked for them (withheld unless "
        "a result could move the leader or weighs for it), but never withheld because the "
        "case holds them.",
    )


class Rate(_Model):
    """How often a rule's conditions held in one group of a published series.

    Give either the count (`positive` of `n`) or the proportion (`rate`, with `n` when the
    paper reports it); a count is kept as a count so that a zero can be handled honestly.
    """

    rate: float | None = Field(default=None, ge=0, le=1)
    positive: int | None = Field(default=None, ge=0)
    n: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _rate_or_count(self) -> Rate:
        if (self.rate is None) == (self.positive is None):
            raise ValueError("give either rate or positive (with n)")
        if self.positive is not None and (self.n is None or self.positive > self.n):
            raise ValueError("positive needs n, and cannot exceed it")
        return self

    @property
    def proportion(self) -> float:
        if self.rate is not None:
            return self.rate
        assert self.positive is not None and self.n  # the validator requires both
        return self.positive / self.n

    @property
    def is_zero(self) -> bool:
        return self.proportion == 0

    def corrected(self) -> float:
        """The proportion, with half a case added to an empty cell (Haldane) so a ratio exists."""
        if not self.is_zero:
            return self.proportion
        return 0.5 / (self.n + 1) if self.n else 0.005


class Evidence(_Model):
    """Published figures behind one likelihood ratio, so that the ratio can be recomputed.

    `in_primary` is how often the rule's conditions held in tumours from `primary`;
    `in_others` how often in the comparison group — `versus` (those primaries) when the paper
    compared with named primaries, otherwise the other primaries the rule does not name.
    The lint checks that the rule's ratio, `lr[primary]` over `lr[versus]` (or over
    `lr_others`), matches in_primary / in_others.
    """

    primary: str
    versus: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = ()
    in_primary: Rate
    in_others: Rate
    table: str = Field(min_length=2, description="Where in the paper: a table, figure or page.")
    source: str | None = Field(default=None, description="When not the rule's own source.")
    note: str | None = None

    @property
    def ratio(self) -> float:
        """in_primary / in_others, with an empty cell corrected (see Rate.corrected)."""
        return self.in_primary.corrected() / self.in_others.corrected()


def _as_evidence_list(value: Any) -> Any:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list | tuple) else (value,)


class Rule(_Model):
    """A rule: conditions, what it concludes, its weight of evidence, and why."""

    id: str = Field(pattern=r"^[a-z0-9_.\-]+$")
    kind: Kind
    when: tuple[Condition, ...] = Field(min_length=1)
    lr: dict[str, Weight] = Field(default_factory=dict)
    lr_others: Weight = 1.0
    group: str | None = None
    priority: int = 0
    concludes: dict[str, str] = Field(default_factory=dict)
    subset: str | None = None
    red_flag: str | None = None
    advice: Advice | None = None
    rationale: str = Field(min_length=20)
    source: str = Field(min_length=5)
    evidence: Annotated[tuple[Evidence, ...], BeforeValidator(_as_evidence_list)] = ()
    asks_for: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = Field(
        default=(),
        description="Advice only: the findings the advised test answers; advice whose findings "
        "are all known already is not given.",
    )

    @model_validator(mode="after")
    def _does_something(self) -> Rule:
        if not (self.lr or self.concludes or self.subset or self.red_flag or self.advice):
            raise ValueError("a rule needs an effect: lr, concludes, subset, red_flag or advice")
        if any(value < 0 for value in self.lr.values()):
            raise ValueError("likelihood ratios cannot be negative")
        if self.asks_for and not self.advice:
            raise ValueError("asks_for belongs to advice rules")
        return self

    def effective_ratio(self, primary: str, versus: tuple[str, ...] = ()) -> float:
        """How much the rule multiplies `primary` against `versus` (or the unnamed primaries)."""
        if versus:
            against = sum(self.likelihood_ratio(p) for p in versus) / len(versus)
        else:
            against = self.lr_others
        mine = self.likelihood_ratio(primary)
        return mine / against if against > 0 else math.inf

    @property
    def is_evidence(self) -> bool:
        return bool(self.lr) or self.lr_others != 1.0

    def likelihood_ratio(self, primary: str) -> float:
        return self.lr.get(primary, self.lr_others)

    def describe(self) -> str:
        return "; ".join(c.describe() for c in self.when)


class WorkupStep(_Model):
    """One confirming test of a subset; not shown once the case holds a finding it asks for, nor
    when one of its `not_needed_when` statements holds for the case."""

    text: str
    asks_for: Annotated[tuple[str, ...], BeforeValidator(_as_tuple)] = ()
    not_needed_when: tuple[Statement, ...] = Field(
        default=(),
        description="Findings that make the test needless for this subset (a serum PSA of "
        "100 ng/mL or more already treats as prostate without the tissue stains); the "
        "step's `why_not_needed` says why, with a source.",
    )
    why_not_needed: str | None = None
    chooses_treatment: bool = Field(
        default=False,
        description="As for an advice: the test chooses or follows the treatment (ER, PR, "
        "HER2; RAS, BRAF, MSI; a baseline serum marker), so it is listed even when it cannot "
        "move a near-certain leader; a confirming stain that cannot move it is left out.",
    )

    @model_validator(mode="after")
    def _reasoned(self) -> WorkupStep:
        if self.not_needed_when and not (self.why_not_needed or "").strip():
            raise ValueError("not_needed_when needs why_not_needed: the reason and its source")
        return self

    def needless(self, findings: Mapping[str, Any]) -> bool:
        """Whether one of the not_needed_when statements holds for these answers."""
        return any(s.truth(findings) for s in self.not_needed_when)


def _as_workup_steps(value: Any) -> Any:
    items = value if isinstance(value, list | tuple) else [value]
    return tuple({"text": item} if isinstance(item, str) else item for item in items)


class Subset(_Model):
    """A favourable (treatable) CUP subset from the ESMO/NCCN guidelines.

    `treat_as` names the primary whose treatment applies; left out when the treatment does not
    depend on the primary (a single deposit treated locally), the ranking's leader is shown.
    """

    id: str
    label: str
    treat_as: str | None = None
    management: str
    workup: Annotated[tuple[WorkupStep, ...], BeforeValidator(_as_workup_steps)]
    source: str


class RedFlag(_Model):
    """A situation that needs urgent action whatever the primary."""

    id: str
    label: str
    action: str
    source: str


class Priors(_Model):
    rationale: str
    source: str
    probabilities: dict[str, Weight]

    @model_validator(mode="after")
    def _some_weight(self) -> Priors:
        total = math.fsum(self.probabilities.values())
        if not total > 0 or not math.isfinite(total):
            raise ValueError("the priors must add up to a positive, finite number")
        return self


class RulesFile(_Model):
    """The schema of every rules/*.yaml file except vocabulary.yaml."""

    description: str
    priors: Priors | None = None
    subsets: tuple[Subset, ...] = ()
    red_flags: tuple[RedFlag, ...] = ()
    site_effects: tuple[SiteEffect, ...] = ()
    correlated_findings: tuple[CorrelatedFindings, ...] = ()
    calibration: Calibration | None = None
    rules: tuple[Rule, ...] = ()


class KnowledgeBase:
    """A vocabulary, priors, catalogues and rules, cross-checked against each other."""

    def __init__(self, vocabulary: Vocabulary, files: Mapping[str, RulesFile]) -> None:
        self.vocabulary = vocabulary
        self.files = dict(sorted(files.items()))
        self.rules: tuple[Rule, ...] = tuple(r for f in self.files.values() for r in f.rules)
        self.rule_file = {r.id: name for name, f in self.files.items() for r in f.rules}
        self.subsets = {s.id: s for f in self.files.values() for s in f.subsets}
        self.red_flags = {r.id: r for f in self.files.values() for r in f.red_flags}
        priors = [(name, f.priors) for name, f in self.files.items() if f.priors is not None]
        if len(priors) != 1:
            where = ", ".join(name for name, _ in priors) or "no file"
            raise KnowledgeError(
                f"expected exactly one priors block, found {len(priors)} ({where})",
                file=priors[1][0] if len(priors) > 1 else None,
                field="priors",
            )
        self.priors_file, self.priors = priors[0]
        self.site_effects = tuple(e for f in self.files.values() for e in f.site_effects)
        self.correlated_findings = tuple(
            g for f in self.files.values() for g in f.correlated_findings
        )
        calibrations = [f.calibration for f in self.files.values() if f.calibration is not None]
        if len(calibrations) > 1:
            holding = [name for name, f in self.files.items() if f.calibration is not None]
            raise KnowledgeError(
                f"expected at most one calibration block, found {len(calibrations)} "
                f"({', '.join(holding)})",
                file=holding[1],
                field="calibration",
            )
        # Without a calibration block the evidence combines as plain naive Bayes.
        self.calibration = calibrations[0] if calibrations else NO_CALIBRATION
        self._check()
        for name, rules_file in self.files.items():
            check_corrections(
                vocabulary, rules_file.site_effects, rules_file.correlated_findings, file=name
            )

    @cached_property
    def rules_by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    @cached_property
    def concluded_values(self) -> dict[str, frozenset[str]]:
        """For every fact name, the values some rule can conclude."""
        values: dict[str, set[str]] = {}
        for rule in self.rules:
            for name, value in rule.concludes.items():
                values.setdefault(name, set()).add(value)
        return {name: frozenset(v) for name, v in values.items()}

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the whole knowledge base, printed with every result."""
        payload = {
            "vocabulary": self.vocabulary.version,
            "implications": [
                i.model_dump(mode="json", by_alias=True) for i in self.vocabulary.implications
            ],
            "files": {
                name: f.model_dump(mode="json", by_alias=True) for name, f in self.files.items()
            },
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        return digest[:12]

    @cached_property
    def rules_testing(self) -> dict[str, tuple[Rule, ...]]:
        """For every subject (finding key, or 'fact.<name>'), the rules that test it."""
        index: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for subject in {c.subject for c in rule.when}:
                index.setdefault(subject, []).append(rule)
        return {subject: tuple(rules) for subject, rules in index.items()}

    @cached_property
    def strata(self) -> dict[str, int]:
        """Each rule's stratum: every rule concluding a fact comes before any rule that tests
        it (the order the evaluator visits the rules in and experta's salience)."""
        concluders: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for name in rule.concludes:
                concluders.setdefault(name, []).append(rule)
        levels: dict[str, int] = {}
        visiting: set[str] = set()

        def stratum(rule: Rule) -> int:
            if rule.id in levels:
                return levels[rule.id]
            if rule.id in visiting:
                raise KnowledgeError("rules conclude facts in a cycle", field=f"rule {rule.id}")
            visiting.add(rule.id)
            depends = [c.fact for c in rule.when if c.fact is not None]
            level = 1 + max(
                (stratum(r) for f in depends for r in concluders.get(f, [])), default=-1
            )
            visiting.discard(rule.id)
            levels[rule.id] = level
            return level

        for rule in self.rules:
            stratum(rule)
        return levels

    def concluded_by(self, fired: Iterable[str]) -> dict[str, frozenset[str]]:
        """The facts that a set of fired rules concluded."""
        facts: dict[str, set[str]] = {}
        for rule_id in fired:
            for name, value in self.rules_by_id[rule_id].concludes.items():
                facts.setdefault(name, set()).add(value)
        return {name: frozenset(values) for name, values in facts.items()}

    @property
    def version(self) -> str:
        return self.vocabulary.version

    def prior(self) -> dict[str, float]:
        total = sum(self.priors.probabilities.values())
        return {p: self.priors.probabilities[p] / total for p in self.vocabulary.primaries}

    def _check(self) -> None:
        """Cross-reference checks; any failure names the file and the rule."""
        vocab = self.vocabulary
        if vocab.implications_file is not None:
            check_implications(vocab.implications_file, vocab, IMPLICATIONS_FILE)
        primaries = vocab.primaries
        missing = set(primaries) - set(self.priors.probabilities)
        extra = set(self.priors.probabilities) - set(primaries)
        if missing or extra:
            raise KnowledgeError(
                f"priors must cover exactly the primaries; missing {sorted(missing)}, "
                f"unknown {sorted(extra)}",
                file=self.priors_file,
                field="priors.probabilities",
            )
        self._check_finding_names()
        seen: dict[str, str] = {}
        for name, rules_file in self.files.items():
            for subset in rules_file.subsets:
                for number, step in enumerate(subset.workup):
                    for index, statement in enumerate(step.not_needed_when):
                        where = f"subsets.{subset.id}.workup[{number}].not_needed_when[{index}]"
                        check_statement(statement, vocab, name, where)
                if subset.treat_as is not None and subset.treat_as not in primaries:
                    raise KnowledgeError(
                        f"subset treats as unknown primary {subset.treat_as!r}",
                        file=name,
                        field=f"subsets.{subset.id}.treat_as",
                        hint=did_you_mean(subset.treat_as, primaries),
                    )
            for rule in rules_file.rules:
                if rule.id in seen:
                    raise KnowledgeError(
                        f"duplicate rule id (also in {seen[rule.id]})", file=name, field=rule.id
                    )
                seen[rule.id] = name
                self._check_rule(name, rule)

    def _check_finding_names(self) -> None:
        """The engine holds a case as one fact with a field per finding, named after the
        finding with '.' as '_' (experta reads '__' in a field name as nesting): an id with
        '__', or two findings that read alike once '.' is '_', would break it or hide one
        finding's answer from the rules."""
        fields: dict[str, str] = {}
        for key in self.vocabulary.findings:
            if "__" in key:
                raise KnowledgeError(
                    "a finding id cannot contain '__'", file="vocabulary.yaml", field=key
                )
            name = key.replace(".", "_")
            if name in fields:
                raise KnowledgeError(
                    f"finding {key!r} and finding {fields[name]!r} read alike once '.' is '_'",
                    file="vocabulary.yaml",
                    field=key,
                    hint="rename one of them",
                )
            fields[name] = key

    def _check_rule(self, file: str, rule: Rule) -> None:
        def fail(message: str, field: str, hint: str | None = None) -> NoReturn:
            raise KnowledgeError(message, file=file, field=f"rule {rule.id} › {field}", hint=hint)

        vocab = self.vocabulary
        for primary in rule.lr:
            if primary not in vocab.primaries:
                fail(f"unknown primary {primary!r}", "lr", did_you_mean(primary, vocab.primaries))
        for key in rule.advice.result_in if rule.advice else ():
            if key not in vocab.findings:
                fail(
                    f"unknown finding {key!r}",
                    "advice.result_in",
                    did_you_mean(key, vocab.findings),
                )
        if rule.subset and rule.subset not in self.subsets:
            fail(
                f"unknown subset {rule.subset!r}", "subset", did_you_mean(rule.subset, self.subsets)
            )
        if rule.red_flag and rule.red_flag not in self.red_flags:
            fail(
                f"unknown red flag {rule.red_flag!r}",
                "red_flag",
                did_you_mean(rule.red_flag, self.red_flags),
            )
        for index, item in enumerate(rule.evidence):
            for primary in (item.primary, *item.versus):
                if primary not in vocab.primaries:
                    fail(
                        f"unknown primary {primary!r}",
                        f"evidence[{index}]",
                        did_you_mean(primary, vocab.primaries),
                    )
        for key in rule.asks_for:
            if key not in vocab.findings:
                fail(f"unknown finding {key!r}", "asks_for", did_you_mean(key, vocab.findings))
        if rule.subset:
            for step in self.subsets[rule.subset].workup:
                for key in step.asks_for:
                    if key not in vocab.findings:
                        fail(
                            f"subset {rule.subset} workup asks for unknown finding {key!r}",
                            "subset",
                            did_you_mean(key, vocab.findings),
                        )
        for index, condition in enumerate(rule.when):
            where = f"when[{index}]"
            if condition.fact is not None:
                known = self.concluded_values.get(condition.fact)
                if known is None:
                    fail(
                        f"no rule concludes fact {condition.fact!r}",
                        where,
                        did_you_mean(condition.fact, self.concluded_values),
                    )
                for answer in (condition.is_ or ()) + (condition.is_not or ()):
                    if answer != UNKNOWN and answer not in known:
                        fail(
                            f"fact {condition.fact!r} is never concluded as {answer!r}; "
                            f"expected one of {sorted(known)}",
                            where,
                        )
                continue
            finding = vocab.findings.get(condition.finding_key)
            if finding is None:
                fail(
                    f"unknown finding {condition.finding!r}",
                    where,
                    did_you_mean(condition.finding, vocab.findings),
                )
            if finding.is_numeric:
                if condition.is_ is not None and not condition.tests_unknown:
                    fail("numeric findings are tested with at_least/below", where)
                continue
            if condition.is_numeric:
                if not finding.is_measured:
                    fail(
                        f"at_least/below need a number; {finding.key} has no measured value "
                        "(numeric findings and lab tests with a unit have)",
                        where,
                    )
                continue
            for answer in (condition.is_ or ()) + (condition.is_not or ()):
                if answer != UNKNOWN and answer not in finding.answers:
                    fail(
                        f"{answer!r} is not an answer of {finding.key}; expected one of "
                        f"{', '.join(finding.answers)}",
                        where,
                        did_you_mean(answer, finding.answers),
                    )
