"""The questionnaire as a state machine: history first, the most informative question next.

It prints nothing and reads nothing: the CLI asks the questions and feeds the answers back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..reasoning.assessment import Assessment, Contribution, QuestionSuggestion
from ..reasoning.case import Case
from ..reasoning.errors import CaseError
from ..reasoning.knowledge import Rule
from ..reasoning.questions import MATERIAL_SHIFT
from ..reasoning.triage import Evaluation, Triage
from ..reasoning.vocabulary import Finding, did_you_mean

TOP = 3
DEMOGRAPHIC_FIRST = ("age",)


@dataclass(frozen=True)
class WhyAnswer:
    """MYCIN-style WHY: what a question separates and which rules it feeds."""

    finding: Finding
    separates: tuple[str, ...]
    rules: tuple[Rule, ...]


@dataclass
class Interview:
    """One interview: the case so far, the answers in order (for `back`), and what was skipped."""

    triage: Triage
    case: Case
    skipped: set[str] = field(default_factory=set)
    answered: list[str] = field(default_factory=list)
    _undo: list[Case] = field(default_factory=list)
    _evaluation: Evaluation | None = None

    @property
    def vocabulary(self):
        return self.triage.kb.vocabulary

    @property
    def evaluation(self) -> Evaluation:
        if self._evaluation is None:
            self._evaluation = self.triage.evaluate(self.case)
        return self._evaluation

    def ranking(self, top: int = TOP) -> list[tuple[str, float]]:
        """The current leaders as (primary, probability)."""
        posterior = self.evaluation.posterior
        order = sorted(range(len(posterior)), key=lambda i: (-posterior[i], i))
        return [(self.triage.ranker.primaries[i], posterior[i]) for i in order[:top]]

    def next_question(self) -> QuestionSuggestion | None:
        """The question to ask now, or None when no answer could change the top three."""
        for key in DEMOGRAPHIC_FIRST:
            if key not in self.evaluation.findings and key not in self.skipped:
                finding = self.vocabulary.findings[key]
                return QuestionSuggestion(
                    finding=key,
                    question=finding.question,
                    step=finding.step,
                    expected_gain_bits=0.0,
                    separates=(),
                )
        evaluation = self.evaluation
        for suggestion in self.triage.selector.suggest(
            evaluation.findings, evaluation.fired, evaluation.posterior
        ):
            if suggestion.finding in self.skipped:
                continue
            if self._could_change_top(suggestion.finding):
                return suggestion
        return None

    def _could_change_top(self, key: str) -> bool:
        leaders = {primary for primary, _ in self.ranking()}
        posterior = self.evaluation.posterior
        for outcome in self.triage.selector.outcomes(
            self.evaluation.findings, self.evaluation.fired, key
        ):
            order = sorted(range(len(posterior)), key=lambda i: -outcome.posterior[i])
            after = {self.triage.ranker.primaries[i] for i in order[:TOP]}
            shift = sum(abs(a - b) for a, b in zip(outcome.posterior, posterior, strict=True)) / 2
            if after != leaders or shift >= MATERIAL_SHIFT:
                return True
        return False

    def parse_answer(self, key: str, text: str) -> Any:
        """Turn typed text into an answer of this finding; typos raise a CaseError with a hint."""
        finding = self.vocabulary.findings[key]
        value = text.strip().lower()
        if finding.is_numeric:
            if value.isdigit() and 0 <= int(value) <= 120:
                return int(value)
            raise CaseError(f"expected a number of years, got {text!r}", field=key)
        aliases = (
            {"y": finding.answers[0], "n": finding.answers[1]} if len(finding.answers) == 2 else {}
        )
        if finding.answers[:2] == ("positive", "negative"):
            aliases |= {"yes": "positive", "no": "negative", "+": "positive", "-": "negative"}
        if finding.answers[:2] == ("elevated", "normal"):
            aliases |= {"yes": "elevated", "no": "normal", "raised": "elevated", "high": "elevated"}
        value = aliases.get(value, value).replace(" ", "_")
        if value in finding.answers:
            return value
        labels = {
            self.vocabulary.histologies[a].label: a
            for a in finding.answers
            if a in self.vocabulary.histologies
        }
        if value.replace("_", " ") in labels:
            return labels[value.replace("_", " ")]
        raise CaseError(
            f"expected {' | '.join(finding.answers)}",
            field=key,
            hint=did_you_mean(value, finding.answers),
        )

    def answer(self, key: str, value: Any) -> None:
        """Record an answer (already parsed) and re-rank."""
        self._undo.append(self.case)
        self.case = self.case.with_findings(self.vocabulary, {key: value})
        self.answered.append(key)
        self._evaluation = None

    def skip(self, key: str) -> None:
        """An 'unknown' answer: never asked again in this session, and changes nothing."""
        self._undo.append(self.case)
        self.answered.append(f"skip:{key}")
        self.skipped.add(key)

    def back(self) -> bool:
        """Undo the last answer or skip; False when there is nothing to undo."""
        if not self._undo:
            return False
        self.case = self._undo.pop()
        last = self.answered.pop()
        self.skipped.discard(last.removeprefix("skip:"))
        self._evaluation = None
        return True

    def why(self, key: str) -> WhyAnswer:
        """Which candidates this question separates, and the rules its answer feeds."""
        suggestion = next(
            (
                s
                for s in self.triage.selector.suggest(
                    self.evaluation.findings, self.evaluation.fired, self.evaluation.posterior
                )
                if s.finding == key
            ),
            None,
        )
        return WhyAnswer(
            finding=self.vocabulary.findings[key],
            separates=suggestion.separates if suggestion else (),
            rules=self.triage.kb.rules_testing.get(key, ()),
        )

    def how(self) -> tuple[str, tuple[Contribution, ...]]:
        """How the current leader was reached: its evidence for, strongest first."""
        assessment = self.report(suggest=False)
        leader = assessment.candidates[0]
        return leader.primary, leader.evidence_for

    def report(self, suggest: bool = True) -> Assessment:
        return self.triage.assess(self.case, suggest=suggest)
