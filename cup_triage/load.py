"""The only file reader: safe YAML, JSON and CSV; the rules found via importlib.resources."""

from __future__ import annotations

import importlib.resources
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import InputError, KnowledgeError
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
