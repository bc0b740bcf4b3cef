"""The sidecar OUT.partial: batch rows flushed one line at a time while a batch runs.

An interrupted run (Ctrl-C, a killed job, a full disk) leaves OUT.partial holding whole
rows plus perhaps one torn last line, and no OUT. `--resume` drops the torn line, reads
the whole rows back (their cases are not scored again) and appends the rest. When the
batch ends, OUT.partial is renamed onto OUT: OUT appears whole or not at all, and is the
same bytes whether the run was interrupted or not.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from ..reasoning.errors import InputError, one_line
from .render import row_columns, to_json

OUTPUT_SUFFIXES = (".jsonl", ".json", ".csv")
_TAIL_BLOCK = 65536


def partial_path(output: Path) -> Path:
    """Where the rows of a batch go until it ends: OUT.partial next to OUT."""
    return output.with_name(output.name + ".partial")


class RowFormat:
    """How one row is written as one line, and read back."""

    header: str = ""

    def line(self, row: dict[str, Any]) -> str:
        raise NotImplementedError

    def parse(self, line: str) -> dict[str, Any]:
        raise NotImplementedError


class JsonLines(RowFormat):
    """One JSON object per line, keys sorted (JSON escapes newlines inside values)."""

    def line(self, row: dict[str, Any]) -> str:
        return to_json(row) + "\n"

    def parse(self, line: str) -> dict[str, Any]:
        row = json.loads(line)
        if not isinstance(row, dict):
            raise ValueError("not a JSON object")
        return row


class CsvRows(RowFormat):
    """CSV with a fixed header; a cell never holds a line break, so a row is one line."""

    def __init__(self, top_k: int) -> None:
        self.columns = row_columns(top_k)
        self.header = self._joined(self.columns)

    def _joined(self, cells: list[Any]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(cells)
        return buffer.getvalue()

    def line(self, row: dict[str, Any]) -> str:
        cells = [row.get(column, "") for column in self.columns]
        return self._joined([one_line(c) if isinstance(c, str) else c for c in cells])

    def parse(self, line: str) -> dict[str, Any]:
        cells = next(csv.reader([line]))
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells, expected {len(self.columns)}")
        return dict(zip(self.columns, cells, strict=True))


def row_format(output: Path, top_k: int) -> RowFormat:
    """The format of an output file, from its suffix."""
    suffix = output.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError("output must end in .jsonl, .json or .csv", file=str(output))
    return CsvRows(top_k) if suffix == ".csv" else JsonLines()


class RowSink:
    """Appends rows to OUT.partial, each line flushed at once so that a killed process
    leaves every finished row on disk."""

    def __init__(self, handle: TextIO, form: RowFormat, done: Iterator[dict[str, Any]]) -> None:
        self._handle = handle
        self._form = form
        self.done = done
        """Rows an interrupted run already wrote, read back lazily (none on a fresh run)."""

    def write(self, row: dict[str, Any]) -> None:
        self._handle.write(self._form.line(row))
        self._handle.flush()


@contextmanager
def resumable_output(output: Path, form: RowFormat, *, resume: bool) -> Iterator[RowSink]:
    """A sink for the rows of a batch; on a clean exit OUT.partial is renamed onto OUT.

    With `resume` and an OUT.partial from an interrupted run, its whole rows are kept and
    offered back as `sink.done`; otherwise OUT.partial starts empty. On an error or an
    interruption OUT.partial is left for `--resume`.
    """
    partial = partial_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    kept = _whole_lines_length(partial) if resume and partial.is_file() else 0
    if kept:
        os.truncate(partial, kept)
        done = _rows_in(partial, form)
    else:
        partial.write_text(form.header, encoding="utf-8", newline="")
        done = iter(())
    with partial.open("a", encoding="utf-8", newline="") as handle:
        yield RowSink(handle, form, done)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, output)


def _whole_lines_length(path: Path) -> int:
    """The length of a file up to and including its last line break (a torn last line
    from an interrupted write is dropped); read from the end, whatever the file's size."""
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        while end > 0:
            start = max(0, end - _TAIL_BLOCK)
            handle.seek(start)
            block = handle.read(end - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return 0


def _rows_in(partial: Path, form: RowFormat) -> Iterator[dict[str, Any]]:
    """The rows of OUT.partial, one at a time; a header or a row that does not read back
    means the file is not the partial output of this command."""
    with partial.open(encoding="utf-8", newline="") as handle:
        if form.header:
            header = handle.readline()
            if header and header != form.header:
                raise InputError(
                    "has other columns than this run writes (another --top-k?)",
                    file=str(partial),
                    line=1,
                    hint="run again without --resume",
                )
        for number, line in enumerate(handle, 2 if form.header else 1):
            try:
                yield form.parse(line)
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                raise InputError(
                    f"damaged row ({exc})",
                    file=str(partial),
                    line=number,
                    hint="run again without --resume",
                ) from exc
