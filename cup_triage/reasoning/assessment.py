"""Output value objects: what an assessment of one case contains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict


class _Value(BaseModel):
    # A number an output cannot carry as JSON (NaN, infinity) is a bug, refused where it is
    # made rather than printed as invalid JSON.
    model_config = ConfigDict(defer_build=True, frozen=True, allow_inf_nan=False)


class Contribution(_Value):
    """One rule's weight for or against one candidate."""

    rule_id: str
    kind: str
    conditions: str
    likelihood_ratio: float
    rationale: str
    source: str
    weight: float = 1.0
    """The share of the rule's evidence that counts for this case (below 1 when a metastatic
    site explains the finding, or when correlated findings share it), before tempering."""
    discounted_because: str | None = None


class Candidate(_Value):
    primary: str
    label: str
    icd_o3: tuple[str, ...]
    oncotree: str
    prior: float
    probability: float
    evidence_for: tuple[Contribution, ...]
    evidence_against: tuple[Contribution, ...]


class OtherPrimaryShare(_Value):
    """The probability that the primary is none of the listed candidates."""

    label: str
    prior: float
    probability: float


class FiredRule(_Value):
    """A rule firing, in the order the engine made it."""

    order: int
    rule_id: str
    kind: str
    conditions: str
    concludes: dict[str, str]
    counted: bool
    superseded_by: str | None = None


class SubsetConclusion(_Value):
    id: str
    label: str
    treat_as: str
    management: str
    workup: tuple[str, ...]
    rule_id: str
    source: str
    treat_as_listed: str | None = None
    """The primary the subset itself treats as, when a near-certain leader of the ranking
    (another primary) replaces it in `treat_as`."""


class RedFlagConclusion(_Value):
    id: str
    label: str
    action: str
    rule_id: str
    source: str


class DataConflict(_Value):
    """Two answers that contradict each other (rules/implications.yaml): the premise is set
    aside, so nothing that depends on it (a subset, its evidence) is raised."""

    implication: str
    fields: tuple[str, str]
    message: str
    source: str


class AdviceItem(_Value):
    category: str
    text: str
    rule_id: str
    source: str


class QuestionSuggestion(_Value):
    """An unanswered finding worth asking or testing next, and why."""

    finding: str
    question: str
    step: str
    expected_gain_bits: float
    separates: tuple[str, ...]


class Uncertainty(_Value):
    entropy_bits: float
    top_probability: float
    top3_probability: float
    statement: str


class KnowledgeBaseStamp(_Value):
    version: str
    hash: str


class Assessment(_Value):
    """The full triage result for one case."""

    case_id: str
    knowledge_base: KnowledgeBaseStamp
    candidates: tuple[Candidate, ...]
    other_primary: OtherPrimaryShare
    fired: tuple[FiredRule, ...]
    subsets: tuple[SubsetConclusion, ...]
    red_flags: tuple[RedFlagConclusion, ...]
    advice: tuple[AdviceItem, ...]
    next_questions: tuple[QuestionSuggestion, ...]
    next_tests: tuple[QuestionSuggestion, ...]
    uncertainty: Uncertainty
    confirmed_primary: str | None = None
    data_conflicts: tuple[DataConflict, ...] = ()
    disclaimer: str

    def rank_of(self, primary: str) -> int:
        """1-based rank of a primary in this assessment."""
        return [c.primary for c in self.candidates].index(primary) + 1


class RankedPrimary(NamedTuple):
    """One primary of a RankedCase: its id, codes and posterior probability."""

    primary: str
    probability: float
    icd_o3: tuple[str, ...]
    oncotree: str


@dataclass(frozen=True, slots=True)
class RankedCase:
    """What a batch row says of one case: the ranking, the subsets and red flags by id.

    The same numbers as the case's Assessment, without its explanations: a batch builds one
    for every case, and building an Assessment's model objects cost more than the reasoning.
    """

    case_id: str
    knowledge_base: KnowledgeBaseStamp
    candidates: tuple[RankedPrimary, ...]
    other_primary_probability: float
    subsets: tuple[str, ...]
    red_flags: tuple[str, ...]
    confirmed_primary: str | None = None

    def rank_of(self, primary: str) -> int:
        """1-based rank of a primary."""
        return [c.primary for c in self.candidates].index(primary) + 1
