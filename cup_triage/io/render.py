"""Text, JSON and CSV renderings of assessments; makes no clinical decision."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..reasoning.assessment import Assessment, Candidate, KnowledgeBaseStamp, RankedCase
from ..reasoning.case import Case
from ..reasoning.vocabulary import Vocabulary
from .schema import (
    SCHEMA_VERSION,
    AssessedCase,
    AssessmentDocument,
    ConditionCode,
    HistologyCode,
    TheoryRanking,
    software_version,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# rich is imported by the functions that draw with it: batch rows and JSON, and the forked
# workers of a batch, never load it.

EVIDENCE_SHOWN = 4
CANDIDATES_EXPLAINED = 3


def to_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no trailing spaces. NaN and infinity are no JSON
    numbers: they raise ValueError here instead of printing a document no reader accepts
    (the models refuse them where they are made, so this is the last guard)."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def assessment_dict(assessment: Assessment) -> dict[str, Any]:
    return assessment.model_dump(mode="json")


def assessed_case(
    assessment: Assessment, vocabulary: Vocabulary, case: Case | None = None
) -> AssessedCase:
    """One assessment with the codes of what was assessed (CUP as ICD-10, the histology as
    ICD-O-3 morphology when the case gives one)."""
    histology = None
    if case is not None and case.histology is not None:
        option = vocabulary.histologies[case.histology]
        histology = HistologyCode(
            id=option.id,
            label=option.label,
            icd_o3_morphology=getattr(option, "icd_o3_morphology", None),
        )
    return AssessedCase(
        condition=condition_code(vocabulary), histology=histology, assessment=assessment
    )


def condition_code(vocabulary: Vocabulary) -> ConditionCode:
    condition = getattr(vocabulary, "condition", None)
    if condition is None:
        return ConditionCode(code=CUP_ICD10, display=CUP_ICD10_DISPLAY)
    return ConditionCode(code=condition.icd10, display=condition.icd10_display)


CUP_ICD10 = "C80"
CUP_ICD10_DISPLAY = "Malignant neoplasm without specification of site"
"""Used only with a knowledge base whose vocabulary does not name the condition itself."""


def assessment_document(
    results: Iterable[Assessment | tuple[Case, Assessment]],
    vocabulary: Vocabulary,
    theories: Iterable[Iterable[Any]] | None = None,
) -> dict[str, Any]:
    """What `rank --json` prints and `ask --jsonl` sends as its result: one object, whatever
    the number of cases (`schema assessment` describes it). Give (case, assessment) pairs to
    include the histology's code, and `theories` (one list of teaching TheoryViews per case,
    as `rank --theories` shows them) to include the ranking of each theory."""
    items = [r if isinstance(r, tuple) else (None, r) for r in results]
    assessed = [assessed_case(assessment, vocabulary, case) for case, assessment in items]
    if theories is not None:
        assessed = [
            entry.model_copy(
                update={
                    "theories": [
                        TheoryRanking(title=v.title, kind=v.kind, ranking=list(v.ranking))
                        for v in views
                    ]
                    or None
                }
            )
            for entry, views in zip(assessed, theories, strict=True)
        ]
    stamp = (
        assessed[0].assessment.knowledge_base
        if assessed
        else KnowledgeBaseStamp(version=vocabulary.version, hash="")
    )
    document = AssessmentDocument(
        schema_version=SCHEMA_VERSION,
        software_version=software_version(),
        knowledge_base=stamp,
        assessments=assessed,
    )
    return document.model_dump(mode="json")


def _row_head(stamp: KnowledgeBaseStamp, vocabulary: Vocabulary | None) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "software_version": software_version(),
        "icd10": condition_code(vocabulary).code if vocabulary else CUP_ICD10,
        "kb_version": stamp.version,
        "kb_hash": stamp.hash,
    }


def score_row(
    ranked: RankedCase,
    top_k: int,
    vocabulary: Vocabulary | None = None,
    histology: str | None = None,
) -> dict[str, Any]:
    """One batch row: top-k primaries with probabilities and codes, subsets, red flags.

    Values are typed (numbers, lists, null for what is not known); `csv_cells` flattens a
    row for CSV. `schema row` describes it."""
    row: dict[str, Any] = {
        **_row_head(ranked.knowledge_base, vocabulary),
        "case_id": ranked.case_id,
        "status": "ok",
        "error": None,
    }
    for rank in range(1, top_k + 1):
        candidate = ranked.candidates[rank - 1] if rank <= len(ranked.candidates) else None
        row[f"top{rank}"] = candidate.primary if candidate else None
        row[f"top{rank}_probability"] = candidate.probability if candidate else None
        row[f"top{rank}_icd_o3"] = list(candidate.icd_o3) if candidate else None
        row[f"top{rank}_oncotree"] = candidate.oncotree if candidate else None
    row["other_primary_probability"] = ranked.other_primary_probability
    # Sorted ids: the order in which rules fire may differ between processes, a row may not.
    row["subsets"] = sorted(set(ranked.subsets))
    row["red_flags"] = sorted(set(ranked.red_flags))
    row["confirmed_primary"] = ranked.confirmed_primary
    row["confirmed_rank"] = (
        ranked.rank_of(ranked.confirmed_primary) if ranked.confirmed_primary else None
    )
    option = vocabulary.histologies.get(histology or "") if vocabulary else None
    row["histology_icd_o3"] = getattr(option, "icd_o3_morphology", None)
    return row


def error_row(
    case_id: str | None,
    error: str,
    file: str | None,
    top_k: int,
    stamp: KnowledgeBaseStamp,
    vocabulary: Vocabulary | None = None,
) -> dict[str, Any]:
    """The row of a case that could not be scored: the same keys as a scored row."""
    row: dict[str, Any] = {
        **_row_head(stamp, vocabulary),
        "case_id": case_id or None,
        "status": "error",
        "error": error,
    }
    for rank in range(1, top_k + 1):
        for suffix in ("", "_probability", "_icd_o3", "_oncotree"):
            row[f"top{rank}{suffix}"] = None
    row.update(
        other_primary_probability=None,
        subsets=[],
        red_flags=[],
        confirmed_primary=None,
        confirmed_rank=None,
        histology_icd_o3=None,
        file=file,
    )
    return row


def csv_cells(row: dict[str, Any], columns: list[str]) -> list[Any]:
    """A row as CSV cells: lists as 'a|b', null as an empty cell."""
    cells = []
    for column in columns:
        value = row.get(column)
        if isinstance(value, list | tuple):
            value = "|".join(str(v) for v in value)
        cells.append("" if value is None else value)
    return cells


def row_columns(top_k: int) -> list[str]:
    columns = ["case_id", "status", "error"]
    for rank in range(1, top_k + 1):
        columns += [
            f"top{rank}",
            f"top{rank}_probability",
            f"top{rank}_icd_o3",
            f"top{rank}_oncotree",
        ]
    return columns + [
        "other_primary_probability",
        "subsets",
        "red_flags",
        "confirmed_primary",
        "confirmed_rank",
        "histology_icd_o3",
        "icd10",
        "kb_version",
        "kb_hash",
        "schema_version",
        "software_version",
        "file",
    ]


def percent(probability: float) -> str:
    # A model estimate is never certain: "100.0%" would claim what no finding can give.
    if probability > 0.999:
        return ">99.9%"
    return f"{probability * 100:.1f}%" if probability >= 0.001 else "<0.1%"


def _evidence_lines(candidate: Candidate, explained: set[str]) -> Text:
    """Evidence for and against one candidate; a rationale already printed is not repeated."""
    from rich.text import Text

    text = Text()
    for title, items, style in (
        ("for", candidate.evidence_for, "green"),
        ("against", candidate.evidence_against, "red"),
    ):
        if not items:
            text.append(f"  {title}: none\n", style="dim")
            continue
        text.append(f"  {title}:\n", style=f"bold {style}")
        for item in items[:EVIDENCE_SHOWN]:
            text.append(f"    ×{item.likelihood_ratio:.3g}  ", style=style)
            text.append(f"{item.conditions}", style="bold")
            text.append(f"  [{item.kind}] {item.rule_id}\n", style="dim")
            if item.discounted_because:
                text.append(
                    f"        counts as ×{item.likelihood_ratio**item.weight:.3g} "
                    f"({item.discounted_because})\n",
                    style="dim",
                )
            if item.rule_id not in explained:
                text.append(f"        {item.rationale}\n")
                explained.add(item.rule_id)
        if len(items) > EVIDENCE_SHOWN:
            text.append(f"    … and {len(items) - EVIDENCE_SHOWN} more\n", style="dim")
    return text


def render_assessment(assessment: Assessment, console: Console, top: int = 10) -> None:
    """Print a full report: red flags first, then ranking, explanation, subsets and advice."""
    from rich.console import Group
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    # A case id is the case file author's text: shown as written, never read as markup.
    console.rule(f"[bold]cup-triage · case {escape(assessment.case_id)}")
    for flag in assessment.red_flags:
        console.print(
            Panel(f"[bold]{flag.label}[/]\n{flag.action}", title="RED FLAG", border_style="red")
        )
    for conflict in assessment.data_conflicts:
        console.print(Panel(conflict.message, title="DATA CONFLICT", border_style="yellow"))
    table = Table(title="Candidate primaries", title_justify="left")
    for column in ("#", "primary", "probability", "ICD-O-3", "OncoTree"):
        table.add_column(column, justify="right" if column in ("#", "probability") else "left")
    for rank, candidate in enumerate(assessment.candidates[:top], 1):
        marker = " ✓" if candidate.primary == assessment.confirmed_primary else ""
        table.add_row(
            str(rank),
            candidate.label + marker,
            percent(candidate.probability),
            ", ".join(candidate.icd_o3),
            candidate.oncotree,
        )
    console.print(table)
    other = assessment.other_primary
    console.print(
        f"A primary not on the list: {percent(other.probability)} "
        f"[dim](prior {percent(other.prior)}: rare primaries and primaries never found)[/]"
    )
    console.print(
        f"[italic]{assessment.uncertainty.statement}[/] "
        f"(top 3 together {percent(assessment.uncertainty.top3_probability)}, "
        f"entropy {assessment.uncertainty.entropy_bits:.2f} bits)"
    )
    explained: set[str] = set()
    for candidate in assessment.candidates[:CANDIDATES_EXPLAINED]:
        console.print(
            Group(
                Text(f"\nWhy {candidate.label} ({percent(candidate.probability)})", style="bold"),
                _evidence_lines(candidate, explained),
            )
        )
    for subset in assessment.subsets:
        console.print(
            Panel(
                f"[bold]{subset.label}[/]\nTreat as: {subset.treat_as}. {subset.management}\n"
                f"Confirm with: {'; '.join(subset.workup)}\n[dim]{subset.source}[/]",
                title="Favourable subset",
                border_style="green",
            )
        )
    _render_advice(assessment, console)
    console.print(
        f"\n[dim]Knowledge base {assessment.knowledge_base.version} "
        f"({assessment.knowledge_base.hash})[/]"
    )
    console.print(Panel(assessment.disclaimer, border_style="yellow", title="Not a diagnosis"))


def _render_advice(assessment: Assessment, console: Console) -> None:
    titles = {
        "limit_investigation": "Limit investigation",
        "imaging_unlikely_to_help": "On further imaging",
        "targeted_workup": "Targeted work-up",
        "minimal_workup": "Minimal work-up (guidelines)",
    }
    for category, title in titles.items():
        items = [a for a in assessment.advice if a.category == category]
        if items:
            console.print(f"\n[bold]{title}[/]")
            for item in items:
                console.print(f"  • {item.text} [dim]({item.source})[/]")
    for title, suggestions in (
        ("Ask next", assessment.next_questions),
        ("Stains and tests that would most change the ranking", assessment.next_tests),
    ):
        if suggestions:
            console.print(f"\n[bold]{title}[/]")
            for s in suggestions:
                console.print(
                    f"  • {s.question} [dim](separates {', '.join(s.separates)}; "
                    f"expected gain {s.expected_gain_bits:.2f} bits)[/]"
                )
