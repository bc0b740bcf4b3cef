"""`cup-triage score PATH... -o OUT`: batch scoring of case files, folders and CSV exports."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..io.batch import score_to_file
from ..io.load import iter_cases
from ..io.partial import partial_path
from ..io.render import to_json
from ..reasoning.errors import InputError
from ..reasoning.triage import ENGINES, EVALUATOR, Triage
from .common import Context, json_option, pass_context


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the rows: .jsonl (or .json) for JSON lines, .csv for CSV.",
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
    default=os.cpu_count() or 1,
    show_default="all cores",
    help="Worker processes that score cases.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=EVALUATOR,
    show_default=True,
    help="What fires the rules: the evaluator (the same firings as experta, in plain "
    "Python, much faster) or experta, the engine of record. The rows are the same bytes.",
)
@json_option
@pass_context
def score(
    ctx: Context,
    paths: tuple[Path, ...],
    output: Path,
    top_k: int,
    resume: bool,
    jobs: int,
    engine: str,
    as_json: bool,
) -> None:
    """Score every case in PATHS (files or folders) and write one row per case to OUTPUT.

    Rows are written to OUTPUT.partial as they are scored; OUTPUT appears, whole, when the
    batch ends. A bad case is an error row and every other case is still scored; exit code 1
    if any case failed. Cases with `confirmed_primary` give top-1 and top-3 accuracy.
    """
    if output.resolve() in {path.resolve() for path in paths}:
        raise InputError("the output would overwrite an input file", file=str(output))
    if resume and not partial_path(output).is_file():
        click.echo(
            f"nothing to resume ({partial_path(output)} does not exist): scoring every case",
            err=True,
        )
    loaded = iter_cases(paths, ctx.kb.vocabulary)
    show_progress = sys.stderr.isatty() and not as_json
    with Progress(
        SpinnerColumn(),
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.completed} cases"),
        TimeElapsedColumn(),
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task("score", total=None)
        started = time.perf_counter()
        summary = score_to_file(
            loaded,
            Triage(ctx.kb, fired_by=engine),
            output,
            top_k,
            resume=resume,
            strict=ctx.debug,
            jobs=jobs,
            on_row=lambda row: progress.advance(task),
        )
        seconds = time.perf_counter() - started
    throughput = {
        "seconds": round(seconds, 3),
        "jobs": jobs,
        "cases_per_second": round(summary.cases / seconds, 1) if seconds else None,
    }
    if as_json:
        click.echo(to_json({**summary.as_dict(), **throughput, "output": str(output)}))
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
            f"({throughput['cases_per_second']} cases/s, {jobs} job(s))"
        )
        if summary.confirmed:
            line += (
                f"\naccuracy on {summary.confirmed} confirmed cases: "
                f"top-1 {summary.top1_accuracy:.1%}, top-3 {summary.top3_accuracy:.1%}"
            )
        click.echo(line)
    if summary.failed:
        sys.exit(1)
