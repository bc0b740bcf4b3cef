"""The only file reader: case files (YAML, JSON, CSV) and the knowledge base, read safely.

Every way a file can be wrong (too big, binary, not UTF-8, malformed, a bad column, a bad
case) becomes an error value naming the file, the case and the field; the cases around it
are still read. Parsing itself, bounded against hostile text, is in formats.py.
"""

from __future__ import annotations

import codecs
import importlib.resources
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO, TypeVar

from pydantic import BaseModel, ValidationError

from ..reasoning.case import LIST_SECTIONS, Case, parse_case
from ..reasoning.errors import CaseError, CupTriageError, InputError, KnowledgeError
from ..reasoning.knowledge import KnowledgeBase, RulesFile
from ..reasoning.vocabulary import SECTIONS, Vocabulary, VocabularyFile, did_you_mean
from .formats import Header, Record, csv_records, json_records, yaml_records

VOCABULARY_FILE = "vocabulary.yaml"
CASE_SUFFIXES = (".yaml", ".yml", ".json", ".csv")
LIST_SEPARATORS = (";", "|", ",")

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest YAML or JSON file read (they are decoded in memory, then parsed case by case).
CSV streams row by row, so a registry export of any length is read in flat memory."""

MAX_DOCUMENT_NODES = 2_000_000
"""Most values in a knowledge-base file or another whole document (aliases expanded)."""

SNIFF_BYTES = 8192
"""How much of a file is looked at to tell text from binary data."""

MAX_CSV_LINE = 2**20
"""Longest line of a CSV file (a registry row is a few hundred characters): bounds the
memory a CSV with no line breaks would take."""
M = TypeVar("M", bound=BaseModel)


def bundled_rules_dir() -> Path:
    """The rules shipped in the wheel, or the checkout's rules/ when running from source."""
    packaged = Path(str(importlib.resources.files("cup_triage"))) / "rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "rules"


def bundled_cases_dir() -> Path:
    """The example and teaching cases shipped in the wheel, or the checkout's cases/."""
    packaged = Path(str(importlib.resources.files("cup_triage"))) / "cases"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "cases"


def read_data_file(path: Path) -> Any:
    """Parse one whole YAML or JSON document safely (a rules file, a log); errors name the
    file and the line."""
    text = _read_text(path)
    parse = json_records if path.suffix.lower() == ".json" else yaml_records
    for record in parse(text, split_list=False, limit=MAX_DOCUMENT_NODES):
        if isinstance(record, InputError):
            raise record.located(file=str(path))
        return record.data
    return None


def _read_text(path: Path) -> str:
    """The text of a YAML or JSON file: refused when too big, binary or not UTF-8."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"file too large: {size / 2**20:.1f} MB, the limit is {MAX_FILE_BYTES // 2**20} MB",
                file=file,
                hint="split it into several files, or export the cases as CSV",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=file) from exc
    _refuse_binary(data[:SNIFF_BYTES], file)
    if b"\0" in data:
        raise _not_text(file)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
            file=file,
            line=line,
            hint="save the file as UTF-8; it may be Latin-1 or Windows-1252",
        ) from exc


def _refuse_binary(sample: bytes, file: str) -> None:
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InputError("UTF-32 text, not UTF-8", file=file, hint="save the file as UTF-8")
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError("UTF-16 text, not UTF-8", file=file, hint="save the file as UTF-8")
    # Text has no NUL and few control bytes; images, archives, spreadsheets and PDFs have many.
    controls = sum(1 for byte in sample if byte < 32 and byte not in b"\t\n\r\f\v\x1b")
    if b"\0" in sample or controls > len(sample) // 20:
        raise _not_text(file)


def _not_text(file: str) -> InputError:
    return InputError(
        "not a text case file (binary data)",
        file=file,
        hint="case files are YAML, JSON or CSV text; a spreadsheet must be saved as CSV",
    )


def _validated(model: type[M], data: Any, file: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise KnowledgeError(
            f"{first['msg']} (got {first.get('input')!r:.80})".replace("Value error, ", ""),
            file=file,
            field=_where(data, first["loc"]) or None,
            hint=f"{exc.error_count() - 1} more problem(s) in this file"
            if exc.error_count() > 1
            else None,
        ) from exc


def _where(data: Any, location: tuple[Any, ...]) -> str:
    """A schema error's place, by rule id when it is inside a rule ('rule x › when[0].is')."""
    parts = [f"[{part}]" if isinstance(part, int) else f".{part}" for part in location]
    if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
        rules = data.get("rules") if isinstance(data, Mapping) else None
        rule = rules[location[1]] if isinstance(rules, list) and location[1] < len(rules) else None
        if isinstance(rule, Mapping) and isinstance(rule.get("id"), str):
            return f"rule {rule['id']} › " + "".join(parts[2:]).lstrip(".")
    return "".join(parts).lstrip(".")


def load_knowledge_base(rules_dir: Path | None = None) -> KnowledgeBase:
    """Read and cross-check the vocabulary and every rules file of a folder."""
    folder = rules_dir or bundled_rules_dir()
    vocab_path = folder / VOCABULARY_FILE
    vocabulary = Vocabulary(
        _validated(VocabularyFile, _knowledge_file(vocab_path), str(vocab_path))
    )
    files = {
        path.name: _validated(RulesFile, _knowledge_file(path), str(path))
        for path in sorted(folder.glob("*.yaml"))
        if path.name != VOCABULARY_FILE
    }
    return KnowledgeBase(vocabulary, files)


def _knowledge_file(path: Path) -> Any:
    try:
        return read_data_file(path)
    except InputError as error:
        # An unreadable rules file is a broken knowledge base (exit 3), not bad case input.
        raise KnowledgeError(
            error.message, file=error.file, line=error.line, hint=error.hint
        ) from error


@lru_cache(maxsize=1)
def bundled_knowledge_base() -> KnowledgeBase:
    """The knowledge base shipped with the package, loaded once per process."""
    return load_knowledge_base()


@dataclass(frozen=True)
class LoadedCase:
    """One case read from a file, or the error that stopped it from being read."""

    file: str
    case: Case | None = None
    error: CupTriageError | None = None

    @property
    def case_id(self) -> str | None:
        return self.case.id if self.case else (self.error.case if self.error else None)


def case_files(paths: Iterable[Path]) -> Iterator[Path | InputError]:
    """Expand files and folders (recursively, sorted) into case files; missing paths are errors."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CASE_SUFFIXES
            )
        elif path.is_file():
            yield path
        elif path.exists():
            yield InputError("not a regular file", file=str(path))
        else:
            yield InputError("no such file or folder", file=str(path))


def iter_cases(paths: Iterable[Path], vocabulary: Vocabulary) -> Iterator[LoadedCase]:
    """Every case under the given paths, in a stable order, one at a time; a bad file or a
    bad case is an error item and never hides the cases around it."""
    for item in case_files(paths):
        if isinstance(item, InputError):
            yield LoadedCase(file=item.file or "", error=item)
            continue
        file = str(item)
        for record in _case_records(item, vocabulary):
            if isinstance(record, InputError):
                yield LoadedCase(file=file, error=record.located(file=file))
                continue
            try:
                case = parse_case(record.data, vocabulary, file=file)
            except CaseError as error:
                if record.index is not None:
                    error.located(case=record.name, line=record.line)
                yield LoadedCase(file=file, error=error)
                continue
            yield LoadedCase(file=file, case=case)


def load_case(path: Path, vocabulary: Vocabulary) -> list[Case]:
    """All cases of one file, raising the first error (for commands that need every case)."""
    cases = []
    for loaded in iter_cases([path], vocabulary):
        if loaded.error is not None:
            raise loaded.error
        cases.append(loaded.case)
    return cases


def _case_records(path: Path, vocabulary: Vocabulary) -> Iterator[Record | InputError]:
    """The raw case mappings of one file, one at a time: a case, a list of cases, CSV rows."""
    if path.suffix.lower() == ".csv":
        yield from _csv_cases(path, vocabulary)
        return
    try:
        text = _read_text(path)
    except InputError as error:
        yield error
        return
    parse = json_records if path.suffix.lower() == ".json" else yaml_records
    for record in parse(text):
        if isinstance(record, InputError) or record.index is not None:
            yield record
        elif record.data is None:
            yield InputError("empty file: expected a case (a mapping) or a list of cases")
        elif isinstance(record.data, list):  # a list the parser could not read item by item
            for index, data in enumerate(record.data, 1):
                yield Record(data, index, record.line)
        elif isinstance(record.data, Mapping):
            yield record
        else:
            yield InputError(
                f"expected a case (a mapping) or a list of cases, got {type(record.data).__name__}"
            )


def _csv_cases(path: Path, vocabulary: Vocabulary) -> Iterator[Record | InputError]:
    """Registry exports: one row per case, a column per field or per finding ('markers.ck7')."""
    try:
        with path.open("rb") as handle:
            _refuse_binary(handle.read(SNIFF_BYTES), str(path))
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for item in csv_records(_bounded_lines(handle)):
                if isinstance(item, Header):
                    _check_columns(item.columns, vocabulary)
                elif isinstance(item, Record) and item.data is None:
                    yield InputError("empty file: expected a header row and one row per case")
                elif isinstance(item, Record):
                    yield Record(_csv_case(item.data), item.index, item.line, row=True)
                else:
                    yield item
    except InputError as error:
        yield error
    except OSError as exc:
        yield InputError(f"cannot read: {exc.strerror or exc}", file=str(path))


def _bounded_lines(handle: TextIO) -> Iterator[str]:
    number = 0
    while line := handle.readline(MAX_CSV_LINE + 1):
        number += 1
        if len(line) > MAX_CSV_LINE:
            raise InputError(
                f"line longer than {MAX_CSV_LINE // 2**20} MB",
                line=number,
                hint="a CSV export has one short line per case",
            )
        yield line


CSV_FIELDS = tuple(
    name for name in Case.model_fields if name not in SECTIONS or name in LIST_SECTIONS
)
"""Columns holding a whole field; findings have a column each, 'section.finding'."""


def _check_columns(columns: list[str], vocabulary: Vocabulary) -> None:
    """A column nobody reads would silently drop a finding: every column must be known."""
    valid = [*CSV_FIELDS] + [f"{s}.{f}" for s in SECTIONS for f in vocabulary.ids_in(s)]
    seen: set[str] = set()
    for number, raw in enumerate(columns, 1):
        column = raw.strip()
        if not column:
            raise InputError(f"column {number} of the header has no name")
        if column in seen:
            raise InputError(f"column {column!r} appears twice in the header", field=column)
        seen.add(column)
        if column not in valid:
            raise InputError(
                f"unknown column {column!r}",
                field=column,
                hint=did_you_mean(column, valid)
                or "columns are case fields such as 'sex' or findings such as 'markers.ck7'",
            )
    if "id" not in seen:
        raise InputError(
            "no 'id' column: every row needs a case id", hint=f"columns: {', '.join(columns)}"
        )


def _csv_case(row: Mapping[str, str]) -> dict[str, Any]:
    case: dict[str, Any] = {}
    for column, cell in row.items():
        value = cell.strip()
        if not value:
            continue  # an empty cell is unknown
        section, dot, finding = column.strip().partition(".")
        if dot:
            case.setdefault(section, {})[finding] = value
        elif section in LIST_SECTIONS:
            case[section] = _split_list(value)
        elif section == "age":
            case[section] = int(value) if value.isascii() and value.isdigit() else value
        else:
            case[section] = value
    return case


def _split_list(value: str) -> list[str]:
    for separator in LIST_SEPARATORS:
        if separator in value:
            return [item.strip() for item in value.split(separator) if item.strip()]
    return [value]
