"""The sidecar OUT.partial: batch rows written one line at a time while a batch runs.

An interrupted run (Ctrl-C, SIGTERM, a killed job, a full disk) leaves OUT.partial holding
whole rows plus perhaps one torn last line, and no OUT. `--resume` drops the torn line and
reads the rows back in order; a row is kept only while it is the row this run would write
(its digest binds it to the case as read now, the knowledge base and the options, and to
its own content), and from the first row that is not, everything is scored again. When the
batch ends, OUT.partial is renamed onto OUT: OUT appears whole or not at all, and is the
same bytes whether the run was interrupted or not.

OUT.partial is created exclusively, never through a link, and locked while a run writes it
(files.py): a second run on the same output refuses to start.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..reasoning.assessment import KnowledgeBaseStamp
from ..reasoning.errors import InputError, quoted
from .files import atomic_output, open_partial, output_error, replace_with, write_all
from .render import csv_cells, row_columns, to_json
from .schema import SCHEMA_VERSION, software_version

OUTPUT_SUFFIXES = (".jsonl", ".json", ".csv")
_TAIL_BLOCK = 65536
_READ_BLOCK = 1 << 20

DIGEST = "digest"
"""The column that binds a row to its case, knowledge base and options (see batch.py)."""


def partial_path(output: Path) -> Path:
    """Where the rows of a batch go until it ends: OUT.partial next to OUT."""
    return output.with_name(output.name + ".partial")


# The full-width forms (U+FF1D ＝, U+FF0B ＋, U+FF0D －, U+FF20 ＠) are escaped too, as a
# precaution: a spreadsheet set up to turn full-width input into ASCII would start a formula
# with them, and the escape costs nothing because `cell_read` undoes it.
_FORMULA_START = "=+\\-@\t\r\uff1d\uff0b\uff0d\uff20"
_FORMULA = re.compile(f"'*[{_FORMULA_START}]")
_ESCAPED = re.compile(f"'+[{_FORMULA_START}]")


def spreadsheet_safe(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection): a cell starting
    with = + - @ (or their full-width forms), a tab or a carriage return gets a leading
    apostrophe. A cell already starting with apostrophes before one of those gets one more,
    so that `cell_read` undoes exactly this and a row reads back as written."""
    return "'" + cell if _FORMULA.match(cell) else cell


def cell_read(cell: str) -> str:
    """The inverse of `spreadsheet_safe`."""
    return cell[1:] if _ESCAPED.match(cell) else cell


class RowFormat:
    """How one row is written as one line, and read back."""

    header: str = ""

    def line(self, row: dict[str, Any]) -> str:
        raise NotImplementedError

    def parse(self, line: str) -> dict[str, Any]:
        raise NotImplementedError

    def finish(self, fd: int, partial: Path, output: Path) -> None:
        """Put the finished rows at OUT (the partial file, open as `fd`, is the output)."""
        replace_with(fd, partial, output)

    def other_header(self, line: bytes) -> str:
        """What the first line of a partial file that is not this format's header is."""
        return "not an output of this format"


class JsonLines(RowFormat):
    """One JSON object per line, keys sorted (JSON escapes newlines inside values)."""

    def line(self, row: dict[str, Any]) -> str:
        return to_json(row) + "\n"

    def parse(self, line: str) -> dict[str, Any]:
        row = json.loads(line)
        if not isinstance(row, dict):
            raise ValueError("not a JSON object")
        return row


class JsonDocument(JsonLines):
    """`-o OUT.json`: rows stream to OUT.partial as JSON Lines (so that a run can resume),
    and OUT is one JSON document holding them (`cup-triage schema batch`), written at the end."""

    def __init__(self, stamp: KnowledgeBaseStamp | None) -> None:
        self.stamp = stamp

    def finish(self, fd: int, partial: Path, output: Path) -> None:
        head = {
            "schema_version": SCHEMA_VERSION,
            "software_version": software_version(),
            "knowledge_base": self.stamp.model_dump() if self.stamp else None,
        }
        with atomic_output(output) as out, partial.open(encoding="utf-8") as rows:
            out.write(to_json(head)[:-1] + ',"rows":[')
            for number, line in enumerate(rows):
                out.write(("\n" if number == 0 else ",\n") + line.rstrip("\n"))
            out.write("\n]}\n")
        partial.unlink()


class CsvRows(RowFormat):
    """CSV with a fixed header; a cell never holds a line break, so a row is one line, and
    never starts like a formula."""

    def __init__(self, top_k: int) -> None:
        self.columns = [*row_columns(top_k), DIGEST]
        self.header = self._joined(self.columns)

    def _joined(self, cells: list[Any]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(cells)
        return buffer.getvalue()

    def line(self, row: dict[str, Any]) -> str:
        cells = csv_cells(row, self.columns)
        return self._joined(
            [spreadsheet_safe(quoted(c)) if isinstance(c, str) else c for c in cells]
        )

    def other_header(self, line: bytes) -> str:
        cells = next(csv.reader([line.decode("utf-8", "replace")]), [])
        if cells[:2] != self.columns[:2]:
            return "not a CSV output of cup-triage score"
        top_before = sum(1 for cell in cells if re.fullmatch(r"top\d+", cell))
        top_now = sum(1 for cell in self.columns if re.fullmatch(r"top\d+", cell))
        if top_before != top_now:
            return f"--top-k is not the interrupted run's ({top_before} → {top_now})"
        return "the columns of another version"

    def parse(self, line: str) -> dict[str, Any]:
        cells = next(csv.reader([line]))
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells, expected {len(self.columns)}")
        return dict(zip(self.columns, map(cell_read, cells), strict=True))


def row_format(output: Path, top_k: int, stamp: KnowledgeBaseStamp | None = None) -> RowFormat:
    """The format of an output file, from its suffix: .jsonl JSON Lines, .json one JSON
    document, .csv CSV."""
    suffix = output.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError("output must end in .jsonl, .json or .csv", file=str(output))
    if suffix == ".csv":
        return CsvRows(top_k)
    return JsonDocument(stamp) if suffix == ".json" else JsonLines()


OUTPUT_STARTS = (b'{"knowledge_base":', (",".join(row_columns(0)[:2]) + ",").encode())
"""How a .json output (`JsonDocument`: keys sorted, so the stamp comes first) and a .csv
output (`CsvRows`: its header) begin; a .jsonl output is never a case file's suffix."""


def replaceable_by_score(path: Path) -> bool:
    """Whether an existing file in an input folder may be replaced by a `score` output: one
    that begins as a .json or .csv output does (an earlier run's, not read as cases), and so
    does one that cannot be read (the error is reported when the output is opened); any
    other file is a case file."""
    try:
        with path.open("rb") as file:
            start = file.read(64)
    except OSError:
        return True
    return start.startswith(OUTPUT_STARTS)


class Resumed:
    """The rows an interrupted run wrote, read back one at a time from OUT.partial.

    `reject()` says the row just read is not the row this run would write: that row and
    every later one are cut from the file (the run scores them again and appends them).
    """

    def __init__(self, fd: int, partial: Path, form: RowFormat, start: int, end: int) -> None:
        self._fd = fd
        self._partial = partial
        self._form = form
        self._start = start
        self._end = end
        self._last: int | None = None
        self.note: str | None = None
        """Why rows were scored again, for the summary (None when every row was kept)."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for offset, line in self._lines():
            self._last = offset
            try:
                row = self._form.parse(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                self.reject(f"row at byte {offset} of {self._partial.name} is damaged ({exc})")
                return
            yield row
            if self._last is None:  # rejected while the caller held the row
                return
        self._last = None

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        offset, pending = self._start, b""
        position = self._start
        while position < self._end:
            block = os.pread(self._fd, min(_READ_BLOCK, self._end - position), position)
            if not block:
                break
            position += len(block)
            pending += block
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield offset, line + b"\n"
                offset += len(line) + 1

    def reject(self, reason: str) -> None:
        """Cut the last row read and all after it; they are scored again."""
        cut = self._last if self._last is not None else self._end
        if cut < self._end:
            os.ftruncate(self._fd, cut)
            self._end = cut
            self.note = self.note or reason
        self._last = None


class RowSink:
    """Appends rows to OUT.partial, one write per line, so that a killed process leaves every
    finished row on disk."""

    def __init__(self, fd: int, partial: Path, form: RowFormat, done: Resumed | None) -> None:
        self._fd = fd
        self._partial = partial
        self._form = form
        self.done = done
        """Rows an interrupted run already wrote (None on a fresh run)."""

    def write(self, row: dict[str, Any]) -> None:
        try:
            os.lseek(self._fd, 0, os.SEEK_END)
            write_all(self._fd, self._form.line(row).encode("utf-8"))
        except OSError as exc:
            raise output_error(exc, self._partial) from exc


@contextmanager
def resumable_output(
    output: Path,
    form: RowFormat,
    *,
    resume: bool,
    inputs: list[os.stat_result] = (),  # type: ignore[assignment]
) -> Iterator[RowSink]:
    """A sink for the rows of a batch; on a clean exit OUT.partial is renamed onto OUT.

    With `resume` and an OUT.partial from an interrupted run, its whole rows are offered back
    as `sink.done`; otherwise OUT.partial starts empty. On an error or an interruption
    OUT.partial is left for `--resume`.
    """
    partial = partial_path(output)
    fd, created = open_partial(partial, output, list(inputs))
    try:
        done = None
        try:
            if resume and not created:
                done = _read_back(fd, partial, form)
            if done is None or done.note:
                os.ftruncate(fd, 0)
                write_all(fd, form.header.encode("utf-8"))
        except OSError as exc:
            raise output_error(exc, partial) from exc
        yield RowSink(fd, partial, form, done)
        try:
            form.finish(fd, partial, output)
        except OSError as exc:
            raise output_error(exc, output) from exc
    finally:
        os.close(fd)


def _read_back(fd: int, partial: Path, form: RowFormat) -> Resumed | None:
    """The rows of an interrupted run, after its torn last line is cut; when nothing of it
    can be kept (another header: another --top-k, not a CSV output), no rows and a note
    saying why, as a row that does not hold has one (None: there was nothing to read)."""
    end = _whole_lines_length(fd)
    os.ftruncate(fd, end)
    header = form.header.encode("utf-8")
    if os.pread(fd, len(header), 0) == header:
        return Resumed(fd, partial, form, len(header), end)
    if end == 0:
        return None
    first = os.pread(fd, min(end, _TAIL_BLOCK), 0).split(b"\n", 1)[0]
    done = Resumed(fd, partial, form, len(header), len(header))
    done.note = f"{partial.name} does not begin with this run's header ({form.other_header(first)})"
    return done


def _whole_lines_length(fd: int) -> int:
    """The length of a file up to and including its last line break (a torn last line
    from an interrupted write is dropped); read from the end, whatever the file's size."""
    end = os.fstat(fd).st_size
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        block = os.pread(fd, end - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0
