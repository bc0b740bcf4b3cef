"""The questionnaire as a state machine: what is known first, then clinical order, then the
most informative question; it stops only when no answer left could change what matters.

It prints nothing and reads nothing. A front-end (the terminal, `ask --jsonl`, a web page, a
test) drives it::

    interview = Interview(triage, case, questionnaire)
    while (question := interview.next_question()) is not None:
        interview.answer(question.path, input(question.text))   # or "unknown", a list, …
    print(interview.stop_reason)
    assessment = interview.result()          # the same Assessment that `rank` gives

`answer` takes what a clinician types (answer ids, `y`/`n`, `?`, a comma list for a section
question); `record` takes an already parsed value. `undo` takes back the last answer and
says which it was; `why` and `how` explain in clinical words.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..reasoning.assessment import Assessment
from ..reasoning.case import Case, section_as_mapping
from ..reasoning.consistency import implied_answers
from ..reasoning.errors import CaseError
from ..reasoning.questions import (
    TOP_LEVEL,
    OpenFinding,
    Questionnaire,
    Stage,
    leaders_gain_bits,
)
from ..reasoning.triage import EVALUATOR, Evaluation, Triage
from ..reasoning.vocabulary import SECTIONS, UNKNOWN, Finding, did_you_mean
from .explain import Explainer, How, Why, answer_words

__all__ = ["Interview", "Question", "Answer", "Why", "How", "UNKNOWN"]

UNKNOWN_WORDS = ("?", "u", "unknown", "skip", "s", "not known", "dont know", "don't know")
NONE_WORDS = ("none", "no", "nothing", "-", "n")


@dataclass(frozen=True)
class Question:
    """One question as a front-end shows it.

    `path` is the case-file path of what is asked: a field (`age`, `histology`), a finding
    (`history.hemoptysis`) or a whole section (`sites`) answered with a list of ids.
    """

    path: str
    text: str
    answers: tuple[str, ...]
    labels: Mapping[str, str]
    kind: Literal["choice", "number", "several", "value"]
    step: str
    stage: str
    reason: str
    separates: tuple[str, ...] = ()
    stage_label: str = ""
    """Set for the questions a stage always asks (the referral's, a whole section)."""


@dataclass(frozen=True)
class Answer:
    """One recorded answer: the path, the value (UNKNOWN when not known) and it in words."""

    path: str
    value: Any
    words: str


@dataclass
class _State:
    case: Case
    unknown: frozenset[str]
    answer: Answer


@dataclass
class Interview:
    """One interview: the case so far, the answers in order, what is not known."""

    triage: Triage
    case: Case
    questionnaire: Questionnaire | None = None
    unknown: frozenset[str] = frozenset()
    stop_reason: str | None = None
    _history: list[_State] = field(default_factory=list)
    _evaluation: Evaluation | None = None
    _cached: tuple[int, Question | None] | None = None
    _implied: tuple[Evaluation, Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        if self.questionnaire is None:
            self.questionnaire = Questionnaire.default(self.vocabulary)
        self.explainer = Explainer(self.triage)
        self.unknown = frozenset(self.unknown)
        # Between questions the rules are fired by the evaluator (the same firings in the same
        # order as experta, many times faster); `result` uses the triage as given.
        self._loop = copy.copy(self.triage)
        self._loop.fired_by = EVALUATOR

    # ---------------------------------------------------------------- state
    @property
    def vocabulary(self):
        return self.triage.kb.vocabulary

    @property
    def answers(self) -> tuple[Answer, ...]:
        """The answers given in this session, in order."""
        return tuple(state.answer for state in self._history)

    @property
    def evaluation(self) -> Evaluation:
        if self._evaluation is None:
            self._evaluation = self._loop.evaluate(self.case)
        return self._evaluation

    @property
    def implied(self) -> Mapping[str, Any]:
        """Answers the given ones imply (rules/implications.yaml), and answers given but set
        aside for a data conflict: never asked, since asking could only repeat them or
        contradict them (the conflict is reported; the answer is in the case as given)."""
        evaluation = self.evaluation
        if self._implied is None or self._implied[0] is not evaluation:
            given = self.case.answers(self.vocabulary)
            set_aside = {k: v for k, v in given.items() if k not in evaluation.findings}
            implied = implied_answers(evaluation.findings, self.vocabulary)
            self._implied = (evaluation, {**implied, **set_aside})
        return self._implied[1]

    def ranking(self, top: int = 3) -> list[tuple[str, float]]:
        """The current leaders as (primary, probability), ties broken as `rank` breaks them."""
        posterior = self.evaluation.posterior
        primaries = self.triage.ranker.primaries
        order = sorted(range(len(posterior)), key=lambda i: (-posterior[i], primaries[i]))
        return [(primaries[i], posterior[i]) for i in order[:top]]

    def result(self) -> Assessment:
        """The full assessment of the case so far: the object `rank --json` prints."""
        return self.triage.assess(self.case)

    # ---------------------------------------------------------------- asking
    def next_question(self) -> Question | None:
        """The question to ask now, or None once nothing left could change what matters
        (then `stop_reason` says why in one line)."""
        stamp = len(self._history)
        if self._cached is not None and self._cached[0] == stamp:
            return self._cached[1]
        question = self._next_question()
        self._cached = (stamp, question)
        return question

    def _next_question(self) -> Question | None:
        evaluation = self.evaluation
        findings = evaluation.findings
        chooser = _Chooser(self, evaluation)
        for stage in self.questionnaire.stages:
            for item in stage.ask:
                question = self._fixed_question(item, stage, findings)
                if question is not None:
                    return question
            if stage.choose_from:
                question = chooser.best_in(stage)
                if question is not None:
                    return question
        leaders = ", ".join(self.vocabulary.primary_label(p) for p, _ in self.ranking())
        self.stop_reason = (
            f"No remaining answer could change the top three ({leaders}), a favourable subset, "
            "a red flag or the advised work-up."
        )
        return None

    def _fixed_question(self, item: str, stage: Stage, findings: Mapping) -> Question | None:
        if item in self.unknown:
            return None
        reason = f"is asked of every patient ({stage.label})"
        if item in SECTIONS:
            question = self.section_question(item, stage.id, reason)
        elif (
            item in findings
            or item in self.implied
            or not self.questionnaire.allows(item, findings)
        ):
            return None
        else:
            why = [d.why for d in self.questionnaire.depends.get(item, ()) if d.why]
            if why:
                reason = f"is asked at the {stage.label} when it applies ({why[0].rstrip('.')})"
            question = self.question_for(item, stage.id, reason)
        if question is None:
            return None
        return Question(**{**question.__dict__, "stage_label": stage.label})

    def question_for(self, key: str, stage: str = "", reason: str = "") -> Question:
        """The question that asks one field or finding."""
        finding = self.vocabulary.findings[key]
        if finding.is_numeric:
            kind, answers = "number", ()
        elif finding.section == "labs":
            kind, answers = "value", finding.answers
        else:
            kind, answers = "choice", finding.answers
        if key == "prior_cancer":
            kind = "several"
        labels = _answer_labels(self.vocabulary, finding)
        return Question(
            path=key,
            text=finding.question,
            answers=answers,
            labels=labels,
            kind=kind,
            step=finding.step,
            stage=stage,
            reason=reason,
        )

    def section_question(self, section: str, stage: str, reason: str) -> Question | None:
        """The question about a whole section (e.g. 'Where are the metastases?'), or None if
        every finding of it is known or the questionnaire has no such question."""
        spec = self.questionnaire.section_questions.get(section)
        if spec is None or section in self.unknown:
            return None
        open_ids = self._open_ids(section)
        if not open_ids:
            return None
        yes = self.vocabulary.answers_of(section)[0]
        known = [
            self.vocabulary.findings[f"{section}.{i}"].label
            for i in self.vocabulary.ids_in(section)
            if yes
            in (self.evaluation.findings.get(f"{section}.{i}"), self.implied.get(f"{section}.{i}"))
        ]
        text = spec.question_more.format(known=", ".join(known)) if known else spec.question
        return Question(
            path=section,
            text=text,
            answers=tuple(open_ids),
            labels={i: self.vocabulary.findings[f"{section}.{i}"].label for i in open_ids},
            kind="several",
            step=self.vocabulary.sections[section].step,
            stage=stage,
            reason=reason,
        )

    def _open_ids(self, section: str) -> list[str]:
        findings = self.evaluation.findings
        sex = findings.get("sex")
        return [
            i
            for i in self.vocabulary.ids_in(section)
            if f"{section}.{i}" not in findings
            and f"{section}.{i}" not in self.implied
            and f"{section}.{i}" not in self.unknown
            and (self.vocabulary.findings[f"{section}.{i}"].sex in (None, sex))
        ]

    # ---------------------------------------------------------------- answering
    def answer(self, path: str, text: str) -> Answer:
        """Record what the clinician typed for `path`; a typo raises a CaseError with a hint."""
        return self.record(path, self.parse(path, text))

    def parse(self, path: str, text: str) -> Any:
        """Turn typed text into a value for `path` (UNKNOWN for `?`, a tuple for a section)."""
        value = str(text).strip().lower()
        if value in UNKNOWN_WORDS:
            return UNKNOWN
        if path in SECTIONS:
            return self._parse_section(path, value)
        finding = self.vocabulary.findings[path]
        if finding.is_numeric:
            if value.isdigit() and 0 <= int(value) <= 120:
                return int(value)
            raise CaseError(f"expected a number of years, got {text!r}", field=path)
        if path == "prior_cancer":
            if value in NONE_WORDS:
                return "none"
            if value in ("y", "yes"):
                raise CaseError(
                    "which cancer? Name the primary (or several, with commas)", field=path
                )
            items = [v.strip() for v in re.split(r"[,;]", value) if v.strip()]
            ids = [
                _match(v, finding.answers, _answer_labels(self.vocabulary, finding), path)
                for v in items
            ]
            if not ids:
                raise CaseError("expected a primary, a list of them, or none", field=path)
            return ids[0] if len(ids) == 1 else tuple(ids)
        aliases = {}
        if len(finding.answers) == 2:
            aliases = {"y": finding.answers[0], "n": finding.answers[1]}
        if finding.answers[:2] == ("positive", "negative"):
            aliases |= {"yes": "positive", "no": "negative", "+": "positive", "-": "negative"}
        if finding.answers[:2] == ("elevated", "normal"):
            aliases |= {"yes": "elevated", "no": "normal", "raised": "elevated", "high": "elevated"}
        value = aliases.get(value, value)
        if finding.section == "labs" and value not in finding.answers and value[:1].isdigit():
            return text.strip()  # a measured value: the case model checks the number and unit
        return _match(value, finding.answers, _answer_labels(self.vocabulary, finding), path)

    def _parse_section(self, section: str, value: str) -> tuple[str, ...]:
        if value in NONE_WORDS:
            return ()
        ids = self.vocabulary.ids_in(section)
        labels = {i: self.vocabulary.findings[f"{section}.{i}"].label for i in ids}
        items = [v.strip() for v in re.split(r"[,;]", value) if v.strip()]
        return tuple(dict.fromkeys(_match(v, tuple(ids), labels, section) for v in items))

    def record(self, path: str, value: Any) -> Answer:
        """Record a parsed answer (UNKNOWN keeps the question from being asked again)."""
        unknown = self.unknown
        if value == UNKNOWN:
            case, unknown = self.case, unknown | {path}
        elif path in SECTIONS:
            case = self.case.with_findings(self.vocabulary, self._section_changes(path, value))
        else:
            case = self.case.with_findings(
                self.vocabulary, {path: list(value) if isinstance(value, tuple) else value}
            )
        answer = Answer(path, value, answer_words(self.vocabulary, path, value))
        self._history.append(_State(self.case, self.unknown, answer))
        self.case, self.unknown = case, frozenset(unknown)
        self._evaluation, self.stop_reason = None, None
        return answer

    def _section_changes(self, section: str, present: Iterable[str]) -> dict[str, str]:
        yes, no = self.vocabulary.answers_of(section)
        present = set(present)
        changes = {f"{section}.{i}": yes for i in present}
        known = self.evaluation.findings
        # What is not listed is absent, as in a case file (also what the sex rules out),
        # except what the answers given imply: it was not offered, so it keeps that answer.
        for i in self.vocabulary.ids_in(section):
            key = f"{section}.{i}"
            if key not in known:
                changes.setdefault(key, self.implied.get(key, no))
        return changes

    def undo(self) -> Answer | None:
        """Take back the last answer; returns it (None when nothing was answered)."""
        if not self._history:
            return None
        state = self._history.pop()
        self.case, self.unknown = state.case, state.unknown
        self._evaluation, self.stop_reason = None, None
        return state.answer

    # ---------------------------------------------------------------- explaining
    def why(self, path: str) -> Why:
        """Why a question is asked: the candidates its answer separates, and the rules that
        can still apply to this patient, with their strength in words."""
        question = self.next_question()
        reason = question.reason if question is not None and question.path == path else ""
        return self.explainer.why(path, self.evaluation, self.unknown, reason)

    def how(self) -> How:
        """How the current leader was reached: its strongest evidence, in a few lines."""
        return self.explainer.how(self.triage.assess(self.case, suggest=False))

    # ---------------------------------------------------------------- saving
    def to_file_dict(self) -> dict[str, Any]:
        """The case as a case file, answers given as unknown kept as `unknown`."""
        data = self.case.to_file_dict(self.vocabulary)
        for path in sorted(self.unknown):
            section, _, finding = path.partition(".")
            if not finding:
                if path in SECTIONS:
                    ids = self._open_ids(path) or self.vocabulary.ids_in(path)
                    current = section_as_mapping(data.get(path), self.vocabulary, path)
                    for i in ids:
                        current.setdefault(i, UNKNOWN)
                    data[path] = current
                elif path not in data:
                    data[path] = UNKNOWN
                continue
            current = section_as_mapping(data.get(section), self.vocabulary, section)
            current.setdefault(finding, UNKNOWN)
            data[section] = current
        return _in_file_order(data)


def unknown_paths(data: Mapping[str, Any], vocabulary) -> frozenset[str]:
    """The paths a saved case file marks as `unknown` (what a resumed interview skips)."""
    found = set()
    for key, value in data.items():
        if key in TOP_LEVEL and str(value).lower() == UNKNOWN:
            found.add(key)
        elif key in SECTIONS and isinstance(value, Mapping):
            marked = [k for k, v in value.items() if str(v).lower() == UNKNOWN]
            found.update(f"{key}.{k}" for k in marked)
            if marked and len(marked) == len(value):
                found.add(key)
    return frozenset(found)


class _Chooser:
    """Picks the best question of a stage, given one evaluation."""

    def __init__(self, interview: Interview, evaluation: Evaluation) -> None:
        self.interview = interview
        self.evaluation = evaluation
        self.kb = interview.triage.kb
        self.selector = interview.triage.selector
        self.stopping = interview.questionnaire.stopping
        self.posterior = evaluation.posterior
        self.now = self.selector._log_scores_now(evaluation.findings, evaluation.fired)
        self.top_now = _top(
            self.posterior,
            interview.triage.ranker.primaries,
            self.stopping.top,
            self.stopping.leading_probability,
        )
        self.signature_now = interview.explainer.signature(evaluation.fired)
        self.subset_needs = interview.explainer.subset_needs(
            evaluation, interview.unknown, interview.implied
        )
        self.explainer = interview.explainer
        self.concluded = self.kb.concluded_by(evaluation.fired)

    def best_in(self, stage: Stage) -> Question | None:
        interview = self.interview
        findings = self.evaluation.findings
        sex = findings.get("sex")
        scored: list[tuple[OpenFinding, str]] = []
        pool = (
            self.selector.answerable
            if interview.questionnaire.data.not_routine.ask
            else self.selector.askable
        )
        first = [k for k in stage.first if interview.questionnaire.allows(k, findings)]
        for finding in pool:
            key = finding.key
            if finding.step not in stage.choose_from or key in findings:
                continue
            if key in interview.implied:
                continue
            if key in interview.unknown or finding.section in interview.unknown:
                continue
            if finding.sex is not None and finding.sex != sex:
                continue
            if not interview.questionnaire.allows(key, findings):
                continue
            if not self.explainer.can_matter(key, findings, self.concluded, interview.unknown):
                continue
            open_finding = self.selector.open_finding(
                findings, self.evaluation.fired, self.posterior, key, self.now
            )
            reason = self._reason(open_finding)
            if reason or key in first:
                scored.append((open_finding, reason))
        if not any(reason for _, reason in scored):
            return None
        # The stage's first panel is asked as soon as the stage has anything worth asking.
        by_key = {o.key: (o, reason) for o, reason in scored}
        for key in first:
            if key in by_key:
                open_finding, reason = by_key[key]
                return self._question(
                    open_finding, reason or "the first panel of this stage", stage
                )
        scored = [item for item in scored if item[1]]
        if stage.order_by == "leaders":
            leaders = self.stopping.leaders

            def order(item):
                o = item[0]
                return (-leaders_gain_bits(o, self.posterior, leaders), -o.gain_bits, o.key)
        else:

            def order(item):
                o = item[0]
                burden = interview.vocabulary.steps[
                    interview.vocabulary.findings[o.key].step
                ].burden
                return (-o.gain_bits / burden, o.key)

        best, reason = min(scored, key=order)
        section = interview.vocabulary.findings[best.key].section
        grouped = interview.section_question(section, stage.id, reason)
        if grouped is not None:
            return grouped
        return self._question(best, reason, stage)

    def _question(self, open_finding: OpenFinding, reason: str, stage: Stage) -> Question:
        question = self.interview.question_for(open_finding.key, stage.id, reason)
        finding = self.interview.vocabulary.findings[open_finding.key]
        suffix = self.interview.questionnaire.data.not_routine.suffix
        if not finding.routine and suffix:
            question = Question(**{**question.__dict__, "text": f"{question.text} {suffix}"})
        separates = self.selector.separates(open_finding, self.posterior)
        return Question(**{**question.__dict__, "separates": separates})

    def _reason(self, open_finding: OpenFinding) -> str:
        """Why the answer matters, or '' when no answer could change anything that matters."""
        primaries = self.interview.triage.ranker.primaries
        s = self.stopping
        for outcome in open_finding.outcomes:
            if outcome.probability < s.possible_answer:
                continue
            leader, leading = _top(outcome.shown, primaries, s.top, s.leading_probability)
            if leader != self.top_now[0]:
                return "could change the leading candidate"
            if outcome.probability >= s.plausible_answer and leading != self.top_now[1]:
                return "could change the leading candidates"
        if open_finding.key in self.subset_needs:
            return f"could show a favourable subset ({self.subset_needs[open_finding.key]})"
        for outcome in open_finding.outcomes:
            if outcome.probability <= 0:
                continue
            change = self.interview.explainer.signature(outcome.fired) ^ self.signature_now
            # A red flag or a subset counts whatever the answer's chance; a change of advice
            # only for a plausible answer (a rare symptom would redirect the work-up of
            # almost every patient, and asking all of them is not a clinical interview).
            plausible = outcome.probability >= self.stopping.plausible_answer
            possible = outcome.probability >= self.stopping.possible_answer
            for what, label in sorted(change):
                if plausible or (possible and what != "advice"):
                    return f"could {_WHAT[what]} ({label})"
        return ""


_WHAT = {
    "subset": "change a favourable subset",
    "red_flag": "raise or clear a red flag",
    "advice": "change the advised work-up",
}


def _top(posterior, primaries, top: int, least: float) -> tuple[str, frozenset[str]]:
    """The leader and the leading candidates: the top `top` that have at least `least`."""
    order = sorted(range(len(posterior)), key=lambda i: (-posterior[i], primaries[i]))[:top]
    return primaries[order[0]], frozenset(primaries[i] for i in order if posterior[i] >= least)


def _answer_labels(vocabulary, finding: Finding) -> dict[str, str]:
    if finding.key == "histology":
        return {a: vocabulary.histologies[a].label for a in finding.answers}
    if finding.key == "prior_cancer":
        return {
            a: vocabulary.primaries[a].label if a in vocabulary.primaries else a
            for a in finding.answers
        }
    return {a: a for a in finding.answers}


def _match(value: str, options: tuple[str, ...], labels: Mapping[str, str], path: str) -> str:
    value = value.strip().lower()
    if value in options:
        return value
    if value.replace(" ", "_") in options:
        return value.replace(" ", "_")
    by_label = {label.lower(): key for key, label in labels.items()}
    if value in by_label:
        return by_label[value]
    shown = " | ".join(options) if len(options) <= 6 else f"one of {len(options)} ids"
    raise CaseError(
        f"expected {shown}, got {value!r}", field=path, hint=did_you_mean(value, options)
    )


FILE_ORDER = ("id", "sex", "age", "sites", "histology", "features", *SECTIONS, "prior_cancer")


def _in_file_order(data: Mapping[str, Any]) -> dict[str, Any]:
    ordered = {k: data[k] for k in FILE_ORDER if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    return ordered
