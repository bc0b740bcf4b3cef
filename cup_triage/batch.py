"""Streams cases to result rows or error rows, written atomically; summarises accuracy."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from .case import Case
from .errors import CaseError, InputError
from .load import LoadedCase
from .vocabulary import Vocabulary
from .render import row_columns, score_row, to_json
from .triage import Triage


@dataclass
class BatchSummary:
    """Counts, failures and accuracy over a batch."""

    cases: int = 0
    scored: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    confirmed: int = 0
    top1_hits: int = 0
    top3_hits: int = 0

    @property
    def top1_accuracy(self) -> float | None:
        return self.top1_hits / self.confirmed if self.confirmed else None

    @property
    def top3_accuracy(self) -> float | None:
        return self.top3_hits / self.confirmed if self.confirmed else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "scored": self.scored,
            "failed": self.failed,
            "failures": self.failures,
            "confirmed": self.confirmed,
            "top1_accuracy": self.top1_accuracy,
            "top3_accuracy": self.top3_accuracy,
        }


def score_rows(
    loaded: Iterable[LoadedCase], triage: Triage, top_k: int, summary: BatchSummary
) -> Iterator[dict[str, Any]]:
    """One row per case, in input order; a bad case becomes an error row, never a stop."""
    seen: dict[str, str] = {}
    for item in loaded:
        summary.cases += 1
        error = item.error
        if error is None and item.case.id in seen:
            error = CaseError(f"duplicate case id (first in {seen[item.case.id]})",
                              file=item.file, case=item.case.id, field="id")
        if error is not None:
            summary.failed += 1
            summary.failures.append(str(error))
            yield {"case_id": item.case_id or "", "status": "error", "error": str(error),
                   "file": item.file}
            continue
        seen[item.case.id] = item.file
        assessment = triage.assess(item.case, suggest=False)
        summary.scored += 1
        if assessment.confirmed_primary:
            summary.confirmed += 1
            rank = assessment.rank_of(assessment.confirmed_primary)
            summary.top1_hits += rank == 1
            summary.top3_hits += rank <= 3
        yield {**score_row(assessment, top_k), "file": item.file}


def write_rows(
    rows: Iterable[dict[str, Any]],
    output: Path,
    top_k: int,
    on_row: Callable[[dict[str, Any]], None] = lambda row: None,
) -> None:
    """Write JSONL (.jsonl/.json) or CSV (.csv) atomically: a temporary file renamed at the end,
    so an interrupted run never leaves a truncated output."""
    suffix = output.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv"):
        raise InputError("output must end in .jsonl, .json or .csv", file=str(output))
    with atomic_output(output) as handle:
        if suffix == ".csv":
            writer = csv.DictWriter(handle, fieldnames=row_columns(top_k), extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
                on_row(row)
        else:
            for row in rows:
                handle.write(to_json(row) + "\n")
                on_row(row)


@contextmanager
def atomic_output(output: Path) -> Iterator[TextIO]:
    """A text file that appears at `output` whole or not at all (written aside, then renamed)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", newline="", dir=output.parent, prefix=f".{output.name}.",
        suffix=".part", delete=False,
    )
    try:
        with handle:
            yield handle
        os.replace(handle.name, output)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_case_file(case: Case, vocabulary: Vocabulary, output: Path) -> None:
    """Save a case as a case file that `rank`, `score` and `ask --resume` read back."""
    with atomic_output(output) as handle:
        yaml.safe_dump(case.to_file_dict(vocabulary), handle, sort_keys=False, allow_unicode=True)
