"""The `cup-triage` command: thin click commands over the core.

Each command's module is imported only when that command runs (or when help lists them):
`cup-triage --version` imports click and nothing of the reasoning, `rank` never imports the
batch or teaching code, and no command pays for the imports of another.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from ..reasoning.errors import CupTriageError, one_line
from .common import Context

COMMANDS = {
    "ask": "ask",
    "evaluate": "evaluate",
    "rank": "rank",
    "rules": "rules",
    "schema": "schema",
    "score": "score",
    "teach": "teach",
    "vocab": "vocab",
}
"""Command name -> the module of cup_triage.cli that defines it (under the same name)."""


class UserError(click.ClickException):
    """A library error shown as one line, with the exit code its family documents."""

    def __init__(self, error: CupTriageError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


INTERNAL_ERROR = 70
"""Exit code of an unexpected exception (a bug): EX_SOFTWARE of sysexits.h."""

INTERRUPTED = 130
"""Exit code after Ctrl-C, as a shell reports a process ended by SIGINT."""


class TriageGroup(click.Group):
    """Turns every error into one line and a documented exit code; --debug shows tracebacks.

    Loads each command from its module on first use (see COMMANDS).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = importlib.import_module(f"{__name__}.{COMMANDS[cmd_name]}")
            self.add_command(getattr(module, cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CupTriageError as error:
            if _debug(ctx):
                raise
            raise UserError(error) from error
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("\ninterrupted (an interrupted score run continues with --resume)", err=True)
            ctx.exit(INTERRUPTED)
        except Exception as error:
            # Whatever the input, the user sees one line, never a traceback, unless asked.
            if _debug(ctx):
                raise
            failure = click.ClickException(
                f"internal error: {type(error).__name__}: {one_line(str(error))} "
                "(run with --debug for the traceback, and please report it)"
            )
            failure.exit_code = INTERNAL_ERROR
            raise failure from error


def _debug(ctx: click.Context) -> bool:
    return ctx.obj is not None and ctx.obj.debug


@click.group(cls=TriageGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cup-triage")
@click.option(
    "--rules-dir",
    type=click.Path(exists=True, file_okay=False),
    help="Use another knowledge-base folder instead of the bundled rules.",
)
@click.option("--debug", is_flag=True, help="Show a traceback for errors.")
@click.pass_context
def cli(ctx: click.Context, rules_dir: str | None, debug: bool) -> None:
    """Triage for cancer of unknown primary: rank candidate primaries with explanations.

    Decision support for triage and teaching, never a diagnosis.
    """
    ctx.obj = Context(rules_dir=rules_dir, debug=debug)


def main() -> None:
    """Entry point of the `cup-triage` script."""
    try:
        cli()
    except SystemExit as done:
        if isinstance(done.code, int | None):
            _exit_now(done.code or 0)
        raise


def _exit_now(code: int) -> None:
    """End the process once the command is done, without the interpreter's teardown.

    Tearing down frees every object one by one (the knowledge base, the compiled rules,
    every module): about a tenth of a second of CPU after `rank` had printed, paid by every
    command. The exit handlers still run and the output is flushed first; where anything
    else could still be running (another thread) or the output cannot be flushed (a closed
    pipe), the ordinary exit is taken, so what the user sees never changes.
    """
    import atexit
    import threading

    if threading.active_count() > 1:
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None
    os._exit(code)
