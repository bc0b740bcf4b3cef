"""Counting correlated evidence honestly: what a metastatic site explains, findings that move
together, tempering, and the share of a primary not on the list.

Naive Bayes multiplies likelihood ratios as if every finding were independent given the
primary. Findings caused by one deposit (cough, hoarseness and arm swelling from one
mediastinal mass) or by tumour burden itself (fever, weight loss, a raised LDH) are not, and
multiplying them makes the model overconfident. This module holds the data models of the
corrections (read from rules/*.yaml) and turns a case's findings and counted rules into one
weight per rule; the ranking multiplies each rule's log-likelihood ratio by that weight and
by the temperature. The method is stated in rules/README.md ("Correlated evidence").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import KnowledgeError
from .vocabulary import Vocabulary, did_you_mean, normalise_answer


def _as_tuple(value: Any) -> Any:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list | tuple) else (value,)


Answers = Annotated[
    tuple[Annotated[str, BeforeValidator(normalise_answer)], ...], BeforeValidator(_as_tuple)
]


class _Model(BaseModel):
    # .nan and .inf are YAML numbers: a calibration number is a finite one.
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, allow_inf_nan=False)


class ExplainedFinding(_Model):
    """A finding a deposit at the site causes, and how much of its evidence the deposit
    explains (the share of the rule's log-likelihood ratio removed when the site is known)."""

    finding: str
    answers: Answers = ("yes",)
    share: float = Field(ge=0, le=1)


class SiteEffect(_Model):
    """What a metastatic deposit at one site causes by itself, whatever the primary."""

    site: str
    explains: tuple[ExplainedFinding, ...] = Field(min_length=1)
    rationale: str = Field(min_length=20)
    source: str = Field(min_length=5)


class CorrelatedFindings(_Model):
    """Findings that rise and fall together (one cause behind them): the k counted rules that
    rest on them are each weighted 1 / (1 + (k − 1) ρ), the design effect of k equally
    correlated measurements (Kish), so together they count as k / (1 + (k − 1) ρ)."""

    id: str = Field(pattern=r"^[a-z0-9_.\-]+$")
    findings: tuple[str, ...] = Field(min_length=2)
    answers: Answers = ()
    """When given, only rules whose condition on a member finding accepts one of these answers
    are members (nodes that are involved move together; nodes declared clear say little)."""
    correlation: float = Field(ge=0, le=1)
    rationale: str = Field(min_length=20)
    source: str = Field(min_length=5)

    def weight(self, k: int) -> float:
        return 1.0 / (1.0 + (k - 1) * self.correlation) if k > 1 else 1.0


class OtherPrimary(_Model):
    """The share of CUP whose primary is none of the listed ones; it enters the ranking as one
    more candidate that every rule treats as a primary it does not name (`lr_others`)."""

    label: str = "a primary not on the list"
    prior: float = Field(ge=0, lt=1)
    components: dict[str, float] = Field(default_factory=dict)
    rationale: str = Field(min_length=20)
    source: str = Field(min_length=5)

    @model_validator(mode="after")
    def _components_add_up(self) -> OtherPrimary:
        if self.components and abs(sum(self.components.values()) - self.prior) > 1e-9:
            raise ValueError(
                f"components sum to {sum(self.components.values()):g}, not {self.prior:g}"
            )
        return self


class PriorWeighting(_Model):
    """How much the prior counts against the evidence: its log is multiplied by `weight`
    (a logarithmic pool of the stated prior with an even one), because the published mixes
    of primaries behind CUP disagree by several times."""

    weight: float = Field(gt=0, le=1)
    rationale: str = Field(min_length=20)
    source: str = Field(min_length=5)


class Calibration(_Model):
    """score = temperature × (prior weight × log prior + Σ weight × log LR). The temperature
    keeps the order of the candidates and only softens the stated probabilities; the prior
    weight lets the evidence of the case count more against the prior mix."""

    temperature: float = Field(gt=0, le=1)
    prior_weighting: PriorWeighting | None = None
    tuned_on: tuple[str, ...] = ()
    checked_on: tuple[str, ...] = ()
    other_primary: OtherPrimary | None = None
    rationale: str = Field(min_length=20)
    source: str = Field(min_length=5)

    @field_validator("prior_weighting", "other_primary", mode="before")
    @classmethod
    def _not_empty(cls, value: Any, info: ValidationInfo) -> Any:
        # `prior_weighting: ~` (or a key with nothing after it) reads as None, which would
        # silently mean a prior weight of 1 (or no "not on the list" candidate): a block that
        # is written is filled in, and one that is meant to be absent is left out.
        if value is None:
            absent = {
                "prior_weighting": "a prior weight of 1",
                "other_primary": "no share for a primary not on the list",
            }[str(info.field_name)]
            raise ValueError(f"empty (~): give its fields, or leave the key out for {absent}")
        return value

    @property
    def prior_weight(self) -> float:
        return self.prior_weighting.weight if self.prior_weighting is not None else 1.0


# Constructed, not validated (its values are valid as written): validating at import built
# the calibration models' validators, and pydantic's plugin machinery, in every process.
NO_CALIBRATION = Calibration.model_construct(
    temperature=1.0,
    rationale="No calibration block: the evidence is combined as plain naive Bayes.",
    source="(none)",
)


class Discount:
    """Per case: for each counted rule, the share of its evidence that still counts, and why."""

    def __init__(
        self,
        vocabulary: Vocabulary,
        rules: Mapping[str, Any],
        site_effects: Iterable[SiteEffect],
        correlated: Iterable[CorrelatedFindings],
    ) -> None:
        self._rules = rules
        self._correlated = tuple(correlated)
        # For each evidence rule, worked out the first time it counts: which (site, share)
        # could explain it, and which groups it is in.
        self._explained: dict[str, list[tuple[str, float]]] = {}
        self._groups: dict[str, list[CorrelatedFindings]] = {}
        self._site_labels = {
            key.removeprefix("sites."): finding.label
            for key, finding in vocabulary.findings.items()
            if key.startswith("sites.")
        }
        # Each site effect with the findings it explains: most rules test none of them.
        self._effects = [
            (effect, f"sites.{effect.site}", frozenset(item.finding for item in effect.explains))
            for effect in site_effects
        ]
        self._seen: set[str] = set()

    def _learn(self, rule_id: str) -> None:
        """Work out which deposits could explain a rule and which groups it is in, once."""
        self._seen.add(rule_id)
        rule = self._rules.get(rule_id)
        if rule is None:
            return
        tested = {c.finding: c for c in rule.when if c.finding is not None}
        for effect, site_key, explained in self._effects:
            if site_key in tested or explained.isdisjoint(tested):
                continue  # written given the site (its ratio conditions on it), or unrelated
            shares = [
                item.share
                for item in effect.explains
                if item.finding in tested and _accepts(tested[item.finding], item.answers)
            ]
            if shares:
                self._explained.setdefault(rule_id, []).append((effect.site, max(shares)))
        for group in self._correlated:
            if any(
                finding in tested
                and (not group.answers or _accepts(tested[finding], group.answers))
                for finding in group.findings
            ):
                self._groups.setdefault(rule_id, []).append(group)

    def weights(
        self, counted: Iterable[str], findings: Mapping[str, Any]
    ) -> dict[str, tuple[float, str]]:
        """For the counted rules whose evidence is discounted: (weight, reason in words)."""
        counted = list(counted)
        result: dict[str, tuple[float, list[str]]] = {}
        for rule_id in counted:
            if rule_id not in self._seen:
                self._learn(rule_id)
            explained = self._explained.get(rule_id)
            if not explained:  # most rules: no deposit explains them
                continue
            present = [
                (site, share) for site, share in explained if findings.get(f"sites.{site}") == "yes"
            ]
            if present:
                site, share = max(present, key=lambda item: (item[1], item[0]))
                label = self._site_labels.get(site, site)
                result[rule_id] = (1.0 - share, [f"explained by the metastases in the {label}"])
        members: dict[str, list[str]] = {}
        groups: dict[str, CorrelatedFindings] = {}
        for rule_id in counted:
            if rule_id in result:
                # Already explained by a deposit: the deposit is the common cause that the
                # group would stand for, so it is not discounted twice.
                continue
            for group in self._groups.get(rule_id, ()):
                members.setdefault(group.id, []).append(rule_id)
                groups[group.id] = group
        for group_id, rule_ids in members.items():
            factor = groups[group_id].weight(len(rule_ids))
            if factor == 1.0:
                continue
            for rule_id in rule_ids:
                weight, reasons = result.get(rule_id, (1.0, []))
                reasons = [*reasons, f"one of {len(rule_ids)} correlated {group_id} findings"]
                result[rule_id] = (weight * factor, reasons)
        return {
            rule_id: (weight, "; ".join(reasons)) for rule_id, (weight, reasons) in result.items()
        }


def check_corrections(
    vocabulary: Vocabulary,
    site_effects: Iterable[SiteEffect],
    correlated: Iterable[CorrelatedFindings],
    file: str | None = None,
) -> None:
    """Every site, finding and answer the corrections name exists; no finding is in two
    correlated groups (its rules would be discounted twice)."""
    findings = vocabulary.findings
    sites = [key.removeprefix("sites.") for key in findings if key.startswith("sites.")]
    for effect in site_effects:
        if effect.site not in sites:
            raise KnowledgeError(
                f"unknown site {effect.site!r}",
                file=file,
                field=f"site_effects.{effect.site}",
                hint=did_you_mean(effect.site, sites),
            )
        for item in effect.explains:
            _check_finding(vocabulary, item.finding, f"site_effects.{effect.site}", file)
            for answer in item.answers:
                if answer not in findings[item.finding].answers:
                    raise KnowledgeError(
                        f"{answer!r} is not an answer of {item.finding}",
                        file=file,
                        field=f"site_effects.{effect.site}",
                    )
    seen: dict[str, str] = {}
    for group in correlated:
        for finding in group.findings:
            _check_finding(vocabulary, finding, f"correlated_findings.{group.id}", file)
            for answer in group.answers:
                if answer not in findings[finding].answers:
                    raise KnowledgeError(
                        f"{answer!r} is not an answer of {finding}",
                        file=file,
                        field=f"correlated_findings.{group.id}",
                    )
            if finding in seen:
                raise KnowledgeError(
                    f"{finding} is in two correlated groups ({seen[finding]}, {group.id})",
                    file=file,
                    field=f"correlated_findings.{group.id}",
                )
            seen[finding] = group.id


def _accepts(condition: Any, answers: tuple[str, ...]) -> bool:
    """Whether a rule's condition on a finding holds for one of the answers a deposit causes
    (a numeric threshold on a lab value counts as a raised value)."""
    if condition.is_ is not None:
        return any(answer in condition.is_ for answer in answers)
    if condition.is_not is not None:
        return any(answer not in condition.is_not for answer in answers)
    return getattr(condition, "at_least", None) is not None


def _check_finding(vocabulary: Vocabulary, finding: str, field: str, file: str | None) -> None:
    if finding not in vocabulary.findings:
        raise KnowledgeError(
            f"unknown finding {finding!r}",
            file=file,
            field=field,
            hint=did_you_mean(finding, vocabulary.findings),
        )
