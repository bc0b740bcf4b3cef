"""The only file reader: safe YAML, JSON and CSV; the rules found via importlib.resources."""

from __future__ import annotations

import csv
import importlib.resources
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .case import Case, parse_case
from .errors import CaseError, CupTriageError, InputError, KnowledgeError
from .knowledge import KnowledgeBase, RulesFile
from .vocabulary import Vocabulary, VocabularyFile

VOCABULARY_FILE = "vocabulary.yaml"
M = TypeVar("M", bound=BaseModel)


def bundled_rules_dir() -> Path:
    """The rules shipped in the wheel, or the checkout's rules/ when running from source."""
    packaged = Path(str(importlib.resources.files("cup_triage"))) / "rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "rules"


def read_data_file(path: Path) -> Any:
    """Parse a YAML or JSON file safely; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start})", file=str(path), hint="save the file as UTF-8"
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(
            f"invalid YAML: {problem}", file=str(path), line=mark.line + 1 if mark else None
        ) from exc


def _validated(model: type[M], data: Any, file: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise KnowledgeError(
            f"{first['msg']} (got {first.get('input')!r:.80})".replace("Value error, ", ""),
            file=file,
            field=where or None,
            hint=f"{exc.error_count() - 1} more problem(s) in this file" if exc.error_count() > 1 else None,
        ) from exc


def load_knowledge_base(rules_dir: Path | None = None) -> KnowledgeBase:
    """Read and cross-check the vocabulary and every rules file of a folder."""
    folder = rules_dir or bundled_rules_dir()
    vocab_path = folder / VOCABULARY_FILE
    vocabulary = Vocabulary(
        _validated(VocabularyFile, read_data_file(vocab_path), str(vocab_path))
    )
    files = {
        path.name: _validated(RulesFile, read_data_file(path), str(path))
        for path in sorted(folder.glob("*.yaml"))
        if path.name != VOCABULARY_FILE
    }
    return KnowledgeBase(vocabulary, files)


@lru_cache(maxsize=1)
def bundled_knowledge_base() -> KnowledgeBase:
    """The knowledge base shipped with the package, loaded once per process."""
    return load_knowledge_base()


CASE_SUFFIXES = (".yaml", ".yml", ".json", ".csv")
LIST_SEPARATORS = (";", "|", ",")


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
        else:
            yield InputError("no such file or folder", file=str(path))


def read_case_records(path: Path) -> list[Any]:
    """The raw case mappings in one file: a mapping, a list of mappings, or CSV rows."""
    if path.suffix.lower() == ".csv":
        return _csv_records(path)
    data = read_data_file(path)
    if data is None:
        raise InputError("empty file: expected a case (a mapping) or a list of cases", file=str(path))
    if isinstance(data, Mapping):
        return [data]
    if isinstance(data, list):
        return data
    raise InputError(
        f"expected a case (a mapping) or a list of cases, got {type(data).__name__}", file=str(path)
    )


def iter_cases(paths: Iterable[Path], vocabulary: Vocabulary) -> Iterator[LoadedCase]:
    """Every case under the given paths, in a stable order; a bad case never hides the others."""
    for item in case_files(paths):
        if isinstance(item, InputError):
            yield LoadedCase(file=item.file or "", error=item)
            continue
        try:
            records = read_case_records(item)
        except InputError as error:
            yield LoadedCase(file=str(item), error=error)
            continue
        for index, record in enumerate(records, 1):
            try:
                yield LoadedCase(file=str(item), case=parse_case(record, vocabulary, file=str(item)))
            except CaseError as error:
                if error.case is None:
                    error.case = f"#{index}"
                yield LoadedCase(file=str(item), error=error)


def load_case(path: Path, vocabulary: Vocabulary) -> list[Case]:
    """All cases of one file, raising the first error (for commands that need every case)."""
    cases = []
    for loaded in iter_cases([path], vocabulary):
        if loaded.error is not None:
            raise loaded.error
        cases.append(loaded.case)
    return cases


def _csv_records(path: Path) -> list[dict[str, Any]]:
    """Registry exports: one row per case, a column per field or per finding ('markers.ck7')."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from exc
    except csv.Error as exc:
        raise InputError(f"invalid CSV: {exc}", file=str(path)) from exc
    return [_csv_case(row) for row in rows]


def _csv_case(row: Mapping[str | None, Any]) -> dict[str, Any]:
    case: dict[str, Any] = {}
    for column, cell in row.items():
        if column is None:
            case.setdefault("__extra_cells__", cell)
            continue
        value = cell.strip() if isinstance(cell, str) else cell
        if value in ("", None):
            continue
        section, dot, finding = column.strip().partition(".")
        if dot:
            case.setdefault(section, {})[finding] = value
        elif section in ("sites", "features"):
            case[section] = _split_list(value)
        elif section == "age":
            case[section] = int(value) if value.isdigit() else value
        else:
            case[section] = value
    return case


def _split_list(value: str) -> list[str]:
    for separator in LIST_SEPARATORS:
        if separator in value:
            return [item.strip() for item in value.split(separator) if item.strip()]
    return [value]
