"""`cup-triage evaluate`: read case sets, score them, and report accuracy and calibration as
text, JSON or one self-contained HTML page with a reliability plot (inline SVG, no network)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from rich.console import Console

from ..reasoning.calibration import Calibration
from ..reasoning.errors import InputError, shown
from ..reasoning.evaluation import CONFIDENT, ReliabilityBin, SetReport, set_report
from ..reasoning.triage import Triage
from .load import iter_cases


def evaluate_sets(
    paths: Sequence[Path], triage: Triage, unreadable: list[str] | None = None
) -> list[SetReport]:
    """One report per path (a file or a folder), plus one over all of them when there are
    several; a case that cannot be read is counted as skipped, never scored, and its error
    (file › case › field) is added to `unreadable` when given."""
    reports = []
    everything = []
    skipped_total = 0
    for path in paths:
        assessments = []
        skipped = 0
        for loaded in iter_cases([path], triage.kb.vocabulary):
            if loaded.error is not None:
                skipped += 1
                if unreadable is not None:
                    unreadable.append(str(loaded.error))
                continue
            assessments.append(triage.assess(loaded.case, suggest=False, explain=False))
        reports.append(set_report(str(path), assessments, skipped=skipped))
        everything += assessments
        skipped_total += skipped
    if len(paths) > 1:
        reports.append(set_report("all", everything, skipped=skipped_total))
    return reports


def with_calibration(
    triage: Triage, temperature: float | None = None, prior_weight: float | None = None
) -> Triage:
    """The same knowledge base with another temperature or prior weight: a what-if for
    tuning, never saved. The numbers are checked as the calibration file's are (a
    InputError naming the field for a temperature or weight outside (0, 1] or not a number),
    never copied in unchecked."""
    kb = copy.copy(triage.kb)
    data = {k: v for k, v in kb.calibration.model_dump().items() if v is not None}
    if temperature is not None:
        data["temperature"] = temperature
    if prior_weight is not None:
        weighting = data.get("prior_weighting") or {
            "rationale": "a what-if for tuning, never saved",
            "source": "(none)",
        }
        data["prior_weighting"] = {**weighting, "weight": prior_weight}
    try:
        kb.calibration = Calibration.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        raise InputError(
            f"{problem['msg']}, got {shown(problem.get('input'))}", field=f"what-if {field}"
        ) from None
    return Triage(kb)


def render_grid(
    grid: Sequence[tuple[tuple[float, float], Sequence[SetReport]]], console: Console
) -> None:
    """One line per (temperature, prior weight) and set: what tuning compares (the smallest
    log loss wins)."""
    width = max(len("set"), *(len(r.name) for _, reports in grid for r in reports))
    console.print(
        f"{'T':>5}  {'prior w':>7}  {'set':<{width}}  cases  top-1  top-3  mean top-1 p    gap  "
        "Brier  log loss  unreadable",
        soft_wrap=True,
    )
    for (temperature, prior_weight), reports in grid:
        for r in reports:
            console.print(
                f"{temperature:>5.2f}  {prior_weight:>7.2f}  {r.name:<{width}}  {r.cases:>5}  "
                f"{_pct(r.top1):>5}  {_pct(r.top3):>5}  {_pct(r.mean_top_probability):>12}  "
                f"{_num(r.calibration_gap, 2):>5}  {_num(r.brier):>5}  {_num(r.log_loss):>8}  "
                f"{r.skipped:>10}",
                soft_wrap=True,
            )


def report_dict(reports: Iterable[SetReport], triage: Triage) -> dict[str, Any]:
    calibration = triage.kb.calibration
    return {
        "knowledge_base": {"version": triage.kb.version, "hash": triage.kb.fingerprint},
        "temperature": calibration.temperature,
        "prior_weight": calibration.prior_weight,
        "tuned_on": list(calibration.tuned_on),
        "sets": [report.model_dump(mode="json") for report in reports],
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render_text(reports: Sequence[SetReport], triage: Triage, console: Console) -> None:
    """The summary table, then for each set its confident wrong calls, confusions and
    reliability of the top candidate."""
    calibration = triage.kb.calibration
    console.print(
        f"knowledge base {triage.kb.version} ({triage.kb.fingerprint}); temperature "
        f"{calibration.temperature:g}, prior weight {calibration.prior_weight:g}, "
        f"tuned on {', '.join(calibration.tuned_on) or 'nothing'}",
        soft_wrap=True,
    )
    # Plain fixed columns rather than a rich table: the same text in a terminal, a CI log and
    # the README, whatever the width.
    width = max(len("set"), *(len(r.name) for r in reports))
    header = (
        f"{'set':<{width}}  cases  top-1  top-3  mean top-1 p    gap  Brier  log loss  "
        f"≥{CONFIDENT:.0%} (wrong)"
    )
    console.print(header, highlight=False, soft_wrap=True)
    for r in reports:
        console.print(
            f"{r.name:<{width}}  {r.cases:>5}  {_pct(r.top1):>5}  {_pct(r.top3):>5}  "
            f"{_pct(r.mean_top_probability):>12}  {_num(r.calibration_gap, 2):>5}  "
            f"{_num(r.brier):>5}  {_num(r.log_loss):>8}  "
            f"{r.confident_calls:>4} ({len(r.confident_wrong)})",
            highlight=False,
            soft_wrap=True,
        )
    for r in reports:
        console.print(f"\n[bold]{r.name}[/]: {r.cases} cases", end="")
        if r.skipped or r.unconfirmed:
            console.print(
                f" ({r.skipped} unreadable, {r.unconfirmed} without a confirmed primary)", end=""
            )
        console.print()
        if r.confident_wrong:
            console.print(
                f"  wrong at ≥{CONFIDENT:.0%}: {', '.join(r.confident_wrong)}", soft_wrap=True
            )
        if r.confusions:
            pairs = ", ".join(f"{c.confirmed}→{c.ranked_first} ×{c.count}" for c in r.confusions)
            console.print(
                f"  commonest confusions (confirmed→ranked first): {pairs}", soft_wrap=True
            )
        weak = [f"{x.primary} {_pct(x.top3)}" for x in r.recall if x.top3 < 1]
        if weak:
            console.print(f"  top-3 recall below 100%: {', '.join(weak)}", soft_wrap=True)
        console.print(
            "  reliability of the top candidate (stated → observed, n): "
            + "; ".join(
                f"{b.low:.1f}–{b.high:.1f}: {_pct(b.mean_stated)}→{_pct(b.observed)} ({b.count})"
                for b in r.reliability_top
                if b.count
            ),
            soft_wrap=True,
        )


# ------------------------------------------------------------------------------- HTML
PLOT = 300
MARGIN = 40


def reliability_svg(top: Sequence[ReliabilityBin], every: Sequence[ReliabilityBin]) -> str:
    """A reliability diagram: the diagonal is perfect calibration; dots are bins, their area
    the number of cases; filled for the top candidate, hollow for every candidate."""
    size = PLOT + 2 * MARGIN

    def x(value: float) -> float:
        return round(MARGIN + value * PLOT, 1)

    def y(value: float) -> float:
        return round(MARGIN + (1 - value) * PLOT, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img" aria-label="reliability diagram">',
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{PLOT}" height="{PLOT}" fill="#fafafa" '
        'stroke="#999"/>',
    ]
    for tick in range(0, 11, 2):
        value = tick / 10
        parts.append(
            f'<line x1="{x(value)}" y1="{y(0)}" x2="{x(value)}" y2="{y(1)}" stroke="#eee"/>'
            f'<line x1="{x(0)}" y1="{y(value)}" x2="{x(1)}" y2="{y(value)}" stroke="#eee"/>'
            f'<text x="{x(value)}" y="{y(0) + 15}" font-size="10" text-anchor="middle">'
            f"{value:.1f}</text>"
            f'<text x="{x(0) - 6}" y="{y(value) + 3}" font-size="10" text-anchor="end">'
            f"{value:.1f}</text>"
        )
    parts.append(
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#888" '
        'stroke-dasharray="4 3"/>'
    )
    for bins, style in (
        (every, 'fill="none" stroke="#c2410c" stroke-width="1.5"'),
        (top, 'fill="#1d4ed8" fill-opacity="0.75" stroke="#1e3a8a"'),
    ):
        total = sum(b.count for b in bins) or 1
        points = [b for b in bins if b.count]
        if len(points) > 1 and bins is top:
            path = " ".join(f"{x(b.mean_stated)},{y(b.observed)}" for b in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="#1d4ed8"/>')
        for b in points:
            radius = round(3 + 12 * (b.count / total) ** 0.5, 1)
            parts.append(
                f'<circle cx="{x(b.mean_stated)}" cy="{y(b.observed)}" r="{radius}" {style}>'
                f"<title>stated {b.mean_stated:.2f}, observed {b.observed:.2f}, "
                f"n={b.count}</title></circle>"
            )
    parts.append(
        f'<text x="{x(0.5)}" y="{size - 6}" font-size="11" text-anchor="middle">'
        "stated probability</text>"
        f'<text x="12" y="{y(0.5)}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {y(0.5)})">observed frequency</text>'
        "</svg>"
    )
    return "".join(parts)


def render_html(reports: Sequence[SetReport], triage: Triage) -> str:
    environment = Environment(
        loader=PackageLoader("cup_triage.io", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["pct"] = _pct
    # The other-primary share is a few tenths of a per cent: rounded to a whole one it reads
    # as 0% beside a stated prior of 5%.
    environment.filters["pct1"] = lambda value: "—" if value is None else f"{value * 100:.1f}%"
    environment.filters["num"] = _num
    template = environment.get_template("evaluation.html.j2")
    labels = {p.id: p.label for p in triage.kb.vocabulary.primaries.values()}
    return template.render(
        reports=reports,
        plots={r.name: reliability_svg(r.reliability_top, r.reliability_all) for r in reports},
        labels=labels,
        kb=triage.kb,
        calibration=triage.kb.calibration,
        confident=CONFIDENT,
    )
