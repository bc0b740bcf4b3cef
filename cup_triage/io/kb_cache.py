"""A cache of the loaded knowledge base, so that a command starts without re-reading rules/.

Reading the rules folder (YAML, every rule validated, every cross-reference checked) takes
about half a second; reading back the knowledge base it made takes a few hundredths. The
cache is keyed by a digest of everything the result depends on: every file of the rules
folder, this package's source, and the versions of Python and pydantic. A changed rule, an
edited module or an upgrade therefore never gets a stale knowledge base, only a new load.

The cache is a pickle, and reading a pickle runs what it names: it is read only from a
folder and a file that only this user could have written (see `files.read_private`). A
cache that cannot be written (a read-only home, a full disk) or read is simply not used;
`CUP_TRIAGE_CACHE=off` turns it off, `CUP_TRIAGE_CACHE=FOLDER` puts it elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic_core

from ..reasoning.errors import CupTriageError
from ..reasoning.knowledge import KnowledgeBase
from .files import private, read_bytes, read_private, write_private

FORMAT = b"cup-triage knowledge-base cache 1\n"
KEPT = 16
"""Most cache files kept (one per rules folder and version); the oldest go first."""

PACKAGE = Path(__file__).resolve().parents[1]


def cache_folder() -> Path | None:
    """Where the cache lives ($XDG_CACHE_HOME/cup-triage, or ~/.cache/cup-triage), or None
    when it is turned off."""
    chosen = os.environ.get("CUP_TRIAGE_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "no") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # relative is invalid (XDG): never a cache in the current folder
        base = os.path.join(os.path.expanduser("~"), ".cache")
        if not os.path.isabs(base):
            return None
    return Path(base) / "cup-triage"


def cached_knowledge_base(
    listing: Callable[[], list[Path]], load: Callable[[], KnowledgeBase]
) -> KnowledgeBase:
    """The knowledge base `load` makes from the rules files `listing` names, read from the
    cache when the cache holds it for exactly these files and this code, else loaded and
    cached."""
    files = listing()
    folder = cache_folder()
    digest = _digest(files) if folder is not None else None
    if folder is None or digest is None:
        return load()
    path = folder / f"{digest[:32]}.pickle"
    found = _read(folder, path, digest)
    if found is not None:
        return found
    kb = load()
    # A file saved, added or removed while the folder was loaded (an editor, a `git
    # checkout`) would put the new rules under the old content's digest, served again once
    # the old content is back: cached only if the folder still holds what the digest is of.
    if _unchanged(listing, files, digest):
        _write(folder, path, digest, kb)
    return kb


def _digest(files: list[Path]) -> str | None:
    """A digest of the rules files (names and bytes), the package's source and the versions
    that a pickled knowledge base depends on; None if a file cannot be read."""
    digest = hashlib.sha256(FORMAT)
    digest.update(f"{sys.version}\n{pydantic_core.__version__}\n".encode())
    sources = sorted(PACKAGE.rglob("*.py"))
    try:
        for path in [*files, *sources]:
            data = read_bytes(path)
            digest.update(f"{path.name}\n{len(data)}\n".encode())
            digest.update(data)
    except (CupTriageError, OSError):
        return None
    return digest.hexdigest()


def _unchanged(listing: Callable[[], list[Path]], files: list[Path], digest: str) -> bool:
    try:
        return listing() == files and _digest(files) == digest
    except CupTriageError:
        return False


def _read(folder: Path, path: Path, digest: str) -> KnowledgeBase | None:
    try:
        if not private(os.lstat(folder)):
            return None
    except OSError:
        return None
    data = read_private(path)
    header = FORMAT + digest.encode() + b"\n"
    if data is None or not data.startswith(header):
        return None
    try:
        kb: Any = pickle.loads(memoryview(data)[len(header) :])
    except Exception:  # noqa: BLE001 (a torn or foreign cache file is a miss, whatever it raises)
        return None
    return kb if isinstance(kb, KnowledgeBase) else None


def _write(folder: Path, path: Path, digest: str, kb: KnowledgeBase) -> None:
    # Computed before pickling, so that every reader gets them without the work (the
    # strata and the index of tested subjects: about 2 % of the instructions of `rank`).
    kb.fingerprint  # noqa: B018 (cached properties)
    kb.rules_by_id  # noqa: B018
    kb.rules_testing  # noqa: B018
    try:
        kb.strata  # noqa: B018 (rules concluding facts in a cycle: no cache, said at first use)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = os.lstat(folder)
        if not (stat.S_ISDIR(status.st_mode) and private(status)):
            return
        data = FORMAT + digest.encode() + b"\n" + pickle.dumps(kb, pickle.HIGHEST_PROTOCOL)
        write_private(path, data)
        _prune(folder)
    except (CupTriageError, OSError, pickle.PicklingError, RecursionError):
        return  # no cache this time: the knowledge base was loaded all the same


ABANDONED = 3600.0
"""Seconds after which a temporary file of a write is taken as abandoned (its writer was
killed before renaming it): no write of a cache file takes that long."""


def _prune(folder: Path) -> None:
    entries = []
    now = time.time()
    for entry in os.scandir(folder):
        if not entry.is_file(follow_symlinks=False):
            continue
        status = entry.stat(follow_symlinks=False)
        if entry.name.endswith(".pickle"):
            entries.append((status.st_mtime, entry.path))
        elif entry.name.endswith(".tmp") and now - status.st_mtime > ABANDONED:
            # A writer killed between creating and renaming (kill -9, a crash) leaves its
            # temporary file, a whole knowledge base each time: never read, removed here.
            Path(entry.path).unlink(missing_ok=True)
    for _, stale in sorted(entries, reverse=True)[KEPT:]:
        Path(stale).unlink(missing_ok=True)
