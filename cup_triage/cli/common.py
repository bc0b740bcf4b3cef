"""What every command shares: the knowledge base and the triage built from it, once."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import click
from rich.console import Console

from ..io.load import bundled_knowledge_base, load_knowledge_base
from ..reasoning.knowledge import KnowledgeBase
from ..reasoning.triage import Triage


@dataclass
class Context:
    rules_dir: str | None = None
    debug: bool = False
    console: Console = field(default_factory=lambda: Console(highlight=False))

    @cached_property
    def kb(self) -> KnowledgeBase:
        return (
            load_knowledge_base(Path(self.rules_dir))
            if self.rules_dir
            else bundled_knowledge_base()
        )

    @cached_property
    def triage(self) -> Triage:
        return Triage(self.kb)


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
