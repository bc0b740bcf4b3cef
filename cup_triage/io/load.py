"""The only file reader: case files (YAML, JSON, CSV) and the knowledge base, read safely.

Every way a file can be wrong (too big, binary, not UTF-8, malformed, a bad column, a bad
case) becomes an error value naming the file, the case and the field; the cases around it
are still read. Parsing itself, bounded against hostile text, is in formats.py.
"""

from __future__ import annotations

import codecs
import importlib.resources
import io
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, TextIO, TypeVar

from pydantic import BaseModel, ValidationError

from ..reasoning.case import LIST_FIELDS, LIST_SECTIONS, Case, parse_case
from ..reasoning.consistency import ImplicationsFile
from ..reasoning.errors import (
    CaseError,
    CupTriageError,
    InputError,
    KnowledgeError,
    from_validation,
)
from ..reasoning.knowledge import IMPLICATIONS_FILE, KnowledgeBase, RulesFile
from ..reasoning.problems import case_problems, gathered
from ..reasoning.questions import Questionnaire, QuestionnaireFile
from ..reasoning.synonyms import Synonyms, SynonymsFile
from ..reasoning.vocabulary import SECTIONS, Vocabulary, VocabularyFile, did_you_mean
from .files import kind_of, open_regular
from .formats import MAX_CSV_ROW, Header, LongLine, Record, csv_records, json_records, yaml_records

VOCABULARY_FILE = "vocabulary.yaml"
QUESTIONNAIRE_FILE = "questionnaire.yaml"
NOT_RULES_FILES = (VOCABULARY_FILE, QUESTIONNAIRE_FILE)
SYNONYMS_FILE = "synonyms.yaml"
FHIR_CODES_FILE = "fhir_codes.yaml"
DATA_FILES = (SYNONYMS_FILE, FHIR_CODES_FILE)
"""Files of the rules folder that are data for reading cases, not rules."""
CASE_SUFFIXES = (".yaml", ".yml", ".json", ".csv")
RULES_SUFFIXES = (".yaml", ".yml")
LIST_SEPARATORS = (";", "|", ",")

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest YAML or JSON file read (they are decoded in memory, then parsed case by case).
CSV streams row by row, so a registry export of any length is read in flat memory."""

MAX_DOCUMENT_NODES = 2_000_000
"""Most values in a knowledge-base file or another whole document (aliases expanded)."""

SNIFF_BYTES = 8192
"""How much of a file is looked at to tell text from binary data."""

MAX_CSV_LINE = MAX_CSV_ROW
"""Longest line (and row) of a CSV file; a longer one costs only its row."""
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


STDIN = Path("-")
"""The path `-`: the case file is read from standard input, in the format `stdin_format`
names (AUTO: JSON when the text begins with { or [, otherwise YAML)."""

AUTO = "auto"
STDIN_FORMATS = (AUTO, "yaml", "json", "csv")
"""What standard input may hold. A CSV export is never guessed: `id,sex,sites` is also a
YAML document (a bare string), so CSV on standard input is asked for by name."""

STDIN_NAME = "<stdin>"


def _read_text(path: Path) -> str:
    """The text of a YAML or JSON file: refused when not a regular file, too big, binary or
    not UTF-8."""
    file = str(path)
    if path == STDIN:
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise InputError(f"more than {MAX_FILE_BYTES // 2**20} MB", file=STDIN_NAME)
        return _decoded(data, STDIN_NAME)
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"file too large: {size / 2**20:.1f} MB, the limit is {MAX_FILE_BYTES // 2**20} MB",
                file=file,
                hint="split it into several files, or export the cases as CSV",
            )
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", file=file) from exc
    return _decoded(data, file)


def _decoded(data: bytes, file: str) -> str:
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


def _refuse_binary(sample: bytes, file: str, *, any_nul: bool = True) -> None:
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InputError("UTF-32 text, not UTF-8", file=file, hint="save the file as UTF-8")
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError("UTF-16 text, not UTF-8", file=file, hint="save the file as UTF-8")
    # Text has no NUL and few control bytes; images, archives, spreadsheets and PDFs have many.
    controls = sum(1 for byte in sample if byte < 32 and byte not in b"\t\n\r\f\v\x1b")
    if (any_nul and b"\0" in sample) or controls > len(sample) // 20:
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
        raise from_validation(exc, KnowledgeError, data, file=file) from exc


def load_knowledge_base(rules_dir: Path | None = None) -> KnowledgeBase:
    """Read and cross-check the vocabulary and every rules file of a folder (read back from
    the cache of kb_cache.py when it holds exactly these files)."""
    from .kb_cache import cached_knowledge_base

    folder = rules_dir or bundled_rules_dir()
    try:
        rules_files(folder)
    except KnowledgeError:
        return _load_knowledge_base(folder)  # raises the error that names the folder
    return cached_knowledge_base(lambda: rules_files(folder), lambda: _load_knowledge_base(folder))


def _load_knowledge_base(folder: Path) -> KnowledgeBase:
    vocab_path = folder / VOCABULARY_FILE
    implications_path = folder / IMPLICATIONS_FILE
    implications = (
        _validated(ImplicationsFile, _knowledge_file(implications_path), str(implications_path))
        if implications_path.exists()
        else None
    )
    vocabulary = Vocabulary(
        _validated(VocabularyFile, _knowledge_file(vocab_path), str(vocab_path)), implications
    )
    files = {
        path.name: _validated(RulesFile, _knowledge_file(path), str(path))
        for path in rules_files(folder)
        if path.name not in (*NOT_RULES_FILES, IMPLICATIONS_FILE, *DATA_FILES)
    }
    synonyms_path = folder / SYNONYMS_FILE
    if synonyms_path.is_file():
        data = _validated(SynonymsFile, _knowledge_file(synonyms_path), str(synonyms_path))
        try:
            vocabulary.synonyms = Synonyms(data, vocabulary)
        except KnowledgeError as error:
            raise error.located(file=str(synonyms_path)) from None
    return KnowledgeBase(vocabulary, files)


def rules_files(folder: Path) -> list[Path]:
    """Every .yaml and .yml file of a rules folder, sorted; hidden files (an editor's lock or
    backup) are not rules. Each is opened only if it is a regular file (a FIFO would hang)."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except OSError as exc:
        raise KnowledgeError(
            f"cannot read the folder: {exc.strerror or exc}", file=str(folder)
        ) from exc
    return [
        folder / name
        for name in names
        if not name.startswith(".") and Path(name).suffix.lower() in RULES_SUFFIXES
    ]


def load_questionnaire(vocabulary: Vocabulary, rules_dir: Path | None = None) -> Questionnaire:
    """The interview's clinical order (rules/questionnaire.yaml), checked against the
    vocabulary; a rules folder without one gets the order of the vocabulary's step tiers."""
    path = (rules_dir or bundled_rules_dir()) / QUESTIONNAIRE_FILE
    if not path.is_file():
        return Questionnaire.default(vocabulary)
    data = _validated(QuestionnaireFile, _knowledge_file(path), str(path))
    try:
        return Questionnaire(data, vocabulary)
    except KnowledgeError as error:
        raise error.located(file=str(path)) from None


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


def case_files(paths: Iterable[Path], skip: Iterable[Path] = ()) -> Iterator[Path | InputError]:
    """Expand files and folders (recursively, sorted) into case files; what cannot be read
    is an error, never silently left out: a missing path, a broken link, a FIFO or device
    with a case file's name, a folder that cannot be listed, a link to a folder (not followed:
    it could loop, or lead out of the tree). Files in `skip` (the output) are not inputs."""
    skipped = {os.path.realpath(path) for path in skip}
    for path in paths:
        if path == STDIN:
            yield path
            continue
        try:
            status = path.stat()
        except OSError as exc:
            broken = path.is_symlink() and isinstance(exc, FileNotFoundError)
            yield InputError(
                "broken symbolic link"
                if broken
                else "no such file or folder"
                if isinstance(exc, FileNotFoundError)
                else f"cannot read: {exc.strerror or exc}",
                file=str(path),
            )
            continue
        if stat.S_ISDIR(status.st_mode):
            yield from _folder_files(path, skipped)
        elif not stat.S_ISREG(status.st_mode):
            yield InputError(f"not a regular file: {kind_of(status.st_mode)}", file=str(path))
        elif os.path.realpath(path) not in skipped:
            yield path


def _folder_files(folder: Path, skipped: set[str]) -> Iterator[Path | InputError]:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as exc:
        yield InputError(f"cannot read the folder: {exc.strerror or exc}", file=str(folder))
        return
    for entry in entries:
        path = Path(entry.path)
        named = path.suffix.lower() in CASE_SUFFIXES
        try:
            status = path.stat()
        except OSError as exc:
            if named or entry.is_symlink():
                problem = (
                    "broken symbolic link"
                    if isinstance(exc, FileNotFoundError)
                    else f"cannot read: {exc.strerror or exc}"
                )
                yield InputError(problem, file=str(path))
            continue
        if stat.S_ISDIR(status.st_mode):
            if entry.is_symlink():
                yield InputError(
                    "a link to a folder is not followed",
                    file=str(path),
                    hint="name the folder it points to on the command line",
                )
            else:
                yield from _folder_files(path, skipped)
        elif not named:
            continue
        elif not stat.S_ISREG(status.st_mode):
            yield InputError(f"not a regular file: {kind_of(status.st_mode)}", file=str(path))
        elif os.path.realpath(path) not in skipped:
            yield path


def iter_cases(
    paths: Iterable[Path],
    vocabulary: Vocabulary,
    *,
    skip: Iterable[Path] = (),
    stdin_format: str = AUTO,
) -> Iterator[LoadedCase]:
    """Every case under the given paths, in a stable order, one at a time; a bad file or a
    bad case is an error item and never hides the cases around it. Files in `skip` (a
    batch's own output) are never read; `-` is standard input, read as `stdin_format`."""
    for item in iter_records(paths, vocabulary, skip=skip, stdin_format=stdin_format):
        yield item.load(vocabulary) if isinstance(item, PendingCase) else item


@dataclass(frozen=True)
class PendingCase:
    """One case as read from a file, not yet checked against the vocabulary: a batch hands
    these to its worker processes, which check them (`load`) as they score them."""

    file: str
    record: Record
    csv: bool = False
    """A row of a CSV export: its cells are made fields first."""

    def load(self, vocabulary: Vocabulary) -> LoadedCase:
        """The case checked, or every problem it has as one error."""
        record, file = self.record, self.file
        data = _csv_case(record.data, vocabulary) if self.csv else record.data
        try:
            case = parse_case(data, vocabulary, file=file)
        except CaseError as error:
            if record.index is not None:
                error.located(case=record.name, line=record.line)
            # Every problem of the case at once, so that one round of fixes is enough.
            return LoadedCase(file=file, error=case_problems(data, vocabulary, error, file=file))
        return LoadedCase(file=file, case=case)


def iter_records(
    paths: Iterable[Path],
    vocabulary: Vocabulary,
    *,
    skip: Iterable[Path] = (),
    stdin_format: str = AUTO,
) -> Iterator[LoadedCase | PendingCase]:
    """As `iter_cases`, but each case that could be read comes as a `PendingCase`, checked
    only when its `load` is called (an error reading a file or a record is a LoadedCase)."""
    for item in case_files(paths, skip):
        if isinstance(item, InputError):
            yield LoadedCase(file=item.file or "", error=item)
            continue
        file = STDIN_NAME if item == STDIN else str(item)
        kind = stdin_format if item == STDIN else _format_of(item)
        for record in _case_records(item, vocabulary, kind):
            if isinstance(record, InputError):
                yield LoadedCase(file=file, error=record.located(file=file))
            else:
                yield PendingCase(file, record, kind == "csv" and record.row)


def load_case(path: Path, vocabulary: Vocabulary, *, stdin_format: str = AUTO) -> list[Case]:
    """All cases of one file (for commands that need every case); if any is invalid, every
    problem of the file is raised at once, up to MAX_PROBLEMS."""
    cases = []
    errors = []
    for loaded in iter_cases([path], vocabulary, stdin_format=stdin_format):
        if loaded.error is not None:
            errors.append(loaded.error)
        else:
            cases.append(loaded.case)
    if errors:
        raise gathered(errors)
    return cases


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return "csv" if suffix == ".csv" else "json" if suffix == ".json" else "yaml"


def _case_records(path: Path, vocabulary: Vocabulary, kind: str) -> Iterator[Record | InputError]:
    """The raw case mappings of one file, one at a time: a case, a list of cases, CSV rows."""
    if kind == "csv":
        yield from _csv_cases(path, vocabulary)
        return
    try:
        text = _read_text(path)
    except InputError as error:
        yield error
        return
    is_json = kind == "json" or (kind == AUTO and text.lstrip()[:1] in ("{", "["))
    parse = json_records if is_json else yaml_records
    for record in parse(text):
        if isinstance(record, InputError) or record.index is not None:
            yield record
        elif is_json and isinstance(record.data, Mapping) and "resourceType" in record.data:
            from .fhir import bundle_records  # fhir.resources loads only for FHIR input

            yield from bundle_records(record.data, vocabulary)
        elif record.data is None:
            yield InputError("empty file: expected a case (a mapping) or a list of cases")
        elif isinstance(record.data, list):  # a list the parser could not read item by item
            for index, data in enumerate(record.data, 1):
                yield Record(data, index, record.line)
        elif isinstance(record.data, Mapping):
            yield record
        else:
            csv_like = path == STDIN and isinstance(record.data, str) and "," in text[:200]
            yield InputError(
                f"expected a case (a mapping) or a list of cases, got {type(record.data).__name__}",
                hint="CSV on standard input needs --stdin-format csv" if csv_like else None,
            )


def _csv_cases(path: Path, vocabulary: Vocabulary) -> Iterator[Record | InputError]:
    """Registry exports: one row per case, a column per field or per finding ('markers.ck7')."""
    file = STDIN_NAME if path == STDIN else str(path)
    try:
        with _csv_bytes(path) as raw:
            # One NUL in a long export costs its row (formats.py), not the file.
            head = raw.read(SNIFF_BYTES)
            _refuse_binary(head, file, any_nul=False)
            whole = io.BufferedReader(_Prefixed(head, raw))  # standard input cannot seek
            # surrogateescape: a byte that is not UTF-8 costs its row only (formats.py).
            text = io.TextIOWrapper(
                whole, encoding="utf-8-sig", errors="surrogateescape", newline=""
            )
            for item in csv_records(_bounded_lines(text)):
                if isinstance(item, Header):
                    _check_columns(item.columns, vocabulary)
                elif isinstance(item, Record) and item.data is None:
                    yield InputError("empty file: expected a header row and one row per case")
                elif isinstance(item, Record):
                    yield Record(item.data, item.index, item.line, row=True)  # cells: see _csv_case
                else:
                    yield item
    except InputError as error:
        yield error
    except OSError as exc:
        yield InputError(f"cannot read: {exc.strerror or exc}", file=file)


@contextmanager
def _csv_bytes(path: Path) -> Iterator[BinaryIO]:
    if path == STDIN:
        yield sys.stdin.buffer
    else:
        with open_regular(path) as raw:
            yield raw


class _Prefixed(io.RawIOBase):
    """The bytes already read from a stream, then the rest of it (streamed, not held)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _bounded_lines(handle: TextIO) -> Iterator[str | LongLine]:
    """The physical lines of a text; a line longer than the limit is skipped in pieces (never
    held whole) and stands as a `LongLine`."""
    while line := handle.readline(MAX_CSV_LINE + 1):
        if len(line) <= MAX_CSV_LINE:
            yield line
            continue
        while line and not line.endswith(("\n", "\r")):
            line = handle.readline(MAX_CSV_LINE + 1)
        yield LongLine()


CSV_FIELDS = tuple(
    name for name in Case.model_fields if name not in SECTIONS or name in LIST_SECTIONS
)
"""Columns holding a whole field; findings have a column each, 'section.finding'."""


def csv_column(raw: str, vocabulary: Vocabulary) -> str:
    """The field a CSV header cell names: without case ('Markers.CK7' is markers.ck7), and a
    finding's synonym read as its id ('markers.TTF-1' is markers.ttf1)."""
    column = raw.strip().lower()
    section, dot, finding = column.partition(".")
    synonyms = getattr(vocabulary, "synonyms", None)
    if dot and synonyms is not None and section in SECTIONS:
        return f"{section}.{synonyms.resolve(section, finding)}"
    return column


def _check_columns(columns: list[str], vocabulary: Vocabulary) -> None:
    """A column nobody reads would silently drop a finding: every column must be known. Every
    unknown column is named at once."""
    if len(columns) == 1 and any(mark in columns[0] for mark in (";", "\t")):
        mark = "';'" if ";" in columns[0] else "a tab"
        raise InputError(
            f"the header is one column holding {mark}: the file looks separated by {mark}, "
            "not by commas",
            hint="save it as comma-separated CSV (in a spreadsheet: CSV UTF-8, comma-delimited)",
        )
    valid = [*CSV_FIELDS] + [f"{s}.{f}" for s in SECTIONS for f in vocabulary.ids_in(s)]
    seen: set[str] = set()
    unknown: list[tuple[str, str | None]] = []
    for number, raw in enumerate(columns, 1):
        column = csv_column(raw, vocabulary)
        if not column:
            raise InputError(f"column {number} of the header has no name")
        if column in seen:
            raise InputError(f"column {column!r} appears twice in the header", field=column)
        seen.add(column)
        if column not in valid:
            unknown.append((raw.strip(), did_you_mean(column, valid)))
    if unknown:
        names = ", ".join(repr(name) for name, _ in unknown)
        hints = "; ".join(f"{name!r}: {hint}" for name, hint in unknown if hint)
        raise InputError(
            f"unknown column{'s' if len(unknown) > 1 else ''} {names}",
            field=unknown[0][0] if len(unknown) == 1 else None,
            hint=hints or "columns are case fields such as 'sex' or findings such as 'markers.ck7'",
        )
    if "id" not in seen:
        raise InputError(
            "no 'id' column: every row needs a case id", hint=f"columns: {', '.join(columns)}"
        )


@lru_cache(maxsize=4096)
def _column_parts(raw: str, vocabulary: Vocabulary) -> tuple[str, str, str]:
    # The columns of an export are the same for every row: each is read once.
    return csv_column(raw, vocabulary).partition(".")


def _csv_case(row: Mapping[str, str], vocabulary: Vocabulary) -> dict[str, Any]:
    case: dict[str, Any] = {}
    for column, cell in row.items():
        value = cell.strip()
        if not value:
            continue  # an empty cell is unknown
        section, dot, finding = _column_parts(column, vocabulary)
        if dot:
            case.setdefault(section, {})[finding] = value
        elif section in LIST_FIELDS:
            case[section] = _split_list(value)
        elif section == "age":
            # A short run of digits is a number of years; anything else goes to the model
            # as text, which refuses it with the value (never int() of 200,000 digits).
            short = value.isascii() and value.isdigit() and len(value) <= 6
            case[section] = int(value) if short else value
        else:
            case[section] = value
    return case


def _split_list(value: str) -> list[str]:
    for separator in LIST_SEPARATORS:
        if separator in value:
            return [item.strip() for item in value.split(separator) if item.strip()]
    return [value]
