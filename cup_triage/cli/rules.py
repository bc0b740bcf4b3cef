"""`cup-triage rules check`: lint the knowledge base."""

from __future__ import annotations

import sys
from collections import Counter

import click

from ..io.render import to_json
from ..reasoning.lint import lint
from .common import Context, json_option, pass_context


@click.group()
def rules() -> None:
    """Inspect and check the knowledge base."""


@rules.command()
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@json_option
@pass_context
def check(ctx: Context, strict: bool, as_json: bool) -> None:
    """Validate the schema and ids, then look for dead, duplicate and contradictory rules."""
    kb = ctx.kb
    problems = lint(kb)
    errors = [p for p in problems if p.severity == "error"]
    kinds = Counter(rule.kind.value for rule in kb.rules)
    if as_json:
        click.echo(
            to_json(
                {
                    "rules": len(kb.rules),
                    "by_kind": dict(kinds),
                    "version": kb.version,
                    "hash": kb.fingerprint,
                    "problems": [p.__dict__ for p in problems],
                }
            )
        )
    else:
        for problem in problems:
            click.echo(str(problem))
        summary = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
        click.echo(
            f"{len(kb.rules)} rules ({summary}); knowledge base {kb.version} "
            f"({kb.fingerprint}): {len(errors)} error(s), "
            f"{len(problems) - len(errors)} warning(s)"
        )
    if errors or (strict and problems):
        sys.exit(1)
