"""A class's quiz sessions: each session as a record for its log, and a summary per case of
how the class's differentials compared with the engine's, stage by stage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from .teaching import StageResult

COMMONEST_SHOWN = 5


def stage_record(result: StageResult, title: str) -> dict[str, Any]:
    """One stage of a quiz as plain data for the session log."""
    score = result.score
    comparison = result.comparison
    question = result.question
    return {
        "stage": result.stage,
        "title": title,
        "differential": list(score.differential),
        "stated": score.stated,
        "probabilities": {p: mine for p, mine, _, _ in comparison.yours},
        "comparison": {
            "agreement": comparison.agreement,
            "engine_mass_on_yours": comparison.engine_mass_on_yours,
            "shared_top3": comparison.shared_top3,
        },
        "score": {
            "true_rank_learner": score.true_rank_learner,
            "true_rank_engine": score.true_rank_engine,
            "probability_learner": score.probability_learner,
            "probability_engine": score.probability_engine,
            "log_score_learner": score.log_score_learner,
            "log_score_engine": score.log_score_engine,
            "brier_learner": score.brier_learner,
            "brier_engine": score.brier_engine,
            "engine_top3": list(score.engine_top3),
            "missed": [{"rule_id": c.rule_id, "conditions": c.conditions} for c in score.missed],
            "over_weighted": [
                {"rule_id": c.rule_id, "conditions": c.conditions} for c in score.over_weighted
            ],
        },
        "question": None
        if question is None
        else {
            "asked": question.asked,
            "already_known": question.already_known,
            "gain_bits": question.gain_bits,
            "rank": question.rank,
            "engine_first": question.engine_first.finding if question.engine_first else None,
            "most_informative": question.most_informative.finding
            if question.most_informative
            else None,
            "was_most_informative": question.was_most_informative,
        },
    }


@dataclass(frozen=True)
class StageSummary:
    """One stage of one case over the class: means of the learners' and the engine's scores."""

    stage: str
    title: str
    learners: int
    probability_class: float
    probability_engine: float
    log_score_class: float
    log_score_engine: float
    brier_class: float
    brier_engine: float
    named_truth: float
    """Share of the learners whose differential named the confirmed primary."""
    agreement: float
    asked: int
    asked_most_informative: int


@dataclass(frozen=True)
class CaseSummary:
    case_id: str
    title: str
    confirmed_primary: str | None
    sessions: int
    completed: int
    answers: int
    """Differentials given, over all stages and learners."""
    stages: tuple[StageSummary, ...]
    missed: tuple[tuple[str, int], ...]
    """The evidence for the confirmed primary the learners under-weighted most often, in
    words, with how many learner-stages missed it."""
    wrong_leads: tuple[tuple[str, int], ...]
    """The commonest wrong first choices at the last stage answered."""


def summarise(
    sessions: Iterable[Mapping[str, Any]], stage_order: Sequence[str] = ()
) -> list[CaseSummary]:
    """Per case (in order of case id): the class beside the engine at each stage, and the
    commonest misses."""
    by_case: dict[str, list[Mapping[str, Any]]] = {}
    for session in sessions:
        by_case.setdefault(str(session["case_id"]), []).append(session)
    return [_case_summary(case_id, by_case[case_id], stage_order) for case_id in sorted(by_case)]


def _case_summary(
    case_id: str, sessions: list[Mapping[str, Any]], stage_order: Sequence[str]
) -> CaseSummary:
    stages: dict[str, list[Mapping[str, Any]]] = {}
    titles: dict[str, str] = {}
    missed: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for session in sessions:
        answered = session["stages"]
        for stage in answered:
            stages.setdefault(stage["stage"], []).append(stage)
            titles.setdefault(stage["stage"], stage.get("title", stage["stage"]))
            missed.update({m["conditions"] for m in stage["score"]["missed"]})
        if answered and answered[-1]["score"]["true_rank_learner"] != 1:
            wrong[answered[-1]["differential"][0]] += 1
    rank = {name: i for i, name in enumerate(stage_order)}
    ordered = sorted(stages, key=lambda s: (rank.get(s, len(rank)), s))
    first = sessions[0]
    return CaseSummary(
        case_id=case_id,
        title=str(first.get("case_title") or case_id),
        confirmed_primary=first.get("confirmed_primary"),
        sessions=len(sessions),
        completed=sum(bool(s.get("completed")) for s in sessions),
        answers=sum(len(answers) for answers in stages.values()),
        stages=tuple(_stage_summary(name, titles[name], stages[name]) for name in ordered),
        missed=tuple(sorted(missed.items(), key=lambda kv: (-kv[1], kv[0]))[:COMMONEST_SHOWN]),
        wrong_leads=tuple(sorted(wrong.items(), key=lambda kv: (-kv[1], kv[0]))[:COMMONEST_SHOWN]),
    )


def _stage_summary(name: str, title: str, answers: list[Mapping[str, Any]]) -> StageSummary:
    scores = [a["score"] for a in answers]
    questions = [a["question"] for a in answers if a.get("question")]

    def mean(key: str) -> float:
        return round(fmean(s[key] for s in scores), 4)

    return StageSummary(
        stage=name,
        title=title,
        learners=len(answers),
        probability_class=mean("probability_learner"),
        probability_engine=mean("probability_engine"),
        log_score_class=mean("log_score_learner"),
        log_score_engine=mean("log_score_engine"),
        brier_class=mean("brier_learner"),
        brier_engine=mean("brier_engine"),
        named_truth=round(fmean(s["true_rank_learner"] is not None for s in scores), 4),
        agreement=round(fmean(a["comparison"]["agreement"] for a in answers), 4),
        asked=len(questions),
        asked_most_informative=sum(bool(q["was_most_informative"]) for q in questions),
    )
