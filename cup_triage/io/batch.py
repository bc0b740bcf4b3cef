"""Streams cases to result rows or error rows, written resumably and atomically; accuracy."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

import yaml
from pydantic_core import PydanticSerializationError

from ..reasoning.case import Case
from ..reasoning.errors import CaseError, CupTriageError, TryAgainError, one_line, same_id
from ..reasoning.knowledge import KnowledgeBase
from ..reasoning.triage import Triage
from ..reasoning.vocabulary import Vocabulary
from .files import atomic_output
from .load import LoadedCase, PendingCase
from .partial import DIGEST, Resumed, resumable_output, row_format
from .render import error_row, score_row, to_json

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
    resume_note: str | None = None
    """Why rows of the interrupted run were scored again (None when all were kept)."""
    workers: int = 0
    """Worker processes that scored the batch: 0 where it was scored in this process (one
    job asked for, or a batch too short for workers to gain: WORKERS_WORTH_IT)."""

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
    case still to score. `key` binds the row to the case as read, the knowledge base and the
    options (see `row_digest`)."""

    row: dict[str, Any] | None = None
    case: Case | None = None
    file: str = ""
    resumed: bool = False
    key: str = ""
    item: PendingCase | LoadedCase | None = None
    """A case still to check as well as score (in a worker when there are workers); the
    duplicate-id check then follows in input order, as its row comes back."""


ROW_DIGEST_VERSION = "cup-triage row 2"


def input_key(case: Case | None, file: str, triage: Triage, top_k: int) -> str:
    """What a row depends on besides its content: the case as read (every field, notes too),
    its file, the knowledge base's hash and the options."""
    payload = json.dumps(
        [ROW_DIGEST_VERSION, file, triage.stamp.hash, top_k], ensure_ascii=True, default=repr
    )
    digest = hashlib.sha256(payload.encode())
    if case is not None:
        digest.update(b"\n" + _case_text(case))
    return digest.hexdigest()


def _case_text(case: Case) -> bytes:
    """The case as JSON, fields in the model's order (pydantic's serializer: about a fifth of
    the cost of dumping the model to Python and encoding that, paid for every row). Free-form
    notes it cannot encode (bytes that are not UTF-8) go the slow way."""
    try:
        return case.model_dump_json(fallback=repr).encode()
    except PydanticSerializationError:
        text = json.dumps(case.model_dump(mode="python"), ensure_ascii=True, default=repr)
        return b"python " + text.encode()


def _comparable(row: dict[str, Any]) -> dict[str, str]:
    """A row as text, whichever format it was read back from (CSV reads every value as text;
    JSON keeps numbers, null and lists). Every column counts, empty ones too, so a column
    renamed in the file changes the digest even where its value is empty."""
    return {
        k: "" if v in ("", None, []) else "|".join(map(str, v)) if isinstance(v, list) else str(v)
        for k, v in row.items()
        if k != DIGEST
    }


def row_digest(row: dict[str, Any], key: str) -> str:
    """The digest written with a row: its content and its `input_key`. A row read back by
    --resume is kept only if the digest still matches, so a case edited since, another
    knowledge base or --top-k, or a hand-edited row is scored again. (A plain hash, not a
    signature: it catches changes, not someone who recomputes it on purpose.)"""
    text = key + "\n" + to_json(_comparable(row))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def score_rows(
    loaded: Iterable[LoadedCase | PendingCase],
    triage: Triage,
    top_k: int,
    summary: BatchSummary,
    *,
    done: Resumed | None = None,
    strict: bool = False,
    jobs: int = 1,
) -> Iterator[dict[str, Any]]:
    """One row per case, in input order; a bad case becomes an error row, never a stop.

    `done` holds the rows an interrupted run already wrote for the first cases: while they
    are the rows this run would write, they are counted but neither scored again nor
    yielded; from the first that is not, `done.reject()` cuts it and the rest from the file
    and every later case is scored. With `strict`, an unexpected exception while scoring
    propagates (for --debug) instead of becoming an error row. `jobs` > 1 checks and scores
    the cases (a `PendingCase` is checked there too) in that many worker processes; the rows
    still come in input order, so the output is the same bytes whatever the number of jobs.
    """
    seen = _Seen()
    tasks = _tasks(loaded, triage, top_k, summary, done, seen)
    # Workers pay off only for a batch long enough that splitting it gains more than starting
    # them and handing them the cases costs: the first cases decide.
    first = list(islice(tasks, WORKERS_WORTH_IT))
    if jobs > 1 and len(first) == WORKERS_WORTH_IT:
        summary.workers = jobs
        rows = _rows_in_workers(chain(first, tasks), triage, top_k, strict, jobs)
    else:
        rows = (
            (task, _outcome(_payload(task), triage, top_k, strict)) for task in chain(first, tasks)
        )
    # Closed here, whatever stops the batch (a full disk, Ctrl-C): a worker pool left to the
    # garbage collector would be shut down from whichever thread collects it.
    with closing(rows):
        for task, (case_id, row) in rows:
            if case_id is not None:  # checked with the case: the duplicate check, in order
                row = seen.checked(case_id, task, row, triage, top_k)
            summary.count(row)
            if not task.resumed:
                yield row


class _Seen:
    """The case ids met so far in the batch (as `same_id` compares them) and their files."""

    def __init__(self) -> None:
        self._first: dict[str, tuple[str, str]] = {}

    def duplicate(self, case_id: str, file: str, line: int | None) -> CaseError | None:
        """The error of a case whose id an earlier case has; else None, and the id is noted
        with where it is, so that the error points at both cases."""
        same = same_id(case_id)
        first = self._first.get(same)
        if first is None:
            self._first[same] = (case_id, f"{file}:{line}" if line else file)
            return None
        alike = (
            ""
            if first[0] == case_id
            else f": the same as {one_line(first[0])!r} once width, case and spaces are ignored"
        )
        return CaseError(
            f"duplicate case id{alike} (first in {first[1]})",
            file=file,
            line=line,
            case=case_id,
            field="id",
        )

    def checked(
        self, case_id: str, task: _Task, row: dict[str, Any], triage: Triage, top_k: int
    ) -> dict[str, Any]:
        """The row of a case scored before its id was checked: an error row if a duplicate."""
        assert task.item is not None  # only a case checked with its scoring has an id to check
        file = task.item.file
        error = self.duplicate(case_id, file, _line(task.item))
        if error is None:
            return row
        item = LoadedCase(file=file, error=error)
        return _error_row(item, error, input_key(None, file, triage, top_k), top_k, triage)


def _tasks(
    loaded: Iterable[LoadedCase | PendingCase],
    triage: Triage,
    top_k: int,
    summary: BatchSummary,
    done: Resumed | None,
    seen: _Seen,
) -> Iterator[_Task]:
    """Checks that need the whole stream in order (duplicate ids, resumed rows) stay in the
    main process. While rows are read back, each case is checked here; after that, a case is
    checked where it is scored, and its id when its row comes back (`_Seen.checked`)."""
    previous_rows = iter(done) if done is not None else iter(())
    resuming = done is not None
    for item in loaded:
        if not resuming:
            yield _Task(item=item)
            continue
        line = _line(item)
        if isinstance(item, PendingCase):
            item = item.load(triage.kb.vocabulary)
        error = item.error
        if error is None:
            error = seen.duplicate(item.case.id, item.file, line)
        key = input_key(item.case if error is None else None, item.file, triage, top_k)
        fresh = None if error is None else _error_row(item, error, key, top_k, triage)
        previous = next(previous_rows, None)
        if previous is not None and _still_holds(previous, fresh, key):
            summary.resumed += 1
            yield _Task(row=previous, resumed=True)
            continue
        resuming = False
        if previous is not None:
            done.reject(_why_scored_again(previous, item, triage, top_k))
        yield (
            _Task(row=fresh)
            if fresh is not None
            else _Task(case=item.case, file=item.file, key=key)
        )
    if resuming and next(previous_rows, None) is not None:
        done.reject("the interrupted run has more rows than the input has cases")


def _line(item: PendingCase | LoadedCase) -> int | None:
    """The line a case starts on in its file, when it is one of several there."""
    return item.record.line if isinstance(item, PendingCase) and item.record.index else None


def _why_scored_again(
    previous: dict[str, Any], item: LoadedCase, triage: Triage, top_k: int
) -> str:
    """Why a row read back is not kept, as the user would look for it: another knowledge base
    or --top-k changes every row, not just the case where it was noticed."""
    hash_before = str(previous.get("kb_hash") or "")
    if hash_before and hash_before != triage.stamp.hash:
        return (
            f"the knowledge base is not the interrupted run's (hash {one_line(hash_before)} → "
            f"{triage.stamp.hash})"
        )
    top_before = sum(1 for name in previous if re.fullmatch(r"top\d+", name))
    if top_before and top_before != top_k:
        return f"--top-k is not the interrupted run's ({top_before} → {top_k})"
    was = (previous.get("case_id"), previous.get("file"))
    if item.case_id is not None and was[0] is not None and was != (item.case_id, item.file):
        return (
            f"the interrupted run's next row is case {one_line(str(was[0]))} of "
            f"{one_line(str(was[1]))}, not {_named(item)} (other inputs, or in another order)"
        )
    return f"{_named(item)}, or its row, changed since the interrupted run"


def _named(item: LoadedCase) -> str:
    return f"case {one_line(item.case_id or '?')} of {one_line(item.file)}"


def _still_holds(previous: dict[str, Any], fresh: dict[str, Any] | None, key: str) -> bool:
    """Whether a row read back is the row this run would write: an error row must be the
    error this run finds (so a fixed case is scored), a scored row must match its digest."""
    if fresh is not None:
        return _comparable(previous) == _comparable(fresh) and str(previous.get(DIGEST, "")) == str(
            fresh[DIGEST]
        )
    return previous.get("status") == "ok" and str(previous.get(DIGEST, "")) == row_digest(
        previous, key
    )


_Payload = tuple[Any, ...]
"""What scoring one task needs, as sent to a worker: (known row, case, file, key, item)."""


def _payload(task: _Task) -> _Payload:
    return (task.row, task.case, task.file, task.key, task.item)


def _outcome(
    payload: _Payload, triage: Triage, top_k: int, strict: bool
) -> tuple[str | None, dict[str, Any]]:
    """The row of one task with its digest, and the id still to check for duplicates (None
    if there is none to check: the row is known, or the case was checked already)."""
    row, case, file, key, item = payload
    if row is not None:
        return None, row
    case_id = None
    if item is not None:
        loaded = item.load(triage.kb.vocabulary) if isinstance(item, PendingCase) else item
        file = loaded.file
        if loaded.error is not None:
            key = input_key(None, file, triage, top_k)
            return None, _error_row(loaded, loaded.error, key, top_k, triage)
        case = loaded.case
        case_id = case.id
        key = input_key(case, file, triage, top_k)
    row = _scored(case, file, triage, top_k, strict)
    return case_id, {**row, DIGEST: row_digest(row, key)}


CHUNK = 64
"""Cases sent to a worker at a time: large enough to amortise the hand-over, small enough to
keep every worker busy and the output flowing."""

WORKERS_WORTH_IT = 8 * CHUNK
"""Below this many cases a batch is scored in this process. Measured with bench/workers.py on
two cores shared with other work (load average 9-10): forked workers broke even at about 500
cases and were faster from 2,000 on; a quieter machine gains earlier. Below, their start and
the hand-over of cases cost more than the split gains. (Whether the machine has CPUs to spare
at all is for the default --jobs to judge: io/capacity.py.)"""

_worker_triage: Triage | None = None


_STOPS = {signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])}


@contextmanager
def _stops_held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while a submit may start a worker: the worker inherits
    the mask, so a signal to the process group cannot interrupt it half-imported (with a
    traceback); the worker releases them once it ignores Ctrl-C, and here a held signal is
    delivered as soon as the submit returns (as the resource tracker is started)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _start_worker(kb: KnowledgeBase | None, fired_by: str, parent: int) -> None:
    """Set up a worker; a spawned one (kb given) builds its own triage from the knowledge
    base, a forked one already holds the parent's, rules compiled and modules imported."""
    global _worker_triage
    _die_with(parent)
    # Ctrl-C reaches the whole process group: the parent stops the batch and keeps the
    # partial output; a worker that also raised KeyboardInterrupt would only print a
    # traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stop in _STOPS - {signal.SIGINT}:  # a forked worker has the parent's handlers
        signal.signal(stop, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
    if kb is not None:
        _worker_triage = Triage(kb, fired_by)


def _pool(triage: Triage, jobs: int) -> ProcessPoolExecutor:
    """Worker processes, forked from this one when it runs no other thread (on Linux): they
    start in milliseconds, sharing the imported modules and the compiled rules. Otherwise
    spawned, each importing the package and compiling the rules again (about a second):
    forking a process with other threads could hand the child a lock held forever."""
    global _worker_triage
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        _worker_triage = triage  # what the forked workers inherit
        triage.evaluator.prepare()
        context = multiprocessing.get_context("fork")
        initargs: tuple = (None, triage.fired_by, os.getpid())
    else:
        context = multiprocessing.get_context("spawn")
        initargs = (triage.kb, triage.fired_by, os.getpid())
    return ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker, initargs=initargs
    )


PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """End this worker when the parent ends, however it ends (SIGKILL included): a worker
    blocked on the task queue would otherwise wait forever, and keep the resource tracker
    alive with it. Linux delivers a signal on the parent's death; elsewhere a thread polls."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        threading.Event().wait(1.0)
    os._exit(1)


def _score_chunk(
    payloads: list[_Payload], top_k: int, strict: bool
) -> list[tuple[str | None, dict[str, Any]]]:
    assert _worker_triage is not None  # set when the worker started
    return [_outcome(payload, _worker_triage, top_k, strict) for payload in payloads]


def _rows_in_workers(
    tasks: Iterator[_Task], triage: Triage, top_k: int, strict: bool, jobs: int
) -> Iterator[tuple[_Task, tuple[str | None, dict[str, Any]]]]:
    """Score chunks of cases in worker processes, a bounded number ahead, in input order."""
    with _pool(triage, jobs) as pool:
        pending: deque = deque()
        try:
            for chunk in _chunks(tasks, CHUNK):
                payloads = [_payload(t) for t in chunk if t.row is None]
                with _stops_held():
                    future = pool.submit(_score_chunk, payloads, top_k, strict)
                pending.append((chunk, future))
                if len(pending) > 2 * jobs:
                    yield from _merged(*pending.popleft())
            while pending:
                yield from _merged(*pending.popleft())
        except BrokenProcessPool as exc:
            raise TryAgainError(
                "a worker process ended while scoring (stopped by a signal such as kill, "
                "or by the system, perhaps for lack of memory)",
                hint="the rows scored so far are kept: run again with --resume, "
                "perhaps with fewer --jobs",
            ) from exc
        finally:
            pool.shutdown(cancel_futures=True)


def _merged(
    chunk: list[_Task], future: Any
) -> Iterator[tuple[_Task, tuple[str | None, dict[str, Any]]]]:
    scored = iter(future.result())
    for task in chunk:
        yield task, (None, task.row) if task.row is not None else next(scored)


def _chunks(tasks: Iterator[_Task], size: int) -> Iterator[list[_Task]]:
    while chunk := list(islice(tasks, size)):
        yield chunk


def _scored(case: Case, file: str, triage: Triage, top_k: int, strict: bool) -> dict[str, Any]:
    try:
        ranked = triage.rank(case)
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
        return error_row(
            one_line(case.id), str(error), one_line(file), top_k, triage.stamp, triage.kb.vocabulary
        )
    row = score_row(ranked, top_k, triage.kb.vocabulary, case.histology)
    return {**row, "file": one_line(file)}


def _error_row(
    item: LoadedCase, error: CupTriageError, key: str, top_k: int, triage: Triage
) -> dict[str, Any]:
    row = error_row(
        one_line(item.case_id or ""),
        str(error),
        one_line(item.file),
        top_k,
        triage.stamp,
        triage.kb.vocabulary,
    )
    return {**row, DIGEST: row_digest(row, key)}


STDOUT = Path("-")
"""`-o -`: the rows go to standard output as JSON Lines."""


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
    inputs: Iterable[os.stat_result] = (),
) -> BatchSummary:
    """Score a stream of cases into OUT (.jsonl/.json or .csv), one case in memory at a time.

    Rows go to OUT.partial as they are scored and OUT appears whole at the end; `resume`
    continues an interrupted run, and the result is the same bytes as an uninterrupted one.
    """
    summary = BatchSummary()
    if output == STDOUT:
        # `-o -`: JSON Lines on standard output as they are scored (nothing to resume).
        rows = score_rows(loaded, triage, top_k, summary, strict=strict, jobs=jobs)
        with closing(rows):
            for row in rows:
                sys.stdout.write(to_json(row) + "\n")
                sys.stdout.flush()
                on_row(row)
        return summary
    form = row_format(output, top_k, triage.stamp)
    with resumable_output(output, form, resume=resume, inputs=list(inputs)) as sink:
        rows = score_rows(loaded, triage, top_k, summary, done=sink.done, strict=strict, jobs=jobs)
        with closing(rows):
            for row in rows:
                sink.write(row)
                on_row(row)
        if sink.done is not None:
            summary.resume_note = sink.done.note
    return summary


def write_case_file(case: Case, vocabulary: Vocabulary, output: Path) -> None:
    """Save a case as a case file that `rank`, `score` and `ask --resume` read back."""
    with atomic_output(output) as handle:
        yaml.safe_dump(case.to_file_dict(vocabulary), handle, sort_keys=False, allow_unicode=True)
