"""Fuzz the case loaders: N generated inputs through `iter_cases`, counting failures.

Run: uv run python bench/fuzz_loaders.py [--inputs 20000] [--seed 1] [--save DIR]

Inputs: random bytes; YAML-like token soup; mutated bundled case files (flipped, inserted,
deleted and spliced bytes); random JSON structures, whole and truncated; damaged CSV; and
valid cases with wrong types put into their fields. A *failure* is anything but a
CupTriageError value (an exception escaping the loader, an error not naming the file or
spanning lines) or an input taking longer than --slow seconds. Prints the counts; with
--save, writes each failing input to DIR for a regression test.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import yaml

from cup_triage.io.load import bundled_knowledge_base, iter_cases
from cup_triage.reasoning.errors import CupTriageError

YAML_TOKENS = [
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "&a ",
    "*a ",
    "&b ",
    "*b ",
    "!!str ",
    "!!binary ",
    "!!python/object/apply:os.system ",
    "!x ",
    "\n",
    "\n  ",
    "  ",
    "id",
    "sex",
    "male",
    "female",
    "age",
    "markers",
    "ck7",
    "psa",
    "positive",
    "sites",
    "ovary",
    "liver",
    "history",
    "yes",
    "no",
    "~",
    "'",
    '"',
    "# c",
    "<<: *a",
    "---",
    "...",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "? ",
    "|",
    ">-",
    "1",
    "-1.5e3",
    ".nan",
    "0x1F",
    "0o17",
    "010",
    "1:30",
    "1_000",
    "=cmd|' /C calc'!A0",
    "\x1b[2J",
    "\u202e",
    "ｃｕｐ１",
    "2024-02-30",
    "2024-01-01 10:00:00",
    "\t",
    "9" * 5000,
    "\\",
    "é",
    "\u2028",
    "\x00",
    "\x85",
    "\ufeff",
]
WRONG_VALUES = [
    None,
    True,
    0,
    -1,
    10**30,
    1.5,
    float("nan"),
    "",
    " ",
    "x" * 300,
    [],
    {},
    [[]],
    {"a": {"b": {}}},
    ["liver", 3],
    {"ck7": ["positive"]},
    "2024-02-30",
]
FIELDS = [
    "id",
    "sex",
    "age",
    "sites",
    "histology",
    "features",
    "markers",
    "labs",
    "imaging",
    "history",
    "prior_cancer",
    "confirmed_primary",
    "notes",
    "unknown_field",
]


def random_bytes(rng: random.Random, seeds: list[bytes]) -> tuple[str, bytes]:
    return rng.choice([".yaml", ".json", ".csv"]), rng.randbytes(rng.choice([0, 1, 8, 100, 3000]))


def yaml_soup(rng: random.Random, seeds: list[bytes]) -> tuple[str, bytes]:
    text = "".join(rng.choice(YAML_TOKENS) for _ in range(rng.randint(0, 80)))
    return ".yaml", text.encode("utf-8", "surrogatepass")


def mutated_file(rng: random.Random, seeds: list[bytes]) -> tuple[str, bytes]:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.3 and data:
            data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif action < 0.6:
            data[at:at] = rng.choice(
                [
                    b"&x ",
                    b"*x",
                    b"[",
                    b"{",
                    b"- ",
                    b": ",
                    b"\n",
                    b"\t",
                    b'"',
                    b"\xff",
                    b"\x00",
                    rng.randbytes(3),
                ]
            )
        elif action < 0.85:
            del data[at : at + rng.randint(1, 20)]
        else:
            other = rng.choice(seeds)
            start = rng.randrange(len(other) + 1)
            data[at:at] = other[start : start + rng.randint(1, 200)]
    return ".yaml", bytes(data)


def json_structure(rng: random.Random, seeds: list[bytes]) -> tuple[str, bytes]:
    def value(depth: int):
        kind = rng.random()
        if depth > 5 or kind < 0.4:
            return rng.choice([None, True, False, 0, -7, 1e308, "", "male", "ck7", "x" * 20])
        if kind < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        keys = FIELDS + ["markers.ck7", ""]
        return {rng.choice(keys): value(depth + 1) for _ in range(rng.randint(0, 5))}

    text = json.dumps(rng.choice([value(0), [value(1) for _ in range(rng.randint(0, 4))]]))
    if rng.random() < 0.4:
        text = text[: rng.randint(0, len(text))]
    if rng.random() < 0.05:
        text = "[" * rng.randint(50, 100_000) + text
    return ".json", text.encode()


def damaged_csv(rng: random.Random, seeds: list[bytes]) -> tuple[str, bytes]:
    columns = [
        "id",
        "sex",
        "age",
        "sites",
        "histology",
        "markers.ck7",
        "labs.psa",
        "history.smoking",
        "prior_cancer",
        "diagnosis",
        "markers.ck77",
        "",
        "id",
    ]
    cells = [
        "male",
        "female",
        "61",
        "²",
        "abc",
        "liver;bone",
        "positive",
        "elevated",
        "yes",
        "",
        '"',
        "a,b",
        "\n",
        "ovary",
        "prostate",
        "x" * 200_000,
    ]
    header = rng.sample(columns, rng.randint(0, 6))
    rows = [header] + [
        [rng.choice(cells) for _ in range(rng.randint(0, len(header) + 2))]
        for _ in range(rng.randint(0, 6))
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    text = buffer.getvalue()
    if rng.random() < 0.5:
        at = rng.randint(0, len(text))
        text = text[:at] + rng.choice(['"', "\n", ",", "\x00", "\r"]) + text[at:]
    return ".csv", text.encode("utf-8")


def wrong_types(rng: random.Random, seeds: list[bytes]) -> tuple[str, bytes]:
    case = yaml.safe_load(rng.choice(seeds).decode("utf-8"))
    case = case[0] if isinstance(case, list) else case
    case = dict(case) if isinstance(case, dict) else {"id": "x"}
    for _ in range(rng.randint(1, 3)):
        case[rng.choice(FIELDS)] = rng.choice(WRONG_VALUES)
    if rng.random() < 0.5:
        return ".json", json.dumps(case, default=str).encode()
    return ".yaml", yaml.safe_dump(case).encode()


GENERATORS = [random_bytes, yaml_soup, mutated_file, json_structure, damaged_csv, wrong_types]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow", type=float, default=2.0, help="seconds an input may take")
    parser.add_argument("--save", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vocabulary = bundled_knowledge_base().vocabulary
    cases = Path(__file__).resolve().parent.parent / "cases"  # run from a checkout
    seeds = [p.read_bytes() for p in sorted(cases.rglob("*.yaml"))]
    tried: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    slowest = 0.0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for number in range(args.inputs):
            generator = GENERATORS[number % len(GENERATORS)]
            suffix, content = generator(rng, seeds)
            path = Path(scratch) / f"input{suffix}"
            path.write_bytes(content)
            tried[generator.__name__] += 1
            began = time.perf_counter()
            problem = None
            try:
                for item in iter_cases([path], vocabulary):
                    if item.case is not None:
                        outcomes["cases accepted"] += 1
                        if not item.case.id.isprintable() or item.case.id != item.case.id.strip():
                            problem = f"an id that is not one clean line: {item.case.id!r}"
                    elif not isinstance(item.error, CupTriageError):
                        problem = f"not an error value: {item.error!r}"
                    elif str(path) not in str(item.error) or not str(item.error).isprintable():
                        problem = f"error not one located, printable line: {item.error!r}"
                    else:
                        outcomes["errors reported"] += 1
            except Exception as exc:  # the point of fuzzing: anything escaping is a failure
                problem = "".join(traceback.format_exception_only(exc)).strip()
            elapsed = time.perf_counter() - began
            slowest = max(slowest, elapsed)
            if problem is None and elapsed > args.slow:
                problem = f"slow: {elapsed:.1f} s"
            if problem is not None:
                failures.append(f"{generator.__name__} #{number}: {problem}")
                if args.save:
                    args.save.mkdir(parents=True, exist_ok=True)
                    (args.save / f"failure-{number}{suffix}").write_bytes(content)
    seconds = time.perf_counter() - started
    print(
        f"inputs tried: {sum(tried.values()):,} in {seconds:.0f} s "
        f"({', '.join(f'{name} {count:,}' for name, count in tried.items())})"
    )
    print(
        f"cases accepted: {outcomes['cases accepted']:,}; "
        f"errors reported: {outcomes['errors reported']:,}; slowest input {slowest:.2f} s"
    )
    print(f"failures found: {len(failures)}")
    for failure in failures[:20]:
        print(f"  {failure}")


if __name__ == "__main__":
    main()
