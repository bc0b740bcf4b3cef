"""`cup-triage schema [KIND]`: the JSON Schema of an output (or of a case file)."""

from __future__ import annotations

import click

from ..io.schema import KINDS, schema_text


@click.command()
@click.argument("kind", type=click.Choice(KINDS), default="assessment")
def schema(kind: str) -> None:
    """Print the JSON Schema of KIND: `assessment` (rank --json, the result of ask --jsonl),
    `row` (one score row, JSON Lines), `batch` (score -o OUT.json) or `case` (a case file's
    shape; ids are listed by `cup-triage vocab`)."""
    click.echo(schema_text(kind), nl=False)
