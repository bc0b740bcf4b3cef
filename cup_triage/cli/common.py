"""What every command shares: the knowledge base and the triage built from it, once."""

from __future__ import annotations

import errno
import gc
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

    from ..reasoning.knowledge import KnowledgeBase
    from ..reasoning.questions import Questionnaire
    from ..reasoning.triage import Triage


@dataclass
class Context:
    rules_dir: str | None = None
    debug: bool = False

    # Imported where first needed: `--version`, `--help` and `--json` output never load rich,
    # and a command that needs no knowledge base never loads one.

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        class _Console(Console):
            def on_broken_pipe(self) -> None:
                # rich would exit 1 here; a closed pipe goes where click.echo's does (141,
                # quietly), so `rank | head` ends as `rank --json | head` and `score -o -` do.
                self.quiet = True
                raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

        return _Console(highlight=False)

    @cached_property
    def kb(self) -> KnowledgeBase:
        from ..io.load import bundled_knowledge_base, load_knowledge_base

        kb = (
            load_knowledge_base(Path(self.rules_dir))
            if self.rules_dir
            else bundled_knowledge_base()
        )
        collect_garbage_from_now()
        return kb

    @cached_property
    def triage(self) -> Triage:
        return self.triage_fired_by()

    def triage_fired_by(self, engine: str | None = None) -> Triage:
        """The triage of this knowledge base whose rules `engine` fires (experta by default).

        For the bundled rules it is built once per process and shared: a program or a test
        suite that runs many commands in one process compiles the rules once, as a single
        command does (a triage holds only the compiled rules and answers that depend on
        the rules alone). Another rules folder gets its own.
        """
        from ..reasoning.triage import EXPERTA, Triage

        engine = engine or EXPERTA
        if self.rules_dir:
            return Triage(self.kb, engine)
        shared = _SHARED.get(engine)
        if shared is None or shared.kb is not self.kb:
            shared = _SHARED[engine] = Triage(self.kb, engine)
        return shared

    @cached_property
    def questionnaire(self) -> Questionnaire:
        from ..io.load import load_questionnaire

        return load_questionnaire(
            self.kb.vocabulary, Path(self.rules_dir) if self.rules_dir else None
        )


def collect_garbage_from_now() -> None:
    """Turn the cyclic garbage collector back on if `main` deferred it, with everything built
    so far (the modules, the knowledge base) set aside from its scans (`gc.freeze`).

    What a command builds before its knowledge base is loaded lives as long as the process, so
    collecting it is wasted work: in `rank` of one case the collector ran 150 times and took
    about 0.08 s of 0.65; with the modules and the knowledge base frozen, about 0.01 s. A
    process that then forks workers also keeps those pages shared. Does nothing where the
    collector is on (a program or a test suite that calls the commands itself).
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


_SHARED: dict[str, Triage] = {}
"""The bundled knowledge base's triage, per engine."""

pass_context = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
stdin_format_option = click.option(
    "--stdin-format",
    type=click.Choice(["auto", "yaml", "json", "csv"]),
    default="auto",
    show_default=True,
    help="What `-` (standard input) holds. auto: JSON when it begins with { or [, otherwise "
    "YAML; a CSV export is never guessed: give csv.",
)


STOP_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
"""Exit code after a signal that stops a session (128 + the signal, as a shell reports it)."""
if hasattr(signal, "SIGHUP"):
    STOP_EXIT[signal.SIGHUP] = 129


class Stopped(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP during a session: what was done is kept."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def stops_as_interrupt() -> Iterator[None]:
    """Within the block, Ctrl-C, SIGTERM and SIGHUP raise `Stopped` (a KeyboardInterrupt), even
    where the session was started with Ctrl-C ignored."""

    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    try:
        previous = {s: signal.signal(s, stop) for s in STOP_EXIT}
    except ValueError:  # not the main thread: leave the signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_exit_code(stop: KeyboardInterrupt) -> int:
    """The exit code for an interrupted session."""
    return STOP_EXIT.get(getattr(stop, "signum", signal.SIGINT), 130)


def read_line(prompt: str) -> str | None:
    """One line of input; None at end of input, so a closed pipe never hangs the interview."""
    click.echo(prompt, nl=False)
    line = sys.stdin.readline()
    if not line:
        click.echo()
        return None
    if not sys.stdin.isatty():
        click.echo(line.rstrip("\n"))
    return line.strip()
