"""The next question or test: the questionnaire's clinical order (data), then value of
information, weighed by burden; and what each possible answer would change."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .assessment import QuestionSuggestion
from .case import with_answer
from .errors import KnowledgeError
from .evaluator import Evaluator, holds
from .knowledge import Condition, KnowledgeBase
from .ranking import Ranker, RunningScores, entropy_bits, normalise
from .vocabulary import DERIVED_FINDINGS, SECTIONS, Vocabulary, did_you_mean

MATERIAL_GAIN_BITS = 0.01
"""Below this expected information gain, an answer would not change the ranking materially."""

MATERIAL_SHIFT = 0.05
"""A shift of probability (total variation) this large counts as a material change of ranking."""

TOP_LEVEL = ("sex", "age", "histology", "prior_cancer")
"""Case fields asked as one question each (the sections hold many findings)."""


# ------------------------------------------------------------------ the questionnaire (data)
class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, allow_inf_nan=False)


class Stage(_Model):
    """One stage of the interview: fixed questions in order, then the best of some steps."""

    id: str
    label: str
    ask: tuple[str, ...] = Field(
        default=(),
        description="Asked in this order whenever unknown: case fields, whole sections, or "
        "findings (a finding only when its dependencies let it be asked).",
    )
    choose_from: tuple[str, ...] = Field(
        default=(), description="Steps whose findings are chosen by value of information."
    )
    first: tuple[str, ...] = Field(
        default=(), description="Findings of this stage asked before the others (a panel)."
    )
    order_by: Literal["information", "leaders"] = Field(
        default="information",
        description="'leaders': the finding that best separates the current leaders first.",
    )


class NotRoutine(_Model):
    """How the interview asks for a test the guidelines advise against ordering routinely."""

    ask: bool = Field(description="Ask for the result when it is already at hand.")
    suffix: str = Field(default="", description="Added to the question, e.g. '(if measured)'.")


class SectionQuestion(_Model):
    """A question about a whole section, answered by listing the ids present."""

    question: str
    question_more: str = Field(description="The question when some ids are known: {known}.")


class Dependency(_Model):
    """Findings asked only when conditions hold (all of `when`, and one of `any_of`)."""

    ask: tuple[str, ...] = Field(min_length=1)
    when: tuple[Condition, ...] = ()
    any_of: tuple[Condition, ...] = ()
    if_unknown: Literal["wait", "ask"] = "wait"
    why: str = Field(min_length=10)

    @model_validator(mode="after")
    def _has_conditions(self) -> Dependency:
        if not (self.when or self.any_of):
            raise ValueError("a dependency needs conditions: when or any_of")
        return self


class Stopping(_Model):
    top: int = Field(default=3, ge=1)
    leading_probability: float = Field(default=0.0, ge=0, lt=1)
    plausible_answer: float = Field(default=0.0, ge=0, lt=1)
    possible_answer: float = Field(default=0.0, ge=0, lt=1)
    leaders: int = Field(default=3, ge=2)


class QuestionnaireFile(_Model):
    """The schema of rules/questionnaire.yaml."""

    description: str
    source: str
    stages: tuple[Stage, ...] = Field(min_length=1)
    section_questions: dict[Literal[SECTIONS], SectionQuestion] = {}  # type: ignore[valid-type]
    dependencies: tuple[Dependency, ...] = ()
    # Constructed, not validated: validating at import would build these models' validators
    # in every process that imports the module, whether or not it reads a questionnaire.
    stopping: Stopping = Stopping.model_construct()
    not_routine: NotRoutine = NotRoutine.model_construct(ask=False)


class Questionnaire:
    """The questionnaire checked against a vocabulary: every id it names must exist."""

    def __init__(self, data: QuestionnaireFile, vocabulary: Vocabulary) -> None:
        self.data = data
        self.stages = data.stages
        self.section_questions = data.section_questions
        self.stopping = data.stopping
        self.depends: dict[str, list[Dependency]] = {}
        for dependency in data.dependencies:
            for key in dependency.ask:
                self.depends.setdefault(key, []).append(dependency)
        self._check(vocabulary)

    @classmethod
    def default(cls, vocabulary: Vocabulary) -> Questionnaire:
        """Without a questionnaire file: the fields first, then the steps by their tier."""
        tiers = sorted({s.tier for s in vocabulary.steps.values()})
        stages = [Stage(id="referral", label="referral", ask=TOP_LEVEL)] + [
            Stage(
                id=f"tier{tier}",
                label=f"tier {tier}",
                choose_from=tuple(k for k, s in vocabulary.steps.items() if s.tier == tier),
            )
            for tier in tiers
        ]
        data = QuestionnaireFile(
            description="default order", source="vocabulary step tiers", stages=tuple(stages)
        )
        return cls(data, vocabulary)

    def _check(self, vocabulary: Vocabulary) -> None:
        def fail(message: str, field: str, bad: str, options=()) -> NoReturn:
            raise KnowledgeError(message, field=field, hint=did_you_mean(bad, options))

        askable = set(TOP_LEVEL) | set(SECTIONS)
        for stage in self.stages:
            for item in stage.ask:
                if item not in askable and item not in vocabulary.findings:
                    fail(f"unknown question {item!r}", f"stages.{stage.id}.ask", item, askable)
            for step in stage.choose_from:
                if step not in vocabulary.steps:
                    fail(
                        f"unknown step {step!r}",
                        f"stages.{stage.id}.choose_from",
                        step,
                        vocabulary.steps,
                    )
            for key in stage.first:
                finding = vocabulary.findings.get(key)
                if finding is None or finding.step not in stage.choose_from:
                    fail(
                        f"{key!r} is not a finding of this stage's steps",
                        f"stages.{stage.id}.first",
                        key,
                        vocabulary.findings,
                    )
        for dependency in self.data.dependencies:
            for key in dependency.ask:
                if key not in vocabulary.findings:
                    fail(f"unknown finding {key!r}", "dependencies.ask", key, vocabulary.findings)
            for condition in (*dependency.when, *dependency.any_of):
                if condition.finding not in vocabulary.findings:
                    fail(
                        f"dependencies test only findings, got {condition.subject!r}",
                        "dependencies.when",
                        condition.subject,
                        vocabulary.findings,
                    )

    def allows(self, key: str, findings: Mapping[str, object]) -> bool:
        """Whether the dependencies let this finding be asked, given the answers so far."""
        for dependency in self.depends.get(key, ()):
            for group, need_all in ((dependency.when, True), (dependency.any_of, False)):
                if not group:
                    continue
                results = []
                for condition in group:
                    value = findings.get(condition.finding_key)
                    if value is None:
                        results.append(dependency.if_unknown == "ask")
                    else:
                        results.append(holds(condition, value))
                if (all(results) if need_all else any(results)) is False:
                    return False
        return True


# ------------------------------------------------------------------ what an answer would do
@dataclass(frozen=True)
class Outcome:
    """One possible answer to an open finding and what it would do to the ranking."""

    answer: str
    probability: float
    posterior: tuple[float, ...]
    """Of the listed primaries, as in `Evaluation.posterior` (summing to 1 − the other share)."""
    fired: frozenset[str] = frozenset()
    """The rules that would fire after this answer."""
    shown: tuple[float, ...] = ()
    """The ranking `rank` would then show (the posterior above is the expectation's)."""


@dataclass(frozen=True)
class Now:
    """What every hypothetical answer is compared with, worked out once per ranking: the log
    scores (with their running sums) and the facts the fired rules concluded."""

    scores: RunningScores
    concluded: Mapping[str, frozenset[str]]

    @cached_property
    def probabilities(self) -> list[float]:
        """The current ranking's probabilities, the other-primary share last."""
        return normalise(self.scores.final)


@dataclass(frozen=True)
class OpenFinding:
    """An unanswered finding with every answer it could get and their effect."""

    key: str
    outcomes: tuple[Outcome, ...]
    gain_bits: float


class QuestionSelector:
    """Scores every unanswered finding by how much its answer is expected to move the ranking.

    The answers are tried with the pure-Python evaluator (`Evaluator.refire`), not by
    re-running the engine for each hypothetical answer.
    """

    def __init__(self, kb: KnowledgeBase, ranker: Ranker, evaluator: Evaluator) -> None:
        self.kb = kb
        self.ranker = ranker
        self.evaluator = evaluator
        self.askable = [f for f in kb.vocabulary.findings.values() if f.prevalence and f.routine]
        # The interview may also ask for results already at hand that are not worth ordering.
        self.answerable = [f for f in kb.vocabulary.findings.values() if f.prevalence]

    def outcomes(
        self, findings: Mapping[str, object], fired: Sequence[str], key: str
    ) -> list[Outcome]:
        """The possible answers to one finding: how likely each is, and the ranking after it.

        P(answer | primary) ∝ prevalence(answer) × the likelihood ratio the answer would bring,
        so an answer that points to the current leaders is expected more often.
        """
        return self._outcomes(findings, fired, key, self._log_scores_now(findings, fired))

    def _log_scores_now(self, findings: Mapping[str, Any], fired: Sequence[str]) -> Now:
        return Now(
            self.ranker.running_scores(self.ranker.counted(fired)[0], findings),
            self.kb.concluded_by(fired),
        )

    def open_finding(
        self,
        findings: Mapping[str, object],
        fired: Sequence[str],
        posterior: Sequence[float],
        key: str,
        now: Now | None = None,
    ) -> OpenFinding:
        """One open finding with its outcomes and expected information gain (`now`: what
        `_log_scores_now` gave for these findings, when already worked out)."""
        now = self._log_scores_now(findings, fired) if now is None else now
        outcomes = self._outcomes(findings, fired, key, now)
        gain = entropy_bits(posterior) - sum(
            o.probability * entropy_bits(o.posterior) for o in outcomes
        )
        return OpenFinding(key, tuple(outcomes), gain)

    def _outcomes(
        self, findings: Mapping[str, object], fired: Sequence[str], key: str, current: Now
    ) -> list[Outcome]:
        finding = self.kb.vocabulary.findings[key]
        now = current.scores.final
        prior_now = current.probabilities
        scored = []
        for answer, prevalence in finding.prevalence.items():
            hypothetical = with_answer(findings, key, answer, self.kb.vocabulary)
            changed = [key] + [
                k for k in DERIVED_FINDINGS if hypothetical.get(k) != findings.get(k)
            ]
            fired_after = self.evaluator.refire(hypothetical, fired, changed, current.concluded)
            after = self.ranker.log_scores_after(
                current.scores, self.ranker.counted(fired_after)[0], hypothetical
            )
            ratios = [
                math.exp(a - n) if n > -math.inf and a > -math.inf else 0.0
                for a, n in zip(after, now, strict=True)
            ]
            scored.append((answer, prevalence, ratios, self.ranker.listed(after), fired_after))
        # Summed answer by answer, in the order of the answers (as a loop over them would).
        per_primary_total = [
            sum(column) or 1.0
            for column in zip(
                *([prev * r for r in ratios] for _, prev, ratios, _, _ in scored), strict=True
            )
        ]
        outcomes = []
        listed = len(self.ranker.primaries)
        for answer, prevalence, ratios, shown, fired_after in scored:
            # P(answer | primary) as the expectation above models it; the ranking after the
            # answer is Bayes' rule with that same likelihood, so that the expected information
            # gain is a true mutual information (never negative, however the evidence is
            # tempered or discounted).
            joint = [
                p * prevalence * r / total
                for p, r, total in zip(prior_now, ratios, per_primary_total, strict=True)
            ]
            probability = sum(joint)
            posterior = tuple(j / probability for j in joint[:listed]) if probability else shown
            outcomes.append(Outcome(answer, probability, posterior, fired_after, tuple(shown)))
        return outcomes

    def suggest(
        self,
        findings: Mapping[str, object],
        fired: Sequence[str],
        posterior: Sequence[float],
        *,
        held: Collection[str] = (),
    ) -> list[QuestionSuggestion]:
        """Open findings worth asking, lowest tier first (history before imaging), then by
        expected information gain per unit of burden; answers that inform nothing are left out.

        `held`: findings the case already answers otherwise (an answer it implies), left out
        as an answered one is, without working out what their answers would do.
        """
        ranked = []
        vocabulary = self.kb.vocabulary
        # The current ranking is the same for every open finding: computed once.
        now = self._log_scores_now(findings, fired)
        for finding in self.askable:
            if finding.key in findings or finding.key in held:
                continue
            if finding.sex is not None and findings.get("sex") != finding.sex:
                # Only asked once the patient's sex is known to allow it.
                continue
            scored = self.open_finding(findings, fired, posterior, finding.key, now)
            if scored.gain_bits < MATERIAL_GAIN_BITS:
                continue
            step = vocabulary.steps[finding.step]
            ranked.append(
                (
                    (step.tier, -scored.gain_bits / step.burden, finding.key),
                    QuestionSuggestion(
                        finding=finding.key,
                        question=finding.question,
                        step=finding.step,
                        expected_gain_bits=round(scored.gain_bits, 4),
                        separates=self.separates(scored, posterior),
                    ),
                )
            )
        ranked.sort(key=lambda item: item[0])
        return [suggestion for _, suggestion in ranked]

    def separates(self, scored: OpenFinding, posterior: Sequence[float]) -> tuple[str, ...]:
        """The three primaries whose probability the answer is expected to move most."""
        shift = [
            sum(o.probability * abs(o.posterior[i] - posterior[i]) for o in scored.outcomes)
            for i in range(len(posterior))
        ]
        order = sorted(range(len(posterior)), key=lambda i: (-shift[i], i))
        return tuple(self.ranker.primaries[i] for i in order[:3] if shift[i] > 0)


def leaders_gain_bits(scored: OpenFinding, posterior: Sequence[float], leaders: int) -> float:
    """Expected information gain over the current leaders only (their share renormalised):
    how well the answer separates the candidates still in contention."""
    order = sorted(range(len(posterior)), key=lambda i: (-posterior[i], i))[:leaders]

    def entropy(p: Sequence[float]) -> float:
        total = sum(p[i] for i in order) or 1.0
        return entropy_bits(p[i] / total for i in order)

    return entropy(posterior) - sum(o.probability * entropy(o.posterior) for o in scored.outcomes)
