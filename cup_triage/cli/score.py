"""`cup-triage score PATH... -o OUT`: batch scoring of case files, folders and CSV exports."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ..io.batch import STDOUT, WORKERS_WORTH_IT, score_to_file
from ..io.capacity import default_jobs, estimated_cases
from ..io.load import CASE_SUFFIXES, iter_records
from ..io.partial import partial_path, replaceable_by_score
from ..io.render import to_json
from ..reasoning.errors import InputError, TryAgainError, WriteError
from ..reasoning.triage import ENGINES, EVALUATOR
from .common import Context, json_option, pass_context, stdin_format_option

TERMINATED = 143
"""Exit code after SIGTERM, as a shell reports a process ended by it (128 + 15)."""

STOP_SIGNALS = {signal.SIGTERM: (TERMINATED, "terminated")}
"""The signals that stop a batch as Ctrl-C does, with the exit code and the word it ends
with (128 + the signal, as a shell reports a process the signal ended)."""
if hasattr(signal, "SIGHUP"):  # the terminal closed, or an ssh session dropped
    STOP_SIGNALS[signal.SIGHUP] = (129, "hung up")


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler or `kill`) or SIGHUP (the terminal went away), handled like
    Ctrl-C: the partial output is kept."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _sigterm_as_interrupt() -> Iterator[list[int]]:
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        raise Terminated(signum)

    try:
        previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread (an embedding program): leave the signals alone
        yield received
        return
    try:
        yield received
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the rows: .jsonl for JSON Lines, .json for one JSON document, .csv "
    "for CSV, - for JSON Lines on standard output.",
)
@click.option(
    "--top-k",
    default=3,
    show_default=True,
    type=click.IntRange(1, 22),
    help="How many primaries per row.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run from OUTPUT.partial: cases already scored "
    "there are not scored again.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 256),
    default=None,
    show_default="the CPUs this process may use, less those other work keeps busy",
    help="Worker processes that score cases (a short batch is scored in this process).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=EVALUATOR,
    show_default=True,
    help="What fires the rules: the evaluator (the same firings as experta, in plain "
    "Python, much faster) or experta, the engine of record. The rows are the same bytes.",
)
@stdin_format_option
@json_option
@pass_context
def score(
    ctx: Context,
    paths: tuple[Path, ...],
    output: Path,
    top_k: int,
    resume: bool,
    jobs: int | None,
    engine: str,
    stdin_format: str,
    as_json: bool,
) -> None:
    """Score every case in PATHS (files, folders, FHIR Bundles, - for standard input: YAML or
    JSON, CSV with --stdin-format csv) and write one row per case to OUTPUT.

    Rows are written to OUTPUT.partial as they are scored; OUTPUT appears, whole, when the
    batch ends. A bad case is an error row and every other case is still scored; exit code 1
    if any case failed. Cases with `confirmed_primary` give top-1 and top-3 accuracy.
    """
    to_stdout = output == STDOUT
    jobs = jobs or default_jobs()
    if to_stdout and resume:
        raise click.BadParameter("--resume needs an output file, not -", param_hint="--resume")
    inputs = [] if to_stdout else _input_files(paths, output)
    if resume and not partial_path(output).is_file():
        click.echo(
            f"nothing to resume ({partial_path(output)} does not exist): scoring every case",
            err=True,
        )
    # Never read this run's output, or its partial output, as one of its inputs.
    skip = [] if to_stdout else [output, partial_path(output)]
    loaded = iter_records(paths, ctx.kb.vocabulary, skip=skip, stdin_format=stdin_format)
    show_progress = sys.stderr.isatty() and not as_json
    with _sigterm_as_interrupt() as terminated:
        try:
            try:
                summary, seconds = _run(
                    ctx,
                    loaded,
                    output,
                    top_k,
                    resume,
                    jobs,
                    engine,
                    _progress(show_progress, paths),
                    inputs,
                )
            except TryAgainError:
                if terminated:  # the workers died of the same signal first
                    raise Terminated(terminated[0]) from None
                raise
            except WriteError as error:
                if not to_stdout and partial_path(output).is_file():
                    error.hint = (
                        f"free some space, then run the same command with --resume: the rows "
                        f"scored so far are in {partial_path(output)}"
                    )
                raise
        except Terminated as stop:
            code, word = STOP_SIGNALS.get(stop.signum, (TERMINATED, "terminated"))
            with contextlib.suppress(OSError):  # after a hang-up stderr may be gone too
                click.echo(
                    f"\n{word}: the rows scored so far are in {partial_path(output)}; "
                    "run the same command with --resume to continue",
                    err=True,
                )
            sys.exit(code)
    if summary.resume_note:
        click.echo(f"resume: {summary.resume_note}; scored again from there", err=True)
    throughput = {
        "seconds": round(seconds, 3),
        "jobs": jobs,
        "workers": summary.workers,
        "cases_per_second": round(summary.cases / seconds, 1) if seconds else None,
    }
    if as_json:
        click.echo(
            to_json({**summary.as_dict(), **throughput, "output": str(output)}), err=to_stdout
        )
    else:
        for failure in summary.failures:
            click.echo(f"skipped: {failure}", err=True)
        if summary.failed > len(summary.failures):
            click.echo(
                f"… and {summary.failed - len(summary.failures)} more; every failure "
                f"is an error row in {output}",
                err=True,
            )
        line = (
            f"{summary.scored} of {summary.cases} cases scored, {summary.failed} failed → {output}"
        )
        if summary.resumed:
            line += f" ({summary.resumed} read back from the interrupted run)"
        line += (
            f"\n{summary.cases} cases in {seconds:.1f} s "
            f"({throughput['cases_per_second']} cases/s, {summary.workers or 1} job(s)"
            + (
                f"; {jobs} asked for, but a batch under {WORKERS_WORTH_IT} cases is scored "
                "faster in one process)"
                if jobs > 1 and not summary.workers
                else ")"
            )
        )
        if summary.confirmed:
            line += (
                f"\naccuracy on {summary.confirmed} confirmed cases: "
                f"top-1 {summary.top1_accuracy:.1%}, top-3 {summary.top3_accuracy:.1%}"
            )
        click.echo(line, err=to_stdout)
    if summary.failed:
        sys.exit(1)


def _input_files(paths: tuple[Path, ...], output: Path) -> list[os.stat_result]:
    """The status of every input named as a file; the output must be none of them (not by
    name, not through a link, not as a hard link)."""
    found = []
    for path in paths:
        try:
            status = path.stat()
        except OSError:
            continue  # reported as an error row by the loader
        if path.resolve() == output.resolve() or _same(status, output):
            raise InputError("the output would overwrite an input file", file=str(output))
        if path.is_dir() and _case_file_inside(output, path):
            raise InputError(
                f"the output would overwrite a case file in the input folder {path}",
                file=str(output),
                hint="choose another output; a file an earlier score run wrote may be replaced",
            )
        found.append(status)
    if _case_file_outside(output):
        raise InputError(
            "the output would overwrite a file that is not an earlier score output (a case "
            "file, or another program's)",
            file=str(output),
            hint="choose another output, or remove the file first",
        )
    return found


def _case_file_outside(output: Path) -> bool:
    """Whether the output is an existing .json or .csv file that no score run wrote (a
    registry export, another batch's cases): replacing it would lose it without a word."""
    try:
        if output.suffix.lower() not in CASE_SUFFIXES or output.stat().st_size == 0:
            return False  # an empty file holds nothing to lose
    except OSError:
        return False  # absent, or reported when the output is opened
    return output.is_file() and not replaceable_by_score(output)


def _case_file_inside(output: Path, folder: Path) -> bool:
    """Whether the output is an existing case file under an input folder: the folder's walk
    leaves the output out (it must never read its own rows back), so without this check the
    run would drop that file's cases and then write over it."""
    if output.suffix.lower() not in CASE_SUFFIXES or not output.is_file():
        return False
    if not output.resolve().is_relative_to(folder.resolve()):
        return False
    return not replaceable_by_score(output)


def _same(status: os.stat_result, path: Path) -> bool:
    try:
        other = path.stat()
    except OSError:
        return False
    return (status.st_dev, status.st_ino) == (other.st_dev, other.st_ino)


def _run(ctx, loaded, output, top_k, resume, jobs, engine, progress, inputs):
    with progress as advance:
        started = time.perf_counter()
        summary = score_to_file(
            loaded,
            ctx.triage_fired_by(engine),
            output,
            top_k,
            resume=resume,
            strict=ctx.debug,
            jobs=jobs,
            on_row=lambda row: advance(),
            inputs=inputs,
        )
        return summary, time.perf_counter() - started


REFRESH_SECONDS = 0.1


@contextmanager
def _progress(shown: bool, paths: tuple[Path, ...]) -> Iterator[Callable[[], None]]:
    """A progress bar on the terminal, with a total and the time left when the input's size
    can be told in advance; yields the function that counts one row.

    It is redrawn from the rows as they come (at most every REFRESH_SECONDS), not by a thread
    of its own: a process without threads can fork its workers safely.
    """
    if not shown:
        yield lambda: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    total = estimated_cases(paths)
    columns = [SpinnerColumn(), TextColumn("scoring"), BarColumn()]
    if total:
        # Two bare times side by side ("0:00:23 0:00:02") do not say which is which.
        columns += [MofNCompleteColumn(), TextColumn("cases,"), TimeRemainingColumn()]
        columns += [TextColumn("left,")]
    else:
        columns += [TextColumn("{task.completed} cases,")]
    columns += [TimeElapsedColumn(), TextColumn("elapsed")]
    with Progress(*columns, auto_refresh=False, transient=True) as progress:
        task = progress.add_task("score", total=total or None)
        last = time.monotonic()
        done = 0

        def advance() -> None:
            nonlocal last, done
            done += 1
            now = time.monotonic()
            if now - last >= REFRESH_SECONDS:
                last = now
                if total and done > total:  # the estimate was short
                    progress.update(task, total=done)
                progress.update(task, completed=done, refresh=True)

        yield advance
