"""`cup-triage rank CASE`: one case, fully explained."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from ..io.load import load_case
from ..io.render import assessment_document, render_assessment, to_json
from .common import Context, pass_context, stdin_format_option


@click.command()
@click.argument("case_file", type=click.Path(path_type=Path))
@click.option("--case", "case_id", help="Rank only this case id of a multi-case file.")
@click.option("--top", default=10, show_default=True, help="How many candidates to list.")
@click.option(
    "--theories",
    "show_theories",
    is_flag=True,
    help="Also rank by seed and soil (organotropism) and by Ewing's drainage rules alone.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "fhir"]),
    default="text",
    show_default=True,
    help="text: the report; json: one document for all cases (`cup-triage schema "
    "assessment`); fhir: a FHIR R4 RiskAssessment, or a Bundle of them for several cases.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@stdin_format_option
@pass_context
def rank(
    ctx: Context,
    case_file: Path,
    case_id: str | None,
    top: int,
    show_theories: bool,
    output_format: str,
    as_json: bool,
    stdin_format: str,
) -> None:
    """Rank the candidate primaries of the case(s) in CASE_FILE, with explanations and advice.

    CASE_FILE is a case file (YAML, JSON, CSV), a FHIR Bundle (JSON), or `-` for standard input
    (YAML or JSON; CSV with --stdin-format csv).
    """
    cases = load_case(case_file, ctx.kb.vocabulary, stdin_format=stdin_format)
    if case_id is not None:
        cases = [c for c in cases if c.id == case_id]
        if not cases:
            raise click.BadParameter(f"no case {case_id!r} in {case_file}", param_hint="--case")
    results = [(case, ctx.triage.assess(case)) for case in cases]
    views: list = [()] * len(cases)
    if show_theories:
        # The teaching code loads only for the one option that needs it.
        from ..sessions.teaching import theories

        views = [theories(ctx.triage, case) for case in cases]
    if as_json or output_format == "json":
        shown = [[replace(v, ranking=v.ranking[:top]) for v in vs] for vs in views]
        document = assessment_document(
            results, ctx.kb.vocabulary, theories=shown if show_theories else None
        )
        click.echo(to_json(document))
        return
    if output_format == "fhir":
        from ..io.fhir import risk_assessments

        click.echo(to_json(risk_assessments(results, ctx.kb)))
        return
    labels = {p.id: p.label for p in ctx.kb.vocabulary.primaries.values()}
    for (_, assessment), theory_views in zip(results, views, strict=True):
        render_assessment(assessment, ctx.console, top=top)
        if theory_views:
            # handout.py loads jinja2: only a report with the theories needs its tables.
            from ..io.handout import theories_table, theory_evidence_lines

            ctx.console.print(theories_table(theory_views, labels, top=min(top, 5)))
            for view in theory_views:
                if view.kind:
                    ctx.console.print(f"[bold]{view.title}[/]")
                    for line in theory_evidence_lines(view, labels) or ["no rule fired"]:
                        ctx.console.print(f"  {line}", markup=False)
