"""Every problem of a case, not only the first: one fix-and-retry round for a whole file.

The case model stops at the first invalid field. When a case is invalid, each of its fields
(each finding of a section) is checked on its own, with the case's id and sex, so that all of
its problems are reported together, each located as usual; at most MAX_PROBLEMS of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .case import LIST_SECTIONS, parse_case
from .errors import CaseError, CupTriageError
from .vocabulary import SECTIONS, Vocabulary

MAX_PROBLEMS = 20
"""Most problems reported at once for one file: enough to fix a file in one go, few enough
to read."""


class Problems(CaseError):
    """Several problems of one case or file, reported at once (one located line each)."""

    def __init__(self, problems: Sequence[CupTriageError], more: int = 0) -> None:
        first = problems[0]
        super().__init__(
            first.message, file=first.file, case=first.case, field=first.field, line=first.line
        )
        self.problems = list(problems)
        self.more = more
        self.exit_code = max(p.exit_code for p in problems)

    def located(self, **where: str | int | None) -> Problems:
        for problem in self.problems:
            problem.located(**where)
        super().located(**where)
        return self

    def __str__(self) -> str:
        lines = [str(p) for p in self.problems]
        if self.more:
            lines.append(f"… and {self.more} more problem(s)")
        return "\n".join(lines)


def case_problems(
    data: Any, vocabulary: Vocabulary, first: CaseError, *, file: str | None = None
) -> CaseError:
    """`first` (the error the case model raised), still one line, carrying the case's other
    problems in `first.also` (and saying how many there are in its hint)."""
    if not isinstance(data, Mapping):
        return first
    found: dict[str, CupTriageError] = {str(first): first}
    base = {"id": data.get("id", "?")}
    if "sex" in data:
        try:
            parse_case({**base, "sex": data["sex"]}, vocabulary)
            base["sex"] = data["sex"]
        except CaseError:
            pass
    for key, value in data.items():
        if key == "id" or len(found) > MAX_PROBLEMS:
            continue
        for part in _parts(key, value):
            try:
                parse_case({**base, key: part}, vocabulary, file=file)
            except CaseError as error:
                error.located(case=first.case, line=first.line)
                if (error.hint or "").startswith("and "):
                    error.hint = None
                found.setdefault(str(error), error)
    others = [e for text, e in found.items() if text != str(first)]
    if others:
        first.also = others  # type: ignore[attr-defined]
        first.hint = f"and {len(others)} more problem(s) in this case"
    return first


def _parts(key: str, value: Any) -> list[Any]:
    """A field in pieces that can be checked on their own: one finding of a section each."""
    if key in SECTIONS and isinstance(value, Mapping) and len(value) > 1:
        return [{finding: answer} for finding, answer in value.items()]
    if key in LIST_SECTIONS and isinstance(value, list | tuple) and len(value) > 1:
        return [[item] for item in value]
    return [value]


def gathered(errors: Sequence[CupTriageError]) -> CupTriageError:
    """The errors of one file as one error: each problem on its own line, at most
    MAX_PROBLEMS of them."""
    problems: list[CupTriageError] = []
    for error in errors:
        also = getattr(error, "also", [])
        if also and (error.hint or "").startswith("and "):
            error.hint = None
        problems += [error, *also]
    if len(problems) == 1:
        return problems[0]
    return Problems(problems[:MAX_PROBLEMS], more=max(0, len(problems) - MAX_PROBLEMS))
