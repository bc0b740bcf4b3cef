"""`cup-triage teach`: quiz, what-if, step-through, handouts and class summaries."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table

from ..io.classroom import find_case, read_session_logs, teaching_library, write_session_log
from ..io.files import atomic_write
from ..io.handout import (
    Audience,
    class_summary_html,
    handout,
    theories_table,
    theory_evidence_lines,
)
from ..io.load import iter_cases
from ..io.render import percent, to_json
from ..reasoning.errors import CaseError, InputError
from ..sessions.classroom import stage_record, summarise
from ..sessions.scoring import RANK_SHARE, parse_differential
from ..sessions.teaching import (
    StageResult,
    assess_stage,
    fired_by_kind,
    parse_finding,
    revealed_findings,
    stages,
    theories,
    what_if,
)
from .common import (
    Context,
    json_option,
    pass_context,
    read_line,
    stop_exit_code,
    stops_as_interrupt,
)

CASE_ARGUMENT = click.argument("case_ref", metavar="CASE", type=str)
CASE_OPTION = click.option(
    "--case", "case_id", help="The case id, when the file holds several cases."
)


@click.group()
def teach() -> None:
    """Teaching sessions on differential reasoning, on the same engine as `rank`.

    CASE is a case file (a teacher's own works the same) or the id of a case in the bundled
    teaching library, e.g. `t01` (see `teach list`).
    """


@teach.command("list")
@json_option
@pass_context
def list_cases(ctx: Context, as_json: bool) -> None:
    """List the teaching library by presentation: id, title and metastatic sites only."""
    vocabulary = ctx.kb.vocabulary
    rows = []
    for item in iter_cases([teaching_library()], vocabulary):
        if item.case is None:
            continue
        notes = item.case.notes if isinstance(item.case.notes, dict) else {}
        findings = item.case.findings(vocabulary)
        sites = [
            vocabulary.findings[key].label
            for key, answer in findings.items()
            if key.startswith("sites.") and answer == "yes"
        ]
        rows.append(
            {
                "id": item.case.id,
                "file": Path(item.file).name,
                "title": notes.get("title", ""),
                "sites": sites,
            }
        )
    if as_json:
        click.echo(to_json(rows))
        return
    table = Table("id", "presentation", "metastatic sites")
    for row in rows:
        table.add_row(row["id"], row["title"], ", ".join(row["sites"]))
    ctx.console.print(table)


@teach.command()
@CASE_ARGUMENT
@CASE_OPTION
@click.option("--learner", default="anonymous", show_default=True, help="Name for the session log.")
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("teaching-logs"),
    show_default=True,
    help="Folder for the session logs: one JSON file per session, so a class can run at once.",
)
@pass_context
def quiz(ctx: Context, case_ref: str, case_id: str | None, learner: str, log_dir: Path) -> None:
    """Unfold a case stage by stage; at each stage give a differential (with probabilities if
    you like) and the next question you would ask; see how it compares with the engine.

    The confirmed primary, your scores and the evidence you missed come after the last stage.
    """
    vocabulary, triage = ctx.kb.vocabulary, ctx.triage
    case = find_case(case_ref, vocabulary, case_id)
    if case.confirmed_primary is None:
        raise CaseError(
            "a quiz case needs confirmed_primary", case=case.id, field="confirmed_primary"
        )
    labels = {p.id: p.label for p in vocabulary.primaries.values()}
    notes = case.notes if isinstance(case.notes, dict) else {}
    started = datetime.now(UTC).isoformat(timespec="seconds")
    click.echo(
        f"Quiz · {notes.get('title', case.id)} · decision support for teaching, not a diagnosis"
    )
    # The example names no primary: any name here could be this case's answer.
    click.echo(
        "At each stage type your differential, most likely first (ids or names, commas "
        "between), with per-cent probabilities if you like ('FIRST 50, SECOND 30, THIRD 20'); "
        "then the finding you would ask about or test next (Enter to skip). 'quit' stops."
    )
    results: list[StageResult] = []
    records = []
    unfolded = stages(case, vocabulary)
    stopped: int | None = None
    try:
        with stops_as_interrupt():
            for stage in unfolded:
                click.echo(f"\n== {stage.title} ==")
                for line in revealed_findings(stage, vocabulary):
                    click.echo(f"  · {line}")
                differential = _read(
                    lambda text: parse_differential(text, vocabulary), "Your differential > "
                )
                if differential is None:
                    break
                asked = _read(
                    lambda text: parse_finding(text, vocabulary), "Next question or test > ", True
                )
                result = assess_stage(triage, stage, differential, asked or None)
                results.append(result)
                records.append(stage_record(result, stage.title))
                _show_comparison(result, labels, vocabulary)
    except KeyboardInterrupt as stop:
        # Ctrl-C, SIGTERM, SIGHUP: the stages answered are logged, and nothing is revealed
        # (the learner may come back to the case).
        stopped = stop_exit_code(stop)
    completed = len(results) == len(unfolded)
    if results and stopped is None:
        _show_reveal(ctx, results, case.confirmed_primary, labels, notes, completed)
    path = write_session_log(
        log_dir,
        {
            "learner": learner,
            "case_id": case.id,
            "case_title": notes.get("title", case.id),
            "case_file": case_ref,
            "confirmed_primary": case.confirmed_primary,
            "started_at": started,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "completed": completed,
            "knowledge_base": triage.stamp.model_dump(),
            "stages": records,
        },
    )
    if stopped is not None:
        click.echo(f"\ninterrupted: the stages answered are logged to {path}", err=True)
        sys.exit(stopped)
    click.echo(f"Session logged to {path}")


def _read(parse, prompt: str, optional: bool = False):
    """One parsed answer; None on 'quit' or end of input, '' for an empty optional answer."""
    while True:
        line = read_line(prompt)
        if line is None or line.lower() in ("quit", "q"):
            return None
        if optional and not line:
            return ""
        try:
            return parse(line)
        except CaseError as error:
            hint = f" ({error.hint})" if error.hint else ""
            click.echo(f"  Not understood: {error.message}{hint}")


def _show_comparison(result: StageResult, labels, vocabulary) -> None:
    """Feedback before the case is over: the engine's differential, never the answer."""
    c = result.comparison
    yours = "; ".join(
        f"{labels[p]} you {percent(mine)}, engine {percent(engine)} (#{rank})"
        for p, mine, engine, rank in c.yours
    )
    click.echo(f"  Beside the engine: {yours}.")
    unnamed = (
        f"; {c.engine_top3_unnamed} of its top 3 you did not name" if c.engine_top3_unnamed else ""
    )
    click.echo(
        f"  You share {c.shared_top3} of the engine's top 3{unnamed}; it puts "
        f"{percent(c.engine_mass_on_yours)} on your list. Agreement with the engine: "
        f"{percent(c.agreement)}."
    )
    if c.weighed_most:
        click.echo(f"  What the engine weighs most so far: {' · '.join(c.weighed_most)}")
    q = result.question
    if q is None:
        return
    asked = vocabulary.findings[q.asked].label
    if q.already_known:
        click.echo(f"  Your question ({asked}) is already answered at this stage.")
    elif q.rank is None:
        click.echo(f"  Your question ({asked}) would not change the ranking materially.")
    else:
        verdict = "the most informative there is" if q.was_most_informative else "informative"
        click.echo(
            f"  Your question ({asked}): {q.gain_bits:.2f} bits expected, {verdict} "
            f"(#{q.rank} of {q.suggestions} in the engine's order)."
        )
    if q.engine_first is not None:
        click.echo(
            f"  The engine would ask next: {q.engine_first.question} "
            f"({q.engine_first.expected_gain_bits:.2f} bits)"
        )
    best = q.most_informative
    if best is not None and best.finding not in (q.asked, getattr(q.engine_first, "finding", None)):
        click.echo(
            f"  Most informative of all: {best.question} ({best.expected_gain_bits:.2f} bits)"
        )


def _show_reveal(ctx: Context, results, truth: str, labels, notes, completed: bool) -> None:
    """After the last stage: the confirmed primary, the scores, the evidence missed."""
    heading = "The case is over" if completed else "You stopped early"
    click.echo(f"\n== {heading}: confirmed primary {labels[truth]} ==")
    table = Table(
        "stage",
        "you",
        "engine",
        "log score you · engine",
        "Brier you · engine",
        title="Against the confirmed primary: rank · probability; log score in bits (higher is "
        "better), Brier (lower is better); – not named",
    )
    for result in results:
        s = result.score
        mine = f"#{s.true_rank_learner}" if s.true_rank_learner else "–"
        table.add_row(
            s.stage,
            f"{mine} · {percent(s.probability_learner)}",
            f"#{s.true_rank_engine} · {percent(s.probability_engine)}",
            f"{s.log_score_learner:.2f} · {s.log_score_engine:.2f}",
            f"{s.brier_learner:.3f} · {s.brier_engine:.3f}",
        )
    ctx.console.print(table)
    click.echo("  The engine's top 3, stage by stage:")
    for result in results:
        click.echo(f"    {result.stage}: {', '.join(labels[p] for p in result.score.engine_top3)}")
    last = results[-1].score
    for item in last.missed:
        click.echo(f"  Missed: {item.conditions} (×{item.likelihood_ratio:.3g}) — {item.rationale}")
    for item in last.over_weighted:
        click.echo(
            f"  Against your first choice: {item.conditions} (×{item.likelihood_ratio:.3g}) "
            f"— {item.rationale}"
        )
    if any(not r.score.stated for r in results):
        click.echo(
            f"  (A ranked list counts as {percent(RANK_SHARE)} for your first choice, half of "
            "what is left for each next one, the rest shared by the primaries you did not name "
            "in proportion to the prior.)"
        )
    if notes.get("vignette"):
        click.echo(f"\n{notes['vignette']}")
    for point in notes.get("teaching_points", []):
        click.echo(f"  • {point}")


@teach.command("whatif")
@CASE_ARGUMENT
@CASE_OPTION
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
    case_ref: str,
    case_id: str | None,
    settings: tuple[str, ...],
    removals: tuple[str, ...],
    as_json: bool,
) -> None:
    """Change, add or remove findings and see how the ranking moves, and which rules did it."""
    case = find_case(case_ref, ctx.kb.vocabulary, case_id)
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
                    "case_id": case.id,
                    "before": [(c.primary, c.probability) for c in result.before.candidates[:5]],
                    "after": [(c.primary, c.probability) for c in result.after.candidates[:5]],
                    "leader_changed": result.leader_changed,
                    "appeared": [f.rule_id for f in result.appeared],
                    "disappeared": [f.rule_id for f in result.disappeared],
                }
            )
        )
        return
    table = Table("#", "before", "", "after", "", title=f"What if · case {case.id}")
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
@CASE_OPTION
@json_option
@pass_context
def steps(ctx: Context, case_ref: str, case_id: str | None, as_json: bool) -> None:
    """The rule firings in the order the engine made them (each rule once), and seed and soil
    beside Ewing: the ranking from each theory's rules beside the combined one."""
    case = find_case(case_ref, ctx.kb.vocabulary, case_id)
    assessment = ctx.triage.assess(case, suggest=False)
    groups = fired_by_kind(assessment.fired)
    views = theories(ctx.triage, case)
    if as_json:
        click.echo(
            to_json(
                {
                    "fired": [f.model_dump() for items in groups.values() for f in items],
                    "theories": [
                        {
                            "title": v.title,
                            "kind": v.kind,
                            "reference": v.reference,
                            "ranking": v.ranking,
                            "rules": [e.rule_id for e in v.evidence],
                        }
                        for v in views
                    ],
                }
            )
        )
        return
    labels = {p.id: p.label for p in ctx.kb.vocabulary.primaries.values()}
    ctx.console.rule(f"Forward chaining, case {assessment.case_id}")
    for kind, items in groups.items():
        ctx.console.print(f"[bold]{kind.replace('_', ' ')}[/] ({len(items)})")
        for item in items:
            concluded = (
                " ⇒ " + ", ".join(f"{k} = {v}" for k, v in sorted(item.concludes.items()))
                if item.concludes
                else ""
            )
            status = f" (superseded by {item.superseded_by})" if item.superseded_by else ""
            ctx.console.print(
                f"  {item.order:>3}. [{item.kind}] {item.rule_id}: {item.conditions}"
                f"{concluded}{status}",
                markup=False,
            )
    ctx.console.rule("Seed and soil beside Ewing")
    ctx.console.print(theories_table(views, labels))
    for view in views:
        if view.kind:
            ctx.console.print(f"[bold]{view.title}[/] — {view.reference}")
            for line in theory_evidence_lines(view, labels) or ["no rule of this kind fired"]:
                ctx.console.print(f"  {line}", markup=False)


@teach.command("handout")
@CASE_ARGUMENT
@CASE_OPTION
@click.option(
    "--for",
    "audience",
    type=click.Choice([a.value for a in Audience]),
    default=Audience.TEACHER.value,
    show_default=True,
    help="teacher: the reasoning and the answer; students: the stages, room to answer, no answer.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.html (self-contained page) or FILE.md (Markdown).",
)
@pass_context
def handout_command(
    ctx: Context, case_ref: str, case_id: str | None, audience: str, output: Path
) -> None:
    """Export a case stage by stage as a teacher's or a student's handout (HTML or Markdown)."""
    case = find_case(case_ref, ctx.kb.vocabulary, case_id)
    suffix = output.suffix.lower()
    if suffix not in (".html", ".htm", ".md"):
        raise InputError("a handout ends in .html or .md", file=str(output))
    text = handout(ctx.triage, case, Audience(audience), markdown=suffix == ".md")
    atomic_write(output, text)
    copy = "Teacher's copy" if audience == Audience.TEACHER.value else "Student's copy"
    click.echo(f"{copy} written to {output}")


@teach.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="LOGS...")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.html: the class summary with charts.",
)
@pass_context
def summary(ctx: Context, logs: tuple[Path, ...], output: Path) -> None:
    """Summarise a class's quiz logs (files or folders): per case, the class beside the engine
    at each stage, and the commonest misses."""
    if output.suffix.lower() not in (".html", ".htm"):
        raise InputError("a class summary ends in .html", file=str(output))
    sessions = read_session_logs(logs)
    order = [s.id for s in ctx.kb.vocabulary.presentation.teaching_stages]
    summaries = summarise(sessions, order)
    atomic_write(output, class_summary_html(summaries, ctx.kb.vocabulary))
    click.echo(f"Class summary of {len(sessions)} session(s), {len(summaries)} case(s): {output}")
