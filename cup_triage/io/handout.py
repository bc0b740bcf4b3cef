"""Handouts: a case's reasoning as Markdown or as one self-contained HTML page (no network)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader

from ..reasoning.assessment import Assessment
from ..sessions.teaching import Stage, fired_by_kind
from .render import percent

BARS_PER_STAGE = 5


@dataclass(frozen=True)
class StagedAssessment:
    stage: Stage
    assessment: Assessment


def _markdown_text(value: object) -> object:
    """Markdown passes HTML through: '<', '>' and '&' in a case's text become entities, which
    a Markdown viewer shows as the characters themselves, never as markup."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _environment(html: bool) -> Environment:
    # Everything in a handout (ids, notes, vignettes) comes from a case file someone else
    # wrote: the HTML page escapes every value (a name-based select_autoescape never matched
    # 'handout.html.j2'), the Markdown one escapes the characters that start HTML.
    environment = Environment(
        loader=PackageLoader("cup_triage.io", "templates"),
        autoescape=html,
        finalize=None if html else _markdown_text,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["percent"] = percent
    return environment


def _context(staged: list[StagedAssessment], labels: dict[str, str]) -> dict[str, Any]:
    final = staged[-1].assessment
    notes = staged[-1].stage.case.notes
    notes = notes if isinstance(notes, dict) else {"vignette": notes} if notes else {}
    return {
        "case_id": final.case_id,
        "title": notes.get("title") or f"Case {final.case_id}",
        "vignette": notes.get("vignette"),
        "teaching_points": notes.get("teaching_points") or [],
        "confirmed": final.confirmed_primary,
        "labels": labels,
        "stages": [
            {
                "title": item.stage.title,
                "revealed": item.stage.revealed,
                "bars": [
                    (c.primary, c.probability) for c in item.assessment.candidates[:BARS_PER_STAGE]
                ],
            }
            for item in staged
        ],
        "final": final,
        "by_kind": fired_by_kind(final.fired),
    }


def handout_markdown(staged: list[StagedAssessment], labels: dict[str, str]) -> str:
    """The handout as Markdown, for notes and course pages."""
    return _environment(False).get_template("handout.md.j2").render(**_context(staged, labels))


def handout_html(staged: list[StagedAssessment], labels: dict[str, str]) -> str:
    """The handout as one HTML page with inline CSS bar charts: nothing is fetched when viewed."""
    return _environment(True).get_template("handout.html.j2").render(**_context(staged, labels))
