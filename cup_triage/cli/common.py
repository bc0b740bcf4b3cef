"""What every command shares: the knowledge base and the triage built from it, once."""

from __future__ import annotations

import sys
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

        return Console(highlight=False)

    @cached_property
    def kb(self) -> KnowledgeBase:
        from ..io.load import bundled_knowledge_base, load_knowledge_base

        return (
            load_knowledge_base(Path(self.rules_dir))
            if self.rules_dir
            else bundled_knowledge_base()
        )

    @cached_property
    def triage(self) -> Triage:
        from ..reasoning.triage import Triage

        return Triage(self.kb)

    @cached_property
    def questionnaire(self) -> Questionnaire:
        from ..io.load import load_questionnaire

        return load_questionnaire(
            self.kb.vocabulary, Path(self.rules_dir) if self.rules_dir else None
        )


pass_context = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


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
