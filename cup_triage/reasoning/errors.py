"""One error family: every error names where it happened (file › case › field) and a hint.

Also the one mapper from a pydantic validation error to that location (`from_validation`),
used for case files and knowledge-base files alike.
"""

from __future__ import annotations

import reprlib
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only named here: the CLI imports this module before anything else
    from pydantic import ValidationError


def quoted(text: str) -> str:
    """A text made safe to print and to put in one output cell: every character that is not
    printable (line breaks, tabs, escape sequences, C1 controls, bidirectional overrides,
    lone surrogates from undecodable file names) is shown as a Python escape (\\n, \\x1b,
    \\u202e), so that a hostile id or file name can neither drive a terminal nor split a row.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


one_line = quoted
"""The older name: a text on one line, with nothing a terminal would act on."""


def same_id(case_id: str) -> str:
    """The form of a case id under which two ids name the same case for a reader: Unicode
    compatibility forms folded (NFKC: full-width 'ｃｕｐ１' is 'cup1'), case folded, spaces
    trimmed and collapsed. Duplicate detection compares these."""
    folded = unicodedata.normalize("NFKC", case_id).casefold()
    return " ".join(folded.split())


def shown(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut short (input can be huge)."""
    return reprlib.repr(value)


class CupTriageError(Exception):
    """Base of all errors that reach the user as one line and an exit code."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        case: str | None = None,
        field: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.case = case
        self.field = field
        self.line = line
        self.hint = hint

    @property
    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.case:
            parts.append(f"case {self.case}")
        if self.field:
            parts.append(self.field)
        return " › ".join(parts)

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return quoted(f"{text} ({self.hint})" if self.hint else text)

    def located(self, **where: str | int | None) -> CupTriageError:
        """Fill in location parts the raiser could not know (e.g. the file of a case)."""
        for key, value in where.items():
            if getattr(self, key) is None and value is not None:
                setattr(self, key, value)
        return self


class InputError(CupTriageError):
    """A file could not be read or parsed."""

    exit_code = 2


class CaseError(InputError):
    """A case is invalid: unknown id, invalid answer, contradiction."""


class KnowledgeError(CupTriageError):
    """The knowledge base (vocabulary, rules, priors) is invalid."""

    exit_code = 3


class OutputError(CupTriageError):
    """An output cannot be created or replaced: its folder is missing or read-only, or it is
    a link, a device, a folder or another input (EX_CANTCREAT of sysexits.h)."""

    exit_code = 73


class WriteError(OutputError):
    """Writing an output failed part-way: the disk is full, an I/O error (EX_IOERR). A batch
    keeps OUT.partial: free some space and run again with --resume."""

    exit_code = 74


class TryAgainError(CupTriageError):
    """Nothing is wrong with the input, but the run could not finish now: another run holds
    the output, or a worker process was killed (EX_TEMPFAIL)."""

    exit_code = 75


def from_validation(
    exc: ValidationError,
    error: type[CupTriageError],
    data: Any,
    *,
    file: str | None = None,
    case: str | None = None,
    fields: list[str] | None = None,
    what: str = "file",
) -> CupTriageError:
    """The first problem of a pydantic validation error as one located error value: the
    field as a path ('markers.ck7', 'rule x › when[0].is'), what was expected and what was
    given, the closest valid field name for an unknown one, and how many more problems."""
    first = exc.errors()[0]
    location = tuple(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    hint = None
    if first["type"] == "extra_forbidden" and location:
        message = f"unknown field {quoted(str(location[-1]))!r}"
        if fields:
            from .vocabulary import did_you_mean  # vocabulary imports this module

            close = did_you_mean(str(location[-1]), fields)
            message += f"; {close}" if close else f"; expected one of {', '.join(fields)}"
    elif first["type"] == "missing":
        message = "required field is missing"
    elif (
        "input" in first
        and ", got " not in message
        and not isinstance(first["input"], Mapping | list | tuple)
    ):
        message += f", got {shown(first['input'])}"
    more = exc.error_count() - 1
    if more:
        hint = f"and {more} more problem(s) in this {what}"
    return error(message, file=file, case=case, field=_path(data, location) or None, hint=hint)


def _path(data: Any, location: tuple[Any, ...]) -> str:
    """A location as a path; inside a list of rules, by the rule's id ('rule x › lr.lung')."""
    parts = [f"[{part}]" if isinstance(part, int) else f".{part}" for part in location]
    if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
        rules = data.get("rules") if isinstance(data, Mapping) else None
        rule = rules[location[1]] if isinstance(rules, list) and location[1] < len(rules) else None
        if isinstance(rule, Mapping) and isinstance(rule.get("id"), str):
            return f"rule {quoted(rule['id'])} › " + "".join(parts[2:]).lstrip(".")
    return "".join(parts).lstrip(".")
