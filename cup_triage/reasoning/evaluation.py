"""Accuracy and calibration over cases with a confirmed primary: top-1/top-3, proper scores,
stated confidence against hit rate, recall per primary, confusions and reliability."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from .assessment import Assessment

OTHER = "other"
"""The class of a primary not on the list, in the proper scores."""

CONFIDENT = 0.95
"""A call stated at this probability or above is a confident call; a wrong one is counted."""

BINS = 10
LOG_FLOOR = 1e-6
"""Probabilities are floored here in the log score, so one impossible truth costs about 13.8
nats instead of infinity (and is still listed among the confident wrong calls)."""


class _Value(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, allow_inf_nan=False)


class CaseResult(_Value):
    """One case: the truth, where it was ranked and what was stated."""

    case_id: str
    confirmed: str
    rank: int
    top: str
    top_probability: float
    truth_probability: float
    other_probability: float
    brier: float
    log_loss: float


class ReliabilityBin(_Value):
    low: float
    high: float
    count: int
    mean_stated: float | None
    observed: float | None


class Recall(_Value):
    primary: str
    cases: int
    top1: float
    top3: float


class Confusion(_Value):
    confirmed: str
    ranked_first: str
    count: int


class SetReport(_Value):
    """Accuracy and calibration of one set of cases."""

    name: str
    cases: int
    skipped: int
    unconfirmed: int
    top1: float | None
    top3: float | None
    brier: float | None
    log_loss: float | None
    mean_top_probability: float | None
    calibration_gap: float | None
    """Mean stated top-1 probability minus the top-1 hit rate (positive: overconfident)."""
    expected_calibration_error: float | None
    mean_other_probability: float | None
    confident_calls: int
    confident_wrong: tuple[str, ...]
    recall: tuple[Recall, ...]
    confusions: tuple[Confusion, ...]
    reliability_top: tuple[ReliabilityBin, ...]
    reliability_all: tuple[ReliabilityBin, ...]
    results: tuple[CaseResult, ...]


def case_result(assessment: Assessment) -> CaseResult:
    """Score one assessed case against its confirmed primary."""
    truth = assessment.confirmed_primary
    if truth is None:
        raise ValueError(f"case {assessment.case_id} has no confirmed primary")
    probabilities = {c.primary: c.probability for c in assessment.candidates}
    other = assessment.other_primary.probability
    probabilities[OTHER] = other
    ranked = [c.primary for c in assessment.candidates]
    rank = ranked.index(truth) + 1 if truth in ranked else len(ranked) + 1
    # A confirmed primary the list does not hold is scored as the "not on the list" class.
    truth_class = truth if truth in probabilities else OTHER
    truth_p = probabilities[truth_class]
    brier = sum((p - (k == truth_class)) ** 2 for k, p in probabilities.items())
    top = assessment.candidates[0]
    return CaseResult(
        case_id=assessment.case_id,
        confirmed=truth,
        rank=rank,
        top=top.primary,
        top_probability=top.probability,
        truth_probability=truth_p,
        other_probability=other,
        brier=round(brier, 6),
        log_loss=round(-math.log(max(truth_p, LOG_FLOOR)), 6),
    )


def set_report(
    name: str,
    assessments: Iterable[Assessment],
    *,
    skipped: int = 0,
    confusions_shown: int = 10,
) -> SetReport:
    """Everything `cup-triage evaluate` reports for one set of cases."""
    results: list[CaseResult] = []
    every: list[tuple[float, bool]] = []
    unconfirmed = 0
    for assessment in assessments:
        if assessment.confirmed_primary is None:
            unconfirmed += 1
            continue
        result = case_result(assessment)
        results.append(result)
        truth = assessment.confirmed_primary
        every += [(c.probability, c.primary == truth) for c in assessment.candidates]
        every.append((assessment.other_primary.probability, False))
    n = len(results)

    def mean(values: Sequence[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    top1 = mean([r.rank == 1 for r in results])
    mean_top = mean([r.top_probability for r in results])
    confident = [r for r in results if r.top_probability >= CONFIDENT]
    reliability_top = _reliability([(r.top_probability, r.rank == 1) for r in results])
    return SetReport(
        name=name,
        cases=n,
        skipped=skipped,
        unconfirmed=unconfirmed,
        top1=top1,
        top3=mean([r.rank <= 3 for r in results]),
        brier=mean([r.brier for r in results]),
        log_loss=mean([r.log_loss for r in results]),
        mean_top_probability=mean_top,
        calibration_gap=None if mean_top is None or top1 is None else round(mean_top - top1, 4),
        expected_calibration_error=_ece(reliability_top, n),
        mean_other_probability=mean([r.other_probability for r in results]),
        confident_calls=len(confident),
        confident_wrong=tuple(sorted(r.case_id for r in confident if r.rank != 1)),
        recall=_recall(results),
        confusions=_confusions(results, confusions_shown),
        reliability_top=reliability_top,
        reliability_all=_reliability(every),
        results=tuple(results),
    )


def _reliability(pairs: Sequence[tuple[float, bool]]) -> tuple[ReliabilityBin, ...]:
    """Stated probability against observed frequency, in ten equal bins (1.0 in the last)."""
    bins = []
    for index in range(BINS):
        low, high = index / BINS, (index + 1) / BINS
        inside = [
            (p, hit) for p, hit in pairs if low <= p < high or (index == BINS - 1 and p >= high)
        ]
        bins.append(
            ReliabilityBin(
                low=low,
                high=high,
                count=len(inside),
                mean_stated=round(sum(p for p, _ in inside) / len(inside), 4) if inside else None,
                observed=round(sum(hit for _, hit in inside) / len(inside), 4) if inside else None,
            )
        )
    return tuple(bins)


def _ece(bins: Sequence[ReliabilityBin], n: int) -> float | None:
    """Expected calibration error of the top candidate: the count-weighted mean distance
    between stated and observed in the reliability bins."""
    if not n:
        return None
    total = sum(
        b.count * abs(b.mean_stated - b.observed)
        for b in bins
        if b.mean_stated is not None and b.observed is not None
    )
    return round(total / n, 4)


def _recall(results: Sequence[CaseResult]) -> tuple[Recall, ...]:
    by_primary: dict[str, list[CaseResult]] = {}
    for result in results:
        by_primary.setdefault(result.confirmed, []).append(result)
    return tuple(
        Recall(
            primary=primary,
            cases=len(items),
            top1=round(sum(r.rank == 1 for r in items) / len(items), 4),
            top3=round(sum(r.rank <= 3 for r in items) / len(items), 4),
        )
        for primary, items in sorted(by_primary.items())
    )


def _confusions(results: Sequence[CaseResult], shown: int) -> tuple[Confusion, ...]:
    pairs = Counter((r.confirmed, r.top) for r in results if r.rank != 1)
    ordered = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Confusion(confirmed=a, ranked_first=b, count=c) for (a, b), c in ordered[:shown])
