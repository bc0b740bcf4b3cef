"""The one place that opens files: inputs read only if they are regular files, outputs
written atomically, the partial output of a batch created exclusively and locked.

Every command that writes (score, ask --save, teach's log and handouts) goes through here,
so each of them refuses the same things: writing through a symbolic link, replacing a
device, a FIFO or a folder, writing into a missing folder. A write either leaves the old
file untouched or replaces it whole, with the old file's permissions. Every failure is an
error value naming the file (exit 73 for an output that cannot be created, 74 for a write
that failed part-way, such as a full disk, 75 for an output another run is writing).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, TextIO

from ..reasoning.errors import InputError, OutputError, TryAgainError, WriteError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no advisory locks, one run at a time
    fcntl = None  # type: ignore[assignment]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}
"""Errors of a write that started: the disk (or quota) is full, or the device failed."""


def kind_of(mode: int) -> str:
    """A file type in words, for the error that refuses it."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


# --- reading ------------------------------------------------------------------------------


def open_regular(path: Path) -> BinaryIO:
    """Open an input for reading, refusing anything but a regular file before reading a byte.

    Opened without blocking, then checked: a FIFO planted where a case or rules file should be
    is never waited on, and a device is never read.
    """
    file = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _NOCTTY | _CLOEXEC)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=file) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"not a regular file: {kind_of(mode)}", file=file)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file (see `open_regular`)."""
    with open_regular(path) as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


# --- writing ------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_target(path: Path) -> os.stat_result | None:
    """Refuse an output that must not be replaced; its status if it exists, else None.

    A symbolic link is refused rather than followed or replaced (a planted link would send
    the output elsewhere); so are folders, devices, FIFOs and sockets. The folder must exist:
    a mistyped folder is an error, not a new folder.
    """
    file = str(path)
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        status = None
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", file=file) from exc
    if status is not None and stat.S_ISLNK(status.st_mode):
        raise OutputError(
            "is a symbolic link; refusing to write through it",
            file=file,
            hint="write to the file the link points to, or remove the link",
        )
    if status is not None and not stat.S_ISREG(status.st_mode):
        raise OutputError(f"is {kind_of(status.st_mode)}, not a regular file", file=file)
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(
            f"no such folder: {folder}" if not folder.exists() else f"{folder} is not a folder",
            file=file,
            hint="create the folder first",
        )
    return status


def output_error(exc: OSError, path: Path) -> OutputError:
    """An OSError while creating or writing an output, as one located error value."""
    reason = exc.strerror or str(exc)
    if exc.errno in _FULL:
        return WriteError(
            f"cannot write: {reason}",
            file=str(path),
            hint="free some space (or check the device) and run again",
        )
    return OutputError(f"cannot write: {reason}", file=str(path))


def _create_exclusive(path: Path, mode: int = 0o666) -> int:
    """A new file, never an existing one and never through a link."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder is synced; not every system allows it.
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | _CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_with(fd: int, source: Path, target: Path) -> None:
    """Make the file open as `fd` (named `source`, in the target's folder) the target: synced,
    given the target's permissions (or the umask's for a new file), renamed over it."""
    existing = check_target(target)
    mode = stat.S_IMODE(existing.st_mode) if existing else 0o666 & ~_umask()
    os.fchmod(fd, mode)
    os.fsync(fd)
    os.replace(source, target)
    _fsync_folder(target.parent)


@contextmanager
def _replacement(path: Path) -> Iterator[tuple[int, Path]]:
    """A new file beside `path`, only this user's, for the caller to fill and rename over it
    (as `(fd, its name)`): removed if anything fails, an OSError reported as an output error
    naming `path`."""
    check_target(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = _create_exclusive(temporary, 0o600)
    except OSError as exc:
        raise output_error(exc, path) from exc
    try:
        yield fd, temporary
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise output_error(exc, path) from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file that appears at `path` whole or not at all: written to a new file
    beside it, synced, then renamed over it, keeping the old file's permissions."""
    with _replacement(path) as (fd, temporary):
        with open(fd, "w", encoding="utf-8", newline="", closefd=False) as handle:
            yield handle
        replace_with(fd, temporary, path)


def atomic_write(path: Path, text: str) -> None:
    """Write a whole text file atomically (see `atomic_output`)."""
    with atomic_output(path) as handle:
        handle.write(text)


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with bytes only this user may read or write (a cache): a
    reader sees the old file or the new one, never part of one. Not synced: a cache lost in
    a crash is rebuilt, and its reader checks what it reads."""
    with _replacement(path) as (fd, temporary):
        write_all(fd, data)
        os.replace(temporary, path)


def read_private(path: Path) -> bytes | None:
    """The bytes of a file only this user could have written (a regular file it owns, that
    neither its group nor others may write), else None; never follows a link."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # pragma: no cover - not POSIX: ownership cannot be told
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(fd)
        if not (stat.S_ISREG(status.st_mode) and private(status)):
            return None
        try:
            return handle.read()
        except OSError:
            return None


def private(status: os.stat_result) -> bool:
    """Whether a file or folder is this user's own and only this user may write it."""
    getuid = getattr(os, "getuid", None)
    return getuid is not None and status.st_uid == getuid() and not status.st_mode & 0o022


# --- the partial output of a batch ----------------------------------------------------------


def open_partial(partial: Path, output: Path, inputs: list[os.stat_result]) -> tuple[int, bool]:
    """Open OUT.partial for a batch: (descriptor, whether it was just created).

    Created with O_EXCL and O_NOFOLLOW, so it is never a file someone planted; an existing one
    (an interrupted run's) is opened without following a link and must be a regular file with
    no other name (a hard link to an input would be truncated) and no input. An exclusive lock
    taken without waiting makes a second run on the same output refuse instead of mixing its
    rows in; the lock goes with the process, so a killed run never leaves it behind.
    """
    check_target(output)
    for _attempt in range(3):
        check_target(partial)
        try:
            fd, created = _create_exclusive(partial), True
        except FileExistsError:
            try:
                fd, created = os.open(partial, os.O_RDWR | _NOFOLLOW | _CLOEXEC), False
            except FileNotFoundError:
                continue  # the other run just finished and renamed it
            except OSError as exc:
                raise output_error(exc, partial) from exc
        except OSError as exc:
            raise output_error(exc, partial) from exc
        try:
            status = _locked(fd, partial)
            if status is None:
                os.close(fd)
                continue
            if not stat.S_ISREG(status.st_mode):
                raise OutputError(f"is {kind_of(status.st_mode)}", file=str(partial))
            if status.st_nlink != 1 or any(same_file(status, other) for other in inputs):
                raise OutputError(
                    "is also an input or has another name (a hard link); refusing to write it",
                    file=str(partial),
                    hint="remove it, or choose another output",
                )
            return fd, created
        except BaseException:
            os.close(fd)
            raise
    raise TryAgainError("another run keeps replacing this output", file=str(output))


def _locked(fd: int, partial: Path) -> os.stat_result | None:
    """Lock the open partial file; None if the name now belongs to another file (the run that
    held the lock renamed it onto its output meanwhile)."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise TryAgainError(
                "another cup-triage run is writing this output",
                file=str(partial),
                hint="wait for it to finish, or choose another output",
            ) from exc
    status = os.fstat(fd)
    try:
        named = os.lstat(partial)
    except FileNotFoundError:
        return None
    return status if same_file(status, named) else None


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (a regular file writes short only when something went wrong)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
