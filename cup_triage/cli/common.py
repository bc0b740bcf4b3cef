"""What every command shares: the knowledge base and the triage built from it, once."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import click
from rich.console import Console

from ..reasoning.knowledge import KnowledgeBase
from ..io.load import bundled_knowledge_base, load_knowledge_base
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
