"""Where an interview is saved, and saving it safely.

The rules (issue 15): never overwrite an input or an existing file unless `--save` names it;
the default name comes from the case id made safe for a file name; a file with several
cases, or a CSV or JSON file, is never rewritten (the session is saved beside it); the place
is checked before the first question; every write is atomic and keeps the file's mode.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..reasoning.errors import OutputError
from .files import atomic_write, check_target

SESSION_MARK = "# cup-triage interview session"
"""The first line of a file `ask` saved: only such a file is continued in place by --resume."""

MAX_NAME = 80


def safe_name(case_id: str) -> str:
    """A case id as a file name in the current folder: no folders, no dots in front, short."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", case_id).strip(".-_")[:MAX_NAME]
    return name or "interview"


@dataclass(frozen=True)
class SaveTarget:
    """Where the session goes, and why there (said once before the first question)."""

    path: Path
    note: str


def choose_target(
    *,
    case_id: str,
    explicit: Path | None,
    resume: Path | None,
    start: Path | None,
    several_cases: bool,
    folder: Path | None = None,
) -> SaveTarget:
    """Pick the save file by the rules above; `explicit` (--save) may name any file."""
    if explicit is not None:
        return SaveTarget(explicit, f"saving to {explicit} (named by --save)")
    if resume is not None and not several_cases and is_session_file(resume):
        return SaveTarget(resume, f"continuing {resume}")
    inputs = {p.resolve() for p in (resume, start) if p is not None}
    if resume is not None:
        base = resume.parent / f"{resume.stem}.{safe_name(case_id)}.yaml"
        why = "beside it: a file with several cases, CSV, JSON or not saved by ask is kept"
    else:
        base = (folder or Path.cwd()) / f"{safe_name(case_id)}.yaml"
        why = "a new file named after the case id"
    path = _fresh(base, inputs)
    return SaveTarget(path, f"saving to {path} ({why})")


def _fresh(base: Path, inputs: set[Path]) -> Path:
    """`base`, or base-2, base-3, … : the first name that is neither an input nor a file."""
    candidate, number = base, 1
    while candidate.exists() or candidate.is_symlink() or candidate.resolve() in inputs:
        number += 1
        candidate = base.with_name(f"{base.stem}-{number}{base.suffix}")
    return candidate


def is_session_file(path: Path) -> bool:
    """Whether `ask` wrote this file (a single-case YAML file with the session mark)."""
    if path.suffix.lower() not in (".yaml", ".yml"):
        return False
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().startswith(SESSION_MARK)
    except (OSError, UnicodeDecodeError):
        return False


def check_writable(path: Path) -> None:
    """Refuse, before the first question, a place the session could not be saved to: a link,
    a device or a folder where the file should be, a missing or read-only folder."""
    try:
        check_target(path)
        handle, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(handle)
        os.unlink(probe)
    except OutputError as error:
        raise OutputError(
            f"cannot save the session: {error.message}",
            file=str(path),
            hint=error.hint or "choose another file with --save",
        ) from error
    except OSError as exc:
        raise OutputError(
            f"cannot save the session here: {exc.strerror or exc}",
            file=str(path),
            hint="choose another file with --save",
        ) from exc


def session_text(data: Mapping[str, Any], resume_hint: str) -> str:
    """The saved file: the session mark, how to continue, then the case as YAML."""
    body = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    return f"{SESSION_MARK} (continue with: {resume_hint})\n{body}"


def save_session(path: Path, data: Mapping[str, Any]) -> None:
    """Save an interview's case file atomically, keeping the file's mode, never through a
    link (io/files.py)."""
    atomic_write(path, session_text(data, f"cup-triage ask --resume {path}"))


def rescue(data: Mapping[str, Any]) -> Path | None:
    """When the chosen file cannot be written at the end: a new file in the temp folder, so
    the interview is not lost (None if even that fails)."""
    try:
        handle, name = tempfile.mkstemp(prefix="cup-triage-interview-", suffix=".yaml")
        os.close(handle)
        path = Path(name)
        save_session(path, data)
        return path
    except (OSError, OutputError):
        return None
