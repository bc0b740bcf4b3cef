"""The `cup-triage` command: thin click commands over the core."""

from __future__ import annotations

import sys
import traceback

import click

from ..errors import CupTriageError
from .common import Context
from .rank import rank
from .rules import rules
from .score import score


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cup-triage")
@click.option("--rules-dir", type=click.Path(exists=True, file_okay=False, path_type=None),
              help="Use another knowledge-base folder instead of the bundled rules.")
@click.option("--debug", is_flag=True, help="Show a traceback for errors.")
@click.pass_context
def cli(ctx: click.Context, rules_dir: str | None, debug: bool) -> None:
    """Triage for cancer of unknown primary: rank candidate primaries with explanations.

    Decision support for triage and teaching, never a diagnosis.
    """
    ctx.obj = Context(rules_dir=rules_dir, debug=debug)


cli.add_command(rank)
cli.add_command(score)
cli.add_command(rules)


def main() -> None:
    """Entry point: library errors become one line on stderr and a documented exit code."""
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CupTriageError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
