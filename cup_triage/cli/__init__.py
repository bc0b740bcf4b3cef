"""The `cup-triage` command: thin click commands over the core.

Each command's module is imported only when that command runs (or when help lists them):
`cup-triage --version` imports click and nothing of the reasoning, `rank` never imports the
batch or teaching code, and no command pays for the imports of another.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib
import io
import os
import sys

import click

from .. import __version__
from ..reasoning.errors import CupTriageError, WriteError, one_line
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

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except OSError as error:
            # --help and --version write while the options are parsed, before invoke; click
            # would end a closed pipe with exit 1 here.
            stopped = _output_stopped(error)
            if stopped is None:
                raise
            raise UserError(stopped) from error

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
            more = " (it continues with --resume)" if ctx.invoked_subcommand == "score" else ""
            with contextlib.suppress(OSError):
                click.echo(f"\ninterrupted{more}", err=True)
            ctx.exit(INTERRUPTED)
        except OSError as error:
            # Files are opened and written by io/, which names them; what reaches here is
            # standard output: closed by its reader (| head) or on a full disk.
            stopped = _output_stopped(error)
            if _debug(ctx):
                raise
            if stopped is None:
                raise _internal(error) from error
            raise UserError(stopped) from error
        except Exception as error:
            # Whatever the input, the user sees one line, never a traceback, unless asked.
            if _debug(ctx):
                raise
            raise _internal(error) from error


def _internal(error: Exception) -> click.ClickException:
    failure = click.ClickException(
        f"internal error: {type(error).__name__}: {one_line(str(error))} "
        "(run with --debug for the traceback, and please report it)"
    )
    failure.exit_code = INTERNAL_ERROR
    return failure


CLOSED_PIPE = 141
"""Exit code when the reader of standard output closed it early (`| head`), as a shell
reports a process ended by SIGPIPE (128 + 13); nothing is printed: the reader chose to stop."""

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _output_stopped(error: OSError) -> CupTriageError | None:
    """A failure to write standard output as the error to report (None: not one). A closed
    pipe ends the process at once, quietly."""
    if error.errno == errno.EPIPE:
        _closed_pipe()
    if error.errno == errno.EBADF:
        return WriteError(
            "cannot write: it is closed",
            file="standard output",
            hint="run the command with standard output open (a file, a pipe or /dev/null)",
        )
    if error.errno in _FULL:
        return WriteError(
            f"cannot write: {error.strerror or error}",
            file="standard output",
            hint="free some space (or check the device) and run again",
        )
    return None


def _closed_pipe() -> None:
    # Whatever is still buffered can go nowhere: point standard output at /dev/null so the
    # interpreter's last flush does not fail again and print a traceback.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    os._exit(CLOSED_PIPE)


def _debug(ctx: click.Context) -> bool:
    return ctx.obj is not None and ctx.obj.debug


@click.group(cls=TriageGroup, context_settings={"help_option_names": ["-h", "--help"]})
# The version is the package's constant, not its installed metadata: reading that imports
# importlib.metadata and scans the environment's distributions, about 40 % of the
# instructions `--version` ran (tests/test_startup.py keeps the two equal).
@click.version_option(version=__version__, package_name="cup-triage")
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
    """Entry point of the `cup-triage` script.

    The cyclic garbage collector waits until the knowledge base is loaded (see
    `common.collect_garbage_from_now`): until then a command only builds what it keeps.
    """
    gc.disable()
    _closed_standard_streams()
    try:
        cli()
    except SystemExit as done:
        if isinstance(done.code, int | None):
            _exit_now(done.code or 0)
        raise
    except OSError as error:  # writing --version or --help, before any command runs
        stopped = _output_stopped(error)
        if stopped is None:
            raise
        click.echo(f"Error: {stopped}", err=True)
        _exit_now(stopped.exit_code)


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
    _flush(code)
    atexit._run_exitfuncs()
    _flush(code)
    os._exit(code)


def _flush(code: int) -> None:
    """Flush the output before ending; what could not be written is reported as a command's
    own write would be (a full disk: exit 74; a closed pipe: 141, quietly)."""
    try:
        sys.stdout.flush()
    except OSError as error:
        stopped = _output_stopped(error)
        if stopped is None:
            raise SystemExit(code) from None
        with contextlib.suppress(OSError, ValueError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - ends with the process
            sys.stderr.write(f"Error: {stopped}\n")
            sys.stderr.flush()
        os._exit(stopped.exit_code)
    except ValueError:
        raise SystemExit(code) from None
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None


class _ClosedOutput(io.TextIOBase):
    """Standard output of a process started without one (`cmd >&-`): a write fails as a write
    to a closed descriptor does, so the command says so (exit 74) rather than its output
    vanishing without a word, as click.echo to a missing stream would have it."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


def _closed_standard_streams() -> None:
    """Make a process started with standard input, output or error closed behave: the
    descriptor is held open on /dev/null, so no file the command opens takes its number
    (the batch's partial file would otherwise become descriptor 1); a read of `-` then ends
    at once, a write to standard output fails (above), and errors, which have nowhere to go,
    leave the exit code to say what happened (it used to be 1 with a traceback nobody saw)."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        with contextlib.suppress(OSError):
            held = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if held != fd:
                os.dup2(held, fd)
                os.close(held)
        if fd == 1:
            sys.stdout = _ClosedOutput()
        else:
            setattr(sys, name, open(os.devnull, "r" if fd == 0 else "w"))  # noqa: SIM115
