"""`cup-triage rank CASE`: one case, fully explained."""

from __future__ import annotations

from pathlib import Path

import click

from ..io.load import load_case
from ..io.render import assessment_dict, render_assessment, to_json
from .common import Context, json_option, pass_context


@click.command()
@click.argument("case_file", type=click.Path(path_type=Path))
@click.option("--case", "case_id", help="Rank only this case id of a multi-case file.")
@click.option("--top", default=10, show_default=True, help="How many candidates to list.")
@json_option
@pass_context
def rank(ctx: Context, case_file: Path, case_id: str | None, top: int, as_json: bool) -> None:
    """Rank the candidate primaries of the case(s) in CASE_FILE, with explanations and advice."""
    cases = load_case(case_file, ctx.kb.vocabulary)
    if case_id is not None:
        cases = [c for c in cases if c.id == case_id]
        if not cases:
            raise click.BadParameter(f"no case {case_id!r} in {case_file}", param_hint="--case")
    assessments = [ctx.triage.assess(case) for case in cases]
    if as_json:
        payload = [assessment_dict(a) for a in assessments]
        click.echo(to_json(payload[0] if len(payload) == 1 else payload))
        return
    for assessment in assessments:
        render_assessment(assessment, ctx.console, top=top)
