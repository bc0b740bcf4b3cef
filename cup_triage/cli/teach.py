"""`cup-triage teach`: quiz, what-if, step-through and handouts for teaching sessions."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table

from ..io.batch import atomic_output
from ..io.handout import StagedAssessment, handout_html, handout_markdown
from ..io.load import bundled_cases_dir, iter_cases, load_case, read_data_file
from ..io.render import percent, to_json
from ..reasoning.errors import CaseError, InputError
from ..sessions.teaching import (
    fired_by_kind,
    parse_differential,
    revealed_findings,
    score_stage,
    stages,
    what_if,
)
from .common import Context, json_option, pass_context, read_line

CASE_ARGUMENT = click.argument("case_file", type=click.Path(path_type=Path))


@click.group()
def teach() -> None:
    """Teaching sessions on differential reasoning, on the same engine as `rank`."""


@teach.command("list")
@json_option
@pass_context
def list_cases(ctx: Context, as_json: bool) -> None:
    """List the teaching library (cases/teaching)."""
    rows = []
    for item in iter_cases([bundled_cases_dir() / "teaching"], ctx.kb.vocabulary):
        if item.case is None:
            continue
        notes = item.case.notes if isinstance(item.case.notes, dict) else {}
        rows.append(
            {
                "file": item.file,
                "id": item.case.id,
                "title": notes.get("title", ""),
                "theme": notes.get("theme", ""),
                "primary": item.case.confirmed_primary,
            }
        )
    if as_json:
        click.echo(to_json(rows))
        return
    table = Table("file", "title", "theme")
    for row in rows:
        table.add_row(Path(row["file"]).name, row["title"], row["theme"])
    ctx.console.print(table)


def _one_case(ctx: Context, path: Path):
    return load_case(path, ctx.kb.vocabulary)[0]


@teach.command()
@CASE_ARGUMENT
@click.option("--learner", default="anonymous", show_default=True, help="Name for the session log.")
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("teaching-log.json"),
    show_default=True,
    help="JSON session log the teacher reads (sessions are appended).",
)
@pass_context
def quiz(ctx: Context, case_file: Path, learner: str, log_path: Path) -> None:
    """Unfold a case stage by stage; at each stage enter a ranked differential and get scored."""
    vocabulary, triage = ctx.kb.vocabulary, ctx.triage
    case = _one_case(ctx, case_file)
    if case.confirmed_primary is None:
        raise CaseError(
            "a quiz case needs confirmed_primary",
            file=str(case_file),
            case=case.id,
            field="confirmed_primary",
        )
    labels = {p.id: p.label for p in vocabulary.primaries.values()}
    notes = case.notes if isinstance(case.notes, dict) else {}
    click.echo(
        f"Quiz · {notes.get('title', case.id)} · decision support for teaching, not a diagnosis"
    )
    click.echo(
        "At each stage type your differential, most likely first (ids or names, commas "
        "between), or 'quit'."
    )
    scores = []
    for stage in stages(case, vocabulary):
        click.echo(f"\n== {stage.title} ==")
        for line in revealed_findings(stage, vocabulary):
            click.echo(f"  {line}")
        differential = _read_differential(vocabulary)
        if differential is None:
            break
        assessment = triage.assess(stage.case, suggest=False)
        score = score_stage(stage, differential, assessment)
        scores.append(score)
        _show_feedback(score, labels)
    click.echo(f"\nConfirmed primary: {labels[case.confirmed_primary]}")
    if notes.get("vignette"):
        click.echo(f"\n{notes['vignette']}")
    for point in notes.get("teaching_points", []):
        click.echo(f"  • {point}")
    _append_session(
        log_path,
        {
            "learner": learner,
            "case_id": case.id,
            "case_file": str(case_file),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "knowledge_base": ctx.triage.stamp.model_dump(),
            "stages": [_score_dict(s) for s in scores],
        },
    )
    click.echo(f"Session logged to {log_path}")


def _read_differential(vocabulary) -> tuple[str, ...] | None:
    while True:
        line = read_line("Your differential > ")
        if line is None or line.lower() in ("quit", "q"):
            return None
        try:
            return parse_differential(line, vocabulary)
        except CaseError as error:
            hint = f" ({error.hint})" if error.hint else ""
            click.echo(f"  Not understood: {error.message}{hint}")


def _show_feedback(score, labels) -> None:
    yours = f"#{score.true_rank_learner}" if score.true_rank_learner else "not listed"
    click.echo(
        f"  True primary: yours {yours}, engine #{score.true_rank_engine}. "
        f"Engine's top 3: {', '.join(labels[p] for p in score.engine_top3)} "
        f"(you share {score.overlap_with_engine_top3})."
    )
    click.echo(
        f"  Brier score (lower is better): yours {score.brier_learner:.3f}, "
        f"engine {score.brier_engine:.3f}"
    )
    for item in score.missed:
        click.echo(f"  Missed: {item.conditions} (×{item.likelihood_ratio:.3g}) — {item.rationale}")
    for item in score.over_weighted:
        click.echo(
            f"  Against your first choice: {item.conditions} (×{item.likelihood_ratio:.3g}) "
            f"— {item.rationale}"
        )


def _score_dict(score) -> dict:
    data = asdict(score)
    data["missed"] = [c.rule_id for c in score.missed]
    data["over_weighted"] = [c.rule_id for c in score.over_weighted]
    return data


def _append_session(path: Path, session: dict) -> None:
    log = read_data_file(path) if path.exists() else {"sessions": []}
    if not isinstance(log, dict) or not isinstance(log.get("sessions"), list):
        raise InputError("not a cup-triage teaching log", file=str(path))
    log["sessions"].append(session)
    with atomic_output(path) as handle:
        json.dump(log, handle, indent=2, sort_keys=True, ensure_ascii=False)


@teach.command("whatif")
@CASE_ARGUMENT
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="FINDING=ANSWER",
    help="Set or add a finding, e.g. markers.ck20=positive (repeatable).",
)
@click.option(
    "--unset",
    "removals",
    multiple=True,
    metavar="FINDING",
    help="Remove a finding, e.g. history.hemoptysis (repeatable).",
)
@json_option
@pass_context
def whatif(
    ctx: Context,
    case_file: Path,
    settings: tuple[str, ...],
    removals: tuple[str, ...],
    as_json: bool,
) -> None:
    """Change, add or remove findings and see how the ranking moves, and which rules did it."""
    case = _one_case(ctx, case_file)
    changes: dict[str, str | int | None] = {key: None for key in removals}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise click.BadParameter(
                f"expected FINDING=ANSWER, got {setting!r}", param_hint="--set"
            )
        changes[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
    result = what_if(ctx.triage, case, changes)
    if as_json:
        click.echo(
            to_json(
                {
                    "before": [(c.primary, c.probability) for c in result.before.candidates[:5]],
                    "after": [(c.primary, c.probability) for c in result.after.candidates[:5]],
                    "leader_changed": result.leader_changed,
                    "appeared": [f.rule_id for f in result.appeared],
                    "disappeared": [f.rule_id for f in result.disappeared],
                }
            )
        )
        return
    table = Table("#", "before", "", "after", "")
    for rank, (b, a) in enumerate(
        zip(result.before.candidates[:6], result.after.candidates[:6], strict=True), 1
    ):
        table.add_row(str(rank), b.label, percent(b.probability), a.label, percent(a.probability))
    ctx.console.print(table)
    verdict = "The leader changed." if result.leader_changed else "The leader did not change."
    ctx.console.print(f"[bold]{verdict}[/]")
    for title, items in (
        ("Rules that now fire", result.appeared),
        ("Rules that no longer fire", result.disappeared),
    ):
        if items:
            ctx.console.print(f"\n[bold]{title}[/]")
            for item in items:
                ctx.console.print(f"  {item.rule_id} [{item.kind}] {item.conditions}", markup=False)


@teach.command()
@CASE_ARGUMENT
@json_option
@pass_context
def steps(ctx: Context, case_file: Path, as_json: bool) -> None:
    """Show the rule firings in the order the engine made them, grouped by kind of reasoning."""
    assessment = ctx.triage.assess(_one_case(ctx, case_file), suggest=False)
    groups = fired_by_kind(assessment.fired)
    if as_json:
        click.echo(
            to_json({kind: [f.model_dump() for f in items] for kind, items in groups.items()})
        )
        return
    ctx.console.rule(f"Forward chaining, case {assessment.case_id}")
    for item in assessment.fired:
        concluded = f" ⇒ {item.concludes}" if item.concludes else ""
        status = f" (superseded by {item.superseded_by})" if item.superseded_by else ""
        ctx.console.print(
            f"{item.order:>3}. [{item.kind}] {item.rule_id}: {item.conditions}{concluded}{status}",
            markup=False,
        )
    ctx.console.rule("By kind of reasoning")
    for kind, items in groups.items():
        ctx.console.print(
            f"[bold]{kind.replace('_', ' ')}[/] ({len(items)}): "
            + ", ".join(i.rule_id for i in items)
        )


@teach.command()
@CASE_ARGUMENT
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.html (self-contained page) or FILE.md (Markdown).",
)
@pass_context
def handout(ctx: Context, case_file: Path, output: Path) -> None:
    """Export a case's reasoning, stage by stage, as Markdown or self-contained HTML."""
    vocabulary = ctx.kb.vocabulary
    case = _one_case(ctx, case_file)
    staged = [
        StagedAssessment(stage, ctx.triage.assess(stage.case, suggest=False))
        for stage in stages(case, vocabulary)
    ]
    labels = {p.id: p.label for p in vocabulary.primaries.values()}
    suffix = output.suffix.lower()
    if suffix not in (".html", ".htm", ".md"):
        raise InputError("a handout ends in .html or .md", file=str(output))
    text = handout_markdown(staged, labels) if suffix == ".md" else handout_html(staged, labels)
    with atomic_output(output) as handle:
        handle.write(text)
    click.echo(f"Handout written to {output}")
