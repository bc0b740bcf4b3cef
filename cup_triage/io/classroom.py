"""The classroom's files: teaching cases found by id in the bundled library, and quiz logs
(one file per session, so concurrent sessions never write the same file)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..reasoning.case import Case
from ..reasoning.errors import InputError, OutputError
from ..reasoning.vocabulary import Vocabulary, did_you_mean
from .files import atomic_write
from .load import bundled_cases_dir, iter_cases, load_case, read_data_file

TEACHING_FOLDER = "teaching"
LOG_FORMAT = "cup-triage teaching log"
LOG_VERSION = 1


def teaching_library() -> Path:
    """The folder of the bundled teaching cases (inside the wheel once installed)."""
    return bundled_cases_dir() / TEACHING_FOLDER


def find_case(reference: str, vocabulary: Vocabulary, case_id: str | None = None) -> Case:
    """A case from a file (a teacher's own, or any case file) or, when no such file exists,
    from the bundled teaching library by id ('t01') or file name ('t01-axillary-node-woman').

    A file holding several cases needs `case_id`: choosing one silently would teach the wrong
    case.
    """
    path = Path(reference)
    if path.exists():
        return choose_case(load_case(path, vocabulary), str(path), case_id)
    library = [item for item in iter_cases([teaching_library()], vocabulary) if item.case]
    wanted = reference.lower().removesuffix(".yaml")
    for item in library:
        if wanted in (item.case.id.lower(), Path(item.file).stem.lower()):
            return choose_case([item.case], item.file, case_id)
    raise InputError(
        "no such file, and no teaching case of that id",
        file=reference,
        hint=did_you_mean(
            wanted, [i.case.id for i in library] + [Path(i.file).stem for i in library]
        )
        or "`cup-triage teach list` shows the library",
    )


def choose_case(cases: list[Case], file: str, case_id: str | None) -> Case:
    """The one case of a file, or the one named by `case_id`; several and none named is an
    error listing their ids."""
    if case_id is not None:
        chosen = [c for c in cases if c.id == case_id]
        if not chosen:
            raise InputError(
                f"no case {case_id!r} in this file",
                file=file,
                hint=did_you_mean(case_id, [c.id for c in cases])
                or f"its cases: {', '.join(c.id for c in cases)}",
            )
        return chosen[0]
    if len(cases) != 1:
        shown = ", ".join(c.id for c in cases[:8]) + (", …" if len(cases) > 8 else "")
        raise InputError(
            f"holds {len(cases)} cases; say which with --case",
            file=file,
            hint=f"its cases: {shown}" if cases else None,
        )
    return cases[0]


def write_session_log(folder: Path, session: dict[str, Any]) -> Path:
    """Write one quiz session as its own JSON file in `folder` and return its path.

    The name carries the case, the learner, the time and a random part: sessions running at
    the same time in one folder never write the same file, and each file appears whole.
    """
    try:
        # The log folder is made on first use; its parent must exist (a mistyped path is an
        # error, not a new tree of folders).
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the log folder: {exc.strerror or exc}", file=str(folder)
        ) from exc
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = "-".join(
        (_slug(session.get("case_id", "case")), _slug(session.get("learner", "anonymous")), stamp)
    )
    record = {"format": LOG_FORMAT, "version": LOG_VERSION, **session}
    for _attempt in range(5):
        path = folder / f"{name}-{secrets.token_hex(3)}.json"
        if not path.exists():
            break
    atomic_write(path, json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def _slug(text: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40] or "x"


def read_session_logs(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every quiz session in the given log files and folders (*.json, sorted); a file that is
    not a teaching log is an error naming it."""
    sessions: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        if path.is_dir() and not files:
            raise InputError("no quiz logs (*.json) in this folder", file=str(path))
        for file in files:
            if not file.exists():
                raise InputError("no such file or folder", file=str(file))
            data = read_data_file(file)
            found = (
                data.get("sessions") if isinstance(data, dict) and "sessions" in data else [data]
            )
            if not isinstance(found, list) or not all(_is_session(s) for s in found):
                raise InputError("not a cup-triage teaching log", file=str(file))
            sessions.extend(found)
    return sessions


def _is_session(value: Any) -> bool:
    # Logs written before one file per session (a list of flat stage scores) are refused,
    # not half-read: they carry no comparison with the engine.
    return (
        isinstance(value, dict)
        and "case_id" in value
        and isinstance(value.get("stages"), list)
        and all(
            isinstance(stage, dict)
            and isinstance(stage.get("score"), dict)
            and isinstance(stage.get("comparison"), dict)
            for stage in value["stages"]
        )
    )
