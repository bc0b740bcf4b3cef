"""Handouts: a case's reasoning as Markdown or as one self-contained HTML page (no network),
in a teacher's copy or a student's copy; the class summary of quiz logs; the two theories of
metastatic spread as a table for the terminal.

The student's copy is built from the case's findings alone: it is given no assessment, so no
engine differential, confirmed primary or discussion can reach it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ..reasoning.assessment import Assessment
from ..reasoning.case import Case
from ..reasoning.triage import Triage
from ..reasoning.vocabulary import Vocabulary
from ..sessions.classroom import CaseSummary
from ..sessions.teaching import (
    Stage,
    TheoryView,
    fired_by_kind,
    revealed_findings,
    stages,
    theories,
)
from .render import percent

if TYPE_CHECKING:
    from jinja2 import Environment

BARS_PER_STAGE = 5
WRITE_IN_ROWS = 5
"""Lines for the class's differential at each stage of a student's copy."""
THEORY_BARS = 5


class Audience(StrEnum):
    TEACHER = "teacher"
    STUDENTS = "students"


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
    from jinja2 import Environment, PackageLoader  # only a handout needs templates

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
    environment.filters["short"] = _short
    environment.filters["points"] = _points
    environment.filters["width"] = lambda p: f"{max(0.0, min(1.0, p)) * 100:.1f}%"
    return environment


def _short(label: str) -> str:
    """A primary's label without its parenthesis, for narrow columns ('Liver')."""
    return label.split(" (")[0]


def _points(change: float) -> str:
    """A change of probability in percentage points ('+12 pts', '0 pts')."""
    points = round(change * 100)
    return f"{points:+d} pts" if points else "0 pts"


def _notes(case: Case) -> dict[str, Any]:
    notes = case.notes
    return notes if isinstance(notes, dict) else {"vignette": notes} if notes else {}


def handout(
    triage: Triage, case: Case, audience: Audience = Audience.TEACHER, *, markdown: bool = False
) -> str:
    """The handout of one case for a teacher (the reasoning and the answer) or for students
    (the stages to reveal and room for the class's differential, no answer)."""
    vocabulary = triage.kb.vocabulary
    unfolded = stages(case, vocabulary)
    notes = _notes(case)
    context: dict[str, Any] = {
        "case_id": case.id,
        "title": notes.get("title") or f"Case {case.id}",
        "audience": audience.value,
        "disclaimer": vocabulary.disclaimer,
        "knowledge_base": triage.stamp,
        "write_in_rows": WRITE_IN_ROWS,
        "stages": [
            {
                "number": n,
                "title": stage.title,
                "findings": revealed_findings(stage, vocabulary),
            }
            for n, stage in enumerate(unfolded, 1)
        ],
    }
    if audience is Audience.TEACHER:
        context |= _teacher_context(triage, case, unfolded, notes, context["stages"])
    name = "handout.md.j2" if markdown else "handout.html.j2"
    return _environment(not markdown).get_template(name).render(**context)


def _teacher_context(
    triage: Triage,
    case: Case,
    unfolded: list[Stage],
    notes: dict[str, Any],
    shown_stages: list[dict[str, Any]],
) -> dict[str, Any]:
    vocabulary = triage.kb.vocabulary
    labels = {p.id: p.label for p in vocabulary.primaries.values()}
    staged = [triage.assess(stage.case) for stage in unfolded]
    final = staged[-1]
    truth = case.confirmed_primary
    before: dict[str, float] = {}
    for shown, assessment in zip(shown_stages, staged, strict=True):
        shown["bars"] = [
            (c.primary, c.probability, c.probability - before[c.primary] if before else None)
            for c in assessment.candidates[:BARS_PER_STAGE]
        ]
        before = {c.primary: c.probability for c in assessment.candidates}
        suggestion = (assessment.next_questions or assessment.next_tests or (None,))[0]
        shown["next"] = suggestion
        shown["truth_rank"] = assessment.rank_of(truth) if truth else None
    return {
        "labels": labels,
        "vignette": notes.get("vignette"),
        "teaching_points": notes.get("teaching_points") or [],
        "confirmed": truth,
        "movement": _movement(staged, unfolded, vocabulary),
        "theories": [_theory_dict(view) for view in theories(triage, case)],
        "final": final,
        "by_kind": fired_by_kind(final.fired),
        "truth_ranks": [a.rank_of(truth) for a in staged] if truth else [],
    }


def _movement(
    staged: list[Assessment], unfolded: list[Stage], vocabulary: Vocabulary
) -> dict[str, Any]:
    """Every primary in the top three at some stage, with its probability at each stage: the
    chart of how the differential moved, headed by the findings each stage revealed."""
    shown: list[str] = []
    for assessment in staged:
        for candidate in assessment.candidates[:3]:
            if candidate.primary not in shown:
                shown.append(candidate.primary)
    probability = [{c.primary: c.probability for c in a.candidates} for a in staged]
    return {
        "columns": [
            {"title": stage.title, "findings": revealed_findings(stage, vocabulary)}
            for stage in unfolded
        ],
        "rows": [(p, [step[p] for step in probability]) for p in shown],
    }


def _theory_dict(view: TheoryView) -> dict[str, Any]:
    return {
        "title": view.title,
        "reference": view.reference,
        "kind": view.kind,
        "bars": view.ranking[:THEORY_BARS],
        "evidence": view.evidence,
    }


def class_summary_html(summaries: list[CaseSummary], vocabulary: Vocabulary) -> str:
    """The class summary as one self-contained HTML page with bar charts."""
    labels = {p.id: p.label for p in vocabulary.primaries.values()}
    return (
        _environment(True)
        .get_template("handout.class.html.j2")
        .render(cases=summaries, labels=labels, disclaimer=vocabulary.disclaimer)
    )


def theories_table(views: tuple[TheoryView, ...], labels: dict[str, str], top: int = 5) -> Table:
    """Seed and soil beside Ewing beside the combined ranking, as one table for the terminal."""
    table = Table("#", *(v.short_title for v in views), title="Two theories of metastatic spread")
    for rank in range(top):
        table.add_row(
            str(rank + 1),
            *(
                f"{_short(labels[view.ranking[rank][0]])} {percent(view.ranking[rank][1])}"
                for view in views
            ),
        )
    return table


def theory_evidence_lines(view: TheoryView, labels: dict[str, str]) -> list[str]:
    """The fired rules behind one theory's ranking, one line each."""
    lines = []
    for item in view.evidence:
        effect = ""
        if item.concludes:
            effect = " ⇒ " + ", ".join(f"{k} = {v}" for k, v in item.concludes)
        elif item.favours:
            effect = " → " + ", ".join(f"{_short(labels[p])} ×{w:g}" for p, w in item.favours)
        elif item.disfavours:
            effect = " → against " + ", ".join(
                f"{_short(labels[p])} ×{w:g}" for p, w in item.disfavours
            )
        lines.append(f"{item.conditions}{effect}  [{item.rule_id}]")
    return lines
