"""Batch at scale: peak memory and time of `cup-triage score`, and kill-then-resume.

Run: uv run python bench/batch_scale.py --cases 100000 [--form csv|yaml|folder] [--kill-at 0.5]

Generates that many valid, referral-like cases, scores them in a subprocess and prints the
wall time and peak resident memory (RSS) of that process. With --kill-at F it then scores
them again, kills the process with SIGKILL once F of the rows are in OUT.partial, resumes
with --resume, and says whether the result is byte-identical to the uninterrupted run.
The three runs use one copy of the rules (--rules-dir), so that the knowledge base cannot
change under them. Prints figures; asserts nothing (tests/test_batch.py checks resume on a
small batch).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from cup_triage.io.load import bundled_knowledge_base, bundled_rules_dir
from cup_triage.reasoning.vocabulary import Vocabulary

CLI = [sys.executable, "-c", "from cup_triage.cli import main; main()"]


def referral(rng: random.Random, vocabulary: Vocabulary, number: int) -> dict:
    """A valid case shaped like a referral; no finding only the other sex can have."""
    sex = rng.choice(["female", "male"])

    def possible(section: str) -> list[str]:
        return [
            f
            for f in vocabulary.ids_in(section)
            if vocabulary.findings[f"{section}.{f}"].sex in (None, sex)
        ]

    def some(section: str, low: int, high: int) -> dict:
        ids = rng.sample(possible(section), rng.randint(low, high))
        return {i: rng.choice(vocabulary.answers_of(section)) for i in ids}

    return {
        "id": f"scale-{number:06d}",
        "sex": sex,
        "age": rng.randint(25, 90),
        "sites": rng.sample(possible("sites"), rng.randint(1, 3)),
        "histology": rng.choice(list(vocabulary.histologies)),
        "markers": some("markers", 2, 8),
        "labs": some("labs", 0, 3),
        "history": some("history", 0, 8),
    }


def write_batch(cases: int, form: str, folder: Path, vocabulary: Vocabulary) -> Path:
    """Write the generated cases as one CSV export, one YAML list, or a folder of files."""
    rng = random.Random(7)
    generated = (referral(rng, vocabulary, n) for n in range(cases))
    if form == "csv":
        finding_columns = [
            f"{s}.{f}" for s in ("markers", "labs", "history") for f in vocabulary.ids_in(s)
        ]
        path = folder / "export.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "sex", "age", "sites", "histology", *finding_columns])
            for case in generated:
                answers = {
                    f"{s}.{f}": a
                    for s in ("markers", "labs", "history")
                    for f, a in case[s].items()
                }
                writer.writerow(
                    [
                        case["id"],
                        case["sex"],
                        case["age"],
                        ";".join(case["sites"]),
                        case["histology"],
                        *(answers.get(c, "") for c in finding_columns),
                    ]
                )
        return path
    if form == "yaml":
        path = folder / "cases.yaml"
        with path.open("w", encoding="utf-8") as handle:
            for case in generated:
                yaml.safe_dump([case], handle, sort_keys=False, default_flow_style=None)
        return path
    path = folder / "cases"
    for case in generated:
        shard = path / case["id"][-3:]
        shard.mkdir(parents=True, exist_ok=True)
        (shard / f"{case['id']}.yaml").write_text(yaml.safe_dump(case, sort_keys=False))
    return path


def run(args: list[str], kill_after_rows: int | None = None, partial: Path | None = None):
    """Run one `score` process; returns (seconds, peak RSS in MB, killed)."""
    start = time.perf_counter()
    process = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = False
    if kill_after_rows is not None:
        while process.poll() is None:
            if partial.is_file() and _lines(partial) >= kill_after_rows:
                process.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.5)
    _, _, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    # ru_maxrss is in kilobytes on Linux (bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    return seconds, usage.ru_maxrss * scale / 2**20, killed


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--form", choices=["csv", "yaml", "folder"], default="csv")
    parser.add_argument("--output", choices=["jsonl", "csv"], default="jsonl")
    parser.add_argument(
        "--kill-at",
        type=float,
        default=None,
        help="also kill a second run at this share of rows, then resume",
    )
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = parser.parse_args()
    vocabulary = bundled_knowledge_base().vocabulary

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        batch = write_batch(args.cases, args.form, folder, vocabulary)
        took = time.perf_counter() - started
        print(f"generated {args.cases:,} cases as {args.form} in {took:.1f} s")
        rules = folder / "rules"
        shutil.copytree(bundled_rules_dir(), rules, dirs_exist_ok=True)
        score = ["--rules-dir", str(rules), "score", str(batch)]

        reference = folder / f"reference.{args.output}"
        seconds, peak, _ = run([*score, "-o", str(reference)])
        rows = _lines(reference)
        print(
            f"uninterrupted: {rows:,} rows in {seconds:.1f} s "
            f"({seconds / max(args.cases, 1) * 1000:.2f} ms per case), peak RSS {peak:.0f} MB"
        )
        if args.kill_at is None:
            return

        output = folder / f"resumed.{args.output}"
        partial = output.with_name(output.name + ".partial")
        seconds, peak, killed = run(
            [*score, "-o", str(output)],
            kill_after_rows=int(args.cases * args.kill_at),
            partial=partial,
        )
        kept = _lines(partial) if partial.is_file() else 0
        print(
            f"killed={killed} after {seconds:.1f} s with {kept:,} lines in {partial.name}, "
            f"peak RSS {peak:.0f} MB"
        )
        seconds, peak, _ = run([*score, "-o", str(output), "--resume"])
        same = output.read_bytes() == reference.read_bytes()
        print(
            f"resumed in {seconds:.1f} s, peak RSS {peak:.0f} MB; "
            f"byte-identical to the uninterrupted run: {same}"
        )


if __name__ == "__main__":
    main()
