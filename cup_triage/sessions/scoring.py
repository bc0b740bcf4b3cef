"""A learner's differential as probabilities, and proper scores for it.

A learner types either probabilities ("stomach 50, oesophagus 30, lung 20") or a plain ranked
list ("stomach, oesophagus, lung"). A ranked list becomes probabilities by a fixed rule that
never gives a short list more confidence than a long one:

- the first primary named takes half the probability, each next one half of what is left
  (50 %, 25 %, 12.5 %, ...), whatever the length of the list;
- what is left after the list (and, for typed probabilities, whatever they leave short of
  100 %) goes to the primaries not named, in proportion to the engine's prior.

So leaving a plausible candidate out never raises the probability of the ones named: the
left-out candidate simply gets its share of the prior. Scores are the logarithmic score
(Good 1952), in bits, and the Brier score (Brier 1950), both strictly proper (Gneiting and
Raftery 2007): a learner does best, on average, by stating what they believe.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..reasoning.errors import CaseError
from ..reasoning.vocabulary import Vocabulary

RANK_SHARE = 0.5
"""The share of the probability still unassigned that each next primary of a ranked list takes."""

LOG_FLOOR = 2**-10
"""Probabilities below this count as this in the log score (-10 bits at worst), so one stage
the learner got badly wrong does not swamp a class's average."""

MATCH_CUTOFF = 0.75
"""How close a typed name must be to a primary's id or label to be read as that primary."""

_PAIR = re.compile(r"\s*([^\d:=%]+?)\s*[:=]?\s*(\d+(?:\.\d+)?)\s*%?")
_ENTRY = re.compile(r"^(?P<name>.*?)\s*(?:[:=]\s*)?(?P<number>\d+(?:\.\d+)?)\s*%?$")


@dataclass(frozen=True)
class Differential:
    """A learner's differential: the primaries named, most likely first, and the probability
    the learner gave each (None for a plain ranked list)."""

    named: tuple[str, ...]
    stated: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.stated is not None and len(self.stated) != len(self.named):
            raise ValueError("one stated probability per primary named")


def primary_names(vocabulary: Vocabulary) -> dict[str, str]:
    """Every way a learner may name a primary (id, label, label before its parenthesis),
    lower case, to the primary's id."""
    names: dict[str, str] = {}
    for primary in vocabulary.primaries.values():
        for name in (
            primary.id,
            primary.id.replace("_", " "),
            primary.label,
            primary.label.split(" (")[0],
        ):
            names[name.lower()] = primary.id
    return names


def parse_differential(text: str, vocabulary: Vocabulary) -> Differential:
    """Read a differential typed by a learner: ids or labels, commas or semicolons between
    entries (spaces will do for a list of one-word ids), each with an optional probability in
    per cent. Typos are tolerated; an unrecognised entry raises a CaseError with the closest
    match."""
    names = primary_names(vocabulary)
    entries = _entries(text, names)
    chosen: list[str] = []
    numbers: list[float | None] = []
    for entry in entries:
        found = _ENTRY.match(entry)
        name, number = (found["name"], float(found["number"])) if found else (entry, None)
        primary = _primary(name.strip().lower(), names)
        if primary in chosen:
            raise CaseError(
                f"{primary!r} is named twice", field="differential", hint="name each primary once"
            )
        chosen.append(primary)
        numbers.append(number)
    if not chosen:
        raise CaseError(
            "an empty differential",
            field="differential",
            hint="name one or more primaries, most likely first",
        )
    if all(n is None for n in numbers):
        return Differential(tuple(chosen))
    if any(n is None for n in numbers):
        raise CaseError(
            "some entries have a probability and some do not",
            field="differential",
            hint="give a per-cent probability to every primary, or to none",
        )
    stated = [n / 100 for n in numbers if n is not None]
    total = sum(stated)
    if total > 1 + 1e-9:
        raise CaseError(
            f"the probabilities add up to {total * 100:g} %",
            field="differential",
            hint="they may add up to 100 % at most; what is left goes to the primaries not named",
        )
    order = sorted(range(len(chosen)), key=lambda i: -stated[i])
    return Differential(tuple(chosen[i] for i in order), tuple(stated[i] for i in order))


def _entries(text: str, names: Mapping[str, str]) -> list[str]:
    entries = [e.strip() for e in text.replace(";", ",").split(",") if e.strip()]
    if len(entries) != 1:
        return entries
    (entry,) = entries
    pairs = _PAIR.findall(entry)
    if len(pairs) > 1 and not _PAIR.sub("", entry).strip():
        return [f"{name} {number}" for name, number in pairs]  # "stomach 50 lung 30"
    if _ENTRY.match(entry) or entry.lower() in names:
        return entries
    try:
        _primary(entry.lower(), names)
        return entries
    except CaseError:
        return entry.split()  # "kidney bladder"


def _primary(name: str, names: Mapping[str, str]) -> str:
    match = names.get(name) or next(
        iter(difflib.get_close_matches(name, names, n=1, cutoff=MATCH_CUTOFF)), None
    )
    if match is not None:
        return names[match]
    hint = difflib.get_close_matches(name, names, n=1, cutoff=0.4)
    raise CaseError(
        f"not a primary: {name!r}",
        field="differential",
        hint=f"did you mean {names[hint[0]]!r}?" if hint else None,
    )


def learner_distribution(
    differential: Differential, primaries: Sequence[str], prior: Sequence[float]
) -> list[float]:
    """The learner's probability for every primary (in the order of `primaries`), by the rule
    in this module's docstring."""
    given: dict[str, float] = {}
    if differential.stated is not None:
        given = dict(zip(differential.named, differential.stated, strict=True))
    else:
        left = 1.0
        for primary in differential.named:
            given[primary] = left * RANK_SHARE
            left -= given[primary]
    spare = max(0.0, 1.0 - sum(given.values()))
    unnamed = sum(w for p, w in zip(primaries, prior, strict=True) if p not in given)
    if unnamed <= 0:
        # Every primary named: the shortfall, if any, is shared by all in proportion to prior.
        total = sum(given.values()) or 1.0
        return [given.get(p, 0.0) / total for p in primaries]
    return [
        given[p] if p in given else spare * w / unnamed
        for p, w in zip(primaries, prior, strict=True)
    ]


def log_score(probabilities: Sequence[float], truth: int) -> float:
    """Logarithmic score in bits: 0 is certainty on the truth, -1 is 50 % on it (higher is
    better); floored at LOG_FLOOR."""
    return math.log2(max(probabilities[truth], LOG_FLOOR))


def brier_score(probabilities: Sequence[float], truth: int) -> float:
    """Brier score over all primaries: 0 is perfect, 2 is certainty on a wrong primary (lower
    is better)."""
    return sum((p - (i == truth)) ** 2 for i, p in enumerate(probabilities))


def agreement(learner: Sequence[float], engine: Sequence[float]) -> float:
    """How far two differentials agree: 1 minus their total variation distance (1 is the same
    distribution, 0 is no probability in common). Needs no confirmed primary."""
    return 1 - 0.5 * sum(abs(a - b) for a, b in zip(learner, engine, strict=True))
