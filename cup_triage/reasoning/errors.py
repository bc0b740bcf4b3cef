"""One error family: every error names where it happened (file › case › field) and a hint."""

from __future__ import annotations


def one_line(text: str) -> str:
    """A text on one line, its line breaks shown as \\n.

    File names, case ids and parser messages can hold line breaks; an error is printed as
    one line, and a batch output keeps one row per physical line (see partial.py).
    """
    return text.replace("\r", "\\r").replace("\n", "\\n")


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
        return one_line(f"{text} ({self.hint})" if self.hint else text)

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
