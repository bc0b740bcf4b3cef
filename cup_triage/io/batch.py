"""Streams cases to result rows or error rows, written resumably and atomically; accuracy."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any, TextIO

import yaml

from ..reasoning.case import Case
from ..reasoning.errors import CaseError, CupTriageError, InputError, one_line
from ..reasoning.knowledge import KnowledgeBase
from ..reasoning.triage import Triage
from ..reasoning.vocabulary import Vocabulary
from .load import LoadedCase
from .partial import resumable_output, row_format
from .render import score_row

FAILURES_KEPT = 50
"""Failure lines kept for the summary; every failure is an error row in the output."""


@dataclass
class BatchSummary:
    """Counts, the first failures and accuracy over a batch."""

    cases: int = 0
    scored: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    confirmed: int = 0
    top1_hits: int = 0
    top3_hits: int = 0
    resumed: int = 0

    @property
    def top1_accuracy(self) -> float | None:
        return self.top1_hits / self.confirmed if self.confirmed else None

    @property
    def top3_accuracy(self) -> float | None:
        return self.top3_hits / self.confirmed if self.confirmed else None

    def count(self, row: dict[str, Any]) -> None:
        """Count one row, freshly scored or read back from an interrupted run (where every
        value is text)."""
        self.cases += 1
        if row.get("status") != "ok":
            self.failed += 1
            if len(self.failures) < FAILURES_KEPT:
                self.failures.append(str(row.get("error", "")))
            return
        self.scored += 1
        if row.get("confirmed_primary"):
            self.confirmed += 1
            rank = int(row["confirmed_rank"])
            self.top1_hits += rank == 1
            self.top3_hits += rank <= 3

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "scored": self.scored,
            "failed": self.failed,
            "failures": self.failures,
            "confirmed": self.confirmed,
            "top1_accuracy": self.top1_accuracy,
            "top3_accuracy": self.top3_accuracy,
            "resumed": self.resumed,
        }


@dataclass(frozen=True)
class _Task:
    """One case on its way to a row: a row already known (read back, or an error), or a
    case still to score."""

    row: dict[str, Any] | None = None
    case: Case | None = None
    file: str = ""
    resumed: bool = False


def score_rows(
    loaded: Iterable[LoadedCase],
    triage: Triage,
    top_k: int,
    summary: BatchSummary,
    *,
    done: Iterable[dict[str, Any]] = (),
    strict: bool = False,
    jobs: int = 1,
) -> Iterator[dict[str, Any]]:
    """One row per case, in input order; a bad case becomes an error row, never a stop.

    `done` holds the rows an interrupted run already wrote for the first cases: those cases
    are checked against them and counted, but neither scored again nor yielded. With
    `strict`, an unexpected exception while scoring propagates (for --debug) instead of
    becoming an error row. `jobs` > 1 scores in that many worker processes; the rows still
    come in input order, so the output is the same bytes whatever the number of jobs.
    """
    tasks = _tasks(loaded, triage, top_k, summary, iter(done))
    # Starting workers costs about a second each (import, compile the engine): only a batch
    # longer than a few chunks is worth it, so the first ones decide.
    first = list(islice(tasks, WORKERS_WORTH_IT))
    if jobs > 1 and len(first) == WORKERS_WORTH_IT:
        rows = _rows_in_workers(chain(first, tasks), triage, top_k, strict, jobs)
    else:
        rows = ((task, _row(task, triage, top_k, strict)) for task in chain(first, tasks))
    for task, row in rows:
        summary.count(row)
        if not task.resumed:
            yield row


def _tasks(
    loaded: Iterable[LoadedCase],
    triage: Triage,
    top_k: int,
    summary: BatchSummary,
    done: Iterator[dict[str, Any]],
) -> Iterator[_Task]:
    """Checks that need the whole stream in order (duplicate ids, resumed rows) stay here, in
    the main process; only the scoring itself may go to workers."""
    seen: dict[str, str] = {}
    for position, item in enumerate(loaded, 1):
        error = item.error
        if error is None and item.case.id in seen:
            error = CaseError(
                f"duplicate case id (first in {seen[item.case.id]})",
                file=item.file,
                case=item.case.id,
                field="id",
            )
        previous = next(done, None)
        if previous is not None:
            _check_resumed(previous, item, error, position, triage, top_k)
            summary.resumed += 1
            yield _Task(row=previous, resumed=True)
        elif error is None:
            yield _Task(case=item.case, file=item.file)
        else:
            yield _Task(row=_error_row(item, error))
        if error is None:
            seen[item.case.id] = item.file
    if next(done, None) is not None:
        raise InputError(
            "the interrupted run has more rows than the input has cases",
            hint="the input changed; run again without --resume",
        )


def _row(task: _Task, triage: Triage, top_k: int, strict: bool) -> dict[str, Any]:
    if task.row is not None:
        return task.row
    return _scored(task.case, task.file, triage, top_k, strict)


CHUNK = 64
"""Cases sent to a worker at a time: large enough to amortise the hand-over, small enough to
keep every worker busy and the output flowing."""

WORKERS_WORTH_IT = 8 * CHUNK
"""Below this many cases a batch is scored in this process: worker start-up would cost more."""

_worker_triage: Triage | None = None


def _start_worker(kb: KnowledgeBase, fired_by: str) -> None:
    global _worker_triage
    _worker_triage = Triage(kb, fired_by)


def _score_chunk(cases: list[tuple[Case, str]], top_k: int, strict: bool) -> list[dict[str, Any]]:
    return [_scored(case, file, _worker_triage, top_k, strict) for case, file in cases]


def _rows_in_workers(
    tasks: Iterator[_Task], triage: Triage, top_k: int, strict: bool, jobs: int
) -> Iterator[tuple[_Task, dict[str, Any]]]:
    """Score chunks of cases in worker processes, a bounded number ahead, in input order."""
    # spawn, not fork: the progress bar runs a thread, and forking a threaded process can hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker, initargs=(triage.kb, triage.fired_by)
    ) as pool:
        pending: deque = deque()
        try:
            for chunk in _chunks(tasks, CHUNK):
                cases = [(t.case, t.file) for t in chunk if t.case is not None]
                pending.append((chunk, pool.submit(_score_chunk, cases, top_k, strict)))
                if len(pending) > 2 * jobs:
                    yield from _merged(*pending.popleft())
            while pending:
                yield from _merged(*pending.popleft())
        finally:
            pool.shutdown(cancel_futures=True)


def _merged(chunk: list[_Task], future: Any) -> Iterator[tuple[_Task, dict[str, Any]]]:
    scored = iter(future.result())
    for task in chunk:
        yield task, task.row if task.case is None else next(scored)


def _chunks(tasks: Iterator[_Task], size: int) -> Iterator[list[_Task]]:
    while chunk := list(islice(tasks, size)):
        yield chunk


def _scored(case: Case, file: str, triage: Triage, top_k: int, strict: bool) -> dict[str, Any]:
    try:
        assessment = triage.assess(case, suggest=False, explain=False)
    except Exception as exc:
        # One case that trips a bug must not cost the other cases of a long batch: it
        # becomes an error row (exit 1) that names the case; --debug raises it instead.
        if strict:
            raise
        error = CupTriageError(
            f"internal error while scoring: {type(exc).__name__}: {exc}",
            file=file,
            case=case.id,
            hint="please report it; --debug shows the traceback",
        )
        return {
            "case_id": one_line(case.id),
            "status": "error",
            "error": str(error),
            "file": one_line(file),
        }
    return {**score_row(assessment, top_k), "file": one_line(file)}


def _error_row(item: LoadedCase, error: CupTriageError) -> dict[str, Any]:
    return {
        "case_id": one_line(item.case_id or ""),
        "status": "error",
        "error": str(error),
        "file": one_line(item.file),
    }


def _check_resumed(
    row: dict[str, Any],
    item: LoadedCase,
    error: CupTriageError | None,
    position: int,
    triage: Triage,
    top_k: int,
) -> None:
    """A row read back must be the row this run would write for the same case: same case,
    same file, still valid, same knowledge base, same number of primaries."""
    problem = None
    if (str(row.get("case_id", "")), str(row.get("file", ""))) != (
        one_line(item.case_id or ""),
        one_line(item.file),
    ):
        problem = (
            f"row {position} is case {row.get('case_id')!r} of {row.get('file')}, "
            f"the input has case {item.case_id!r} of {item.file} there"
        )
    elif row.get("status") == "ok" and error is not None:
        problem = f"row {position} was scored, but case {item.case_id!r} is now invalid"
    elif row.get("status") == "ok" and row.get("kb_hash") != triage.stamp.hash:
        problem = (
            f"row {position} was scored with knowledge base {row.get('kb_hash')}, "
            f"this run uses {triage.stamp.hash}"
        )
    elif row.get("status") == "ok" and (f"top{top_k}" not in row or f"top{top_k + 1}" in row):
        problem = f"row {position} was written with another --top-k"
    if problem:
        raise InputError(
            f"cannot resume: {problem}",
            hint="the input or the options changed; run again without --resume",
        )


def score_to_file(
    loaded: Iterable[LoadedCase],
    triage: Triage,
    output: Path,
    top_k: int,
    *,
    resume: bool = False,
    strict: bool = False,
    jobs: int = 1,
    on_row: Callable[[dict[str, Any]], None] = lambda row: None,
) -> BatchSummary:
    """Score a stream of cases into OUT (.jsonl/.json or .csv), one case in memory at a time.

    Rows go to OUT.partial as they are scored and OUT appears whole at the end; `resume`
    continues an interrupted run, and the result is the same bytes as an uninterrupted one.
    """
    form = row_format(output, top_k)
    summary = BatchSummary()
    with resumable_output(output, form, resume=resume) as sink:
        rows = score_rows(loaded, triage, top_k, summary, done=sink.done, strict=strict, jobs=jobs)
        for row in rows:
            sink.write(row)
            on_row(row)
    return summary


@contextmanager
def atomic_output(output: Path) -> Iterator[TextIO]:
    """A text file that appears at `output` whole or not at all (written aside, then renamed)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    # Closed by the with-block below; its name must outlive it for the rename.
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
        "w",
        encoding="utf-8",
        newline="",
        dir=output.parent,
        prefix=f".{output.name}.",
        suffix=".part",
        delete=False,
    )
    try:
        with handle:
            yield handle
        os.replace(handle.name, output)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_case_file(case: Case, vocabulary: Vocabulary, output: Path) -> None:
    """Save a case as a case file that `rank`, `score` and `ask --resume` read back."""
    with atomic_output(output) as handle:
        yaml.safe_dump(case.to_file_dict(vocabulary), handle, sort_keys=False, allow_unicode=True)
