"""`cup-triage evaluate CASES...`: accuracy and calibration over cases with a confirmed primary."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import click

from ..io.evaluation_report import (
    evaluate_sets,
    render_grid,
    render_html,
    render_text,
    report_dict,
    with_calibration,
)
from ..io.files import atomic_write
from ..io.render import to_json
from ..reasoning.errors import InputError
from .common import Context, json_option, pass_context


def _what_if(flag: str, name: str, what: str) -> Callable[[Callable], Callable]:
    """A repeatable calibration number in (0, 1] that tuning tries instead of the stated one."""
    return click.option(
        flag,
        name,
        multiple=True,
        type=click.FloatRange(0, 1, min_open=True),
        callback=_no_nan,
        help=f"What-if: evaluate {what}",
    )


def _no_nan(
    ctx: click.Context, param: click.Parameter, values: tuple[float, ...]
) -> tuple[float, ...]:
    # nan fails both bounds' comparisons, so FloatRange lets it through.
    if any(math.isnan(v) for v in values):
        raise click.BadParameter("nan is not a number in (0, 1]", ctx=ctx, param=param)
    return values


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write a self-contained HTML report with a reliability plot to this file.",
)
@_what_if(
    "--temperature",
    "temperatures",
    "at this temperature instead of the knowledge base's (repeat it to compare several, as "
    "tuning does); prints one summary line per temperature and set.",
)
@_what_if(
    "--prior-weight",
    "prior_weights",
    "with this weight of the prior instead of the knowledge base's (repeat it to compare "
    "several; with --temperature, every pair is evaluated).",
)
@json_option
@pass_context
def evaluate(
    ctx: Context,
    paths: tuple[Path, ...],
    html_path: Path | None,
    temperatures: tuple[float, ...],
    prior_weights: tuple[float, ...],
    as_json: bool,
) -> None:
    """Report accuracy and calibration on the cases in PATHS (files or folders, one set each).

    Top-1 and top-3, Brier and log score (over the listed primaries and a primary not on the
    list), mean stated top-1 probability against the top-1 hit rate, wrong calls stated at
    95% or more, recall per primary, the commonest confusions and a reliability table. Only
    cases with `confirmed_primary` count; a case that cannot be read is named on standard
    error (`skipped: file › case › field: ...`) and counted as unreadable, in every mode.
    """
    unreadable: list[str] = []
    if html_path is not None and html_path.suffix.lower() not in (".html", ".htm"):
        # A report named like a case file would replace one (--html cases/c1.yaml).
        raise InputError("an HTML report ends in .html", file=str(html_path))
    if temperatures or prior_weights:
        calibration = ctx.triage.kb.calibration
        pairs = [
            (t, w)
            for t in temperatures or (calibration.temperature,)
            for w in prior_weights or (calibration.prior_weight,)
        ]
        # The cases are read again for every pair: their errors are reported once.
        grid = [
            (
                (t, w),
                evaluate_sets(
                    list(paths),
                    with_calibration(ctx.triage, t, w),
                    unreadable if index == 0 else None,
                ),
            )
            for index, (t, w) in enumerate(pairs)
        ]
        _report_unreadable(unreadable)
        if as_json:
            click.echo(
                to_json(
                    [
                        {
                            "temperature": t,
                            "prior_weight": w,
                            "sets": [r.model_dump(mode="json") for r in reports],
                        }
                        for (t, w), reports in grid
                    ]
                )
            )
        else:
            render_grid(grid, ctx.console)
        return
    reports = evaluate_sets(list(paths), ctx.triage, unreadable)
    _report_unreadable(unreadable)
    if html_path is not None:
        # Written as every other output is: whole or not at all, never through a link.
        atomic_write(html_path, render_html(reports, ctx.triage))
    if as_json:
        click.echo(to_json(report_dict(reports, ctx.triage)))
    else:
        render_text(reports, ctx.triage, ctx.console)
        if html_path is not None:
            click.echo(f"HTML report: {html_path}")


def _report_unreadable(unreadable: list[str]) -> None:
    for error in unreadable:
        click.echo(f"skipped: {error}", err=True)
