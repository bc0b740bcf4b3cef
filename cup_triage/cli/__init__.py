"""The `cup-triage` command: thin click commands over the core."""

from __future__ import annotations

import click

from ..errors import CupTriageError
from .ask import ask
from .common import Context
from .rank import rank
from .rules import rules
from .score import score


class UserError(click.ClickException):
    """A library error shown as one line, with the exit code its family documents."""

    def __init__(self, error: CupTriageError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


class TriageGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CupTriageError as error:
            if ctx.obj is not None and ctx.obj.debug:
                raise
            raise UserError(error) from error


@click.group(cls=TriageGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cup-triage")
@click.option("--rules-dir", type=click.Path(exists=True, file_okay=False),
              help="Use another knowledge-base folder instead of the bundled rules.")
@click.option("--debug", is_flag=True, help="Show a traceback for errors.")
@click.pass_context
def cli(ctx: click.Context, rules_dir: str | None, debug: bool) -> None:
    """Triage for cancer of unknown primary: rank candidate primaries with explanations.

    Decision support for triage and teaching, never a diagnosis.
    """
    ctx.obj = Context(rules_dir=rules_dir, debug=debug)


for command in (ask, rank, score, rules):
    cli.add_command(command)


def main() -> None:
    """Entry point of the `cup-triage` script."""
    cli()
