"""Benchmark: what a user of `cup-triage` waits for, measured whole-process where it matters.

Run: uv run python bench/bench.py [--quick] [--repeat 3] [--seed 7] [--forms csv yaml]
     [--only floor batch startup questions]

Prints, for the knowledge base as it is:
  - the floor: the same rules evaluated in plain Python (reasoning/evaluator.py) against
    experta (the engine of record) on the same generated cases, and the engine/floor ratio;
  - whole-process `cup-triage score` throughput for 3,000 and 20,000 cases (a CSV export and a
    YAML list) at --jobs 1, at --jobs N (the CPUs available) and with no --jobs (the default,
    which leaves out the CPUs other work keeps busy: the jobs it chose are printed), with the
    peak memory of the whole process tree (workers included); and for a short batch (400
    cases), which is scored in one process whatever --jobs ("2 (ran 1)"), so that --jobs 2
    is not slower there than --jobs 1;
  - start-up: `cup-triage --version` and `rank` of one case, with the knowledge-base cache
    (as every run after the first) and without it (CUP_TRIAGE_CACHE=off);
  - next-question latency (p50 / p95) through the interview's public API.
Every timed run is repeated (--repeat) and the median reported, and each is paired with a
fixed reference workload timed just before it: on a shared machine, the reference's time
says how loaded the machine was while the figure was taken. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from cup_triage.io.capacity import available_cpus
from cup_triage.io.load import bundled_cases_dir, bundled_knowledge_base
from cup_triage.reasoning.case import parse_case
from cup_triage.reasoning.triage import EVALUATOR, EXPERTA, Triage
from cup_triage.reasoning.vocabulary import Vocabulary
from cup_triage.sessions.interview import Interview

CLI = [sys.executable, "-c", "from cup_triage.cli import main; main()"]


def generated_case(rng: random.Random, vocabulary: Vocabulary, number: int) -> dict:
    """A valid case shaped like a referral, drawing from every section of the vocabulary; no
    finding or earlier cancer only the other sex can have."""
    sex = rng.choice(["female", "male"])

    def possible(section: str) -> list[str]:
        return [
            f
            for f in vocabulary.ids_in(section)
            if vocabulary.findings[f"{section}.{f}"].sex in (None, sex)
        ]

    def some(section: str, low: int, high: int) -> dict:
        ids = possible(section)
        chosen = rng.sample(ids, min(len(ids), rng.randint(low, high)))
        return {i: rng.choice(vocabulary.answers_of(section)) for i in chosen}

    primaries = [p for p, spec in vocabulary.primaries.items() if spec.sex in (None, sex)]
    case = {
        "id": f"bench-{number:06d}",
        "sex": sex,
        "age": rng.randint(25, 90),
        "sites": rng.sample(possible("sites"), rng.randint(1, 3)),
        "histology": rng.choice(list(vocabulary.histologies)),
        "markers": some("markers", 2, 8),
        "labs": some("labs", 0, 3),
        "molecular": some("molecular", 0, 2),
        "imaging": some("imaging", 0, 2),
        "workup": some("workup", 0, 2),
        "history": some("history", 0, 8),
    }
    if rng.random() < 0.2:
        case["prior_cancer"] = rng.choice([*primaries, "none"])
    elif rng.random() < 0.05:
        case["prior_cancer"] = rng.sample(primaries, 2)
    return {k: v for k, v in case.items() if v != {}}


def reference_seconds() -> float:
    """A fixed pure-Python workload (about 0.1 s on a quiet core of this machine)."""
    started = time.perf_counter()
    total = 0
    for i in range(1_500_000):
        total += i % 7
    return time.perf_counter() - started


def run_process(args: list[str], env: dict | None = None) -> tuple[float, float, float, str]:
    """Run a command; wall seconds, CPU seconds (children included), peak memory (MiB) of
    the whole process tree (the largest sum over the tree of proportional set sizes, PSS:
    a page shared by a parent and its forked workers counts once, split between them), and
    what it printed (`score` prints the jobs it used)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(args, stdout=errors, stderr=subprocess.STDOUT, env=env)
        peak = 0
        while True:
            # wait4 gives the CPU time of the process and of the workers it waited for.
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _tree_pss_kib(process.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        printed = errors.read().decode("utf-8", "replace")
    return seconds, usage.ru_utime + usage.ru_stime, peak / 1024, printed


def write_cases(path: Path, raw: list[dict], vocabulary: Vocabulary) -> None:
    """The generated cases as a YAML list or as a CSV export (a column per finding given)."""
    if path.suffix == ".yaml":
        with path.open("w", encoding="utf-8") as handle:
            yaml.dump(raw, handle, Dumper=yaml.CSafeDumper, sort_keys=False)
        return
    sections = [s for s in vocabulary.sections if s not in ("sites", "features")]
    columns = [f"{s}.{f}" for s in sections for f in vocabulary.ids_in(s)]
    used = [
        c
        for c in columns
        if any(c.partition(".")[2] in case.get(c.partition(".")[0], ()) for case in raw)
    ]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "sex", "age", "sites", "histology", "prior_cancer", *used])
        for case in raw:
            prior = case.get("prior_cancer", "")
            writer.writerow(
                [
                    case["id"],
                    case["sex"],
                    case["age"],
                    ";".join(case["sites"]),
                    case["histology"],
                    ";".join(prior) if isinstance(prior, list) else prior,
                    *(case.get(c.partition(".")[0], {}).get(c.partition(".")[2], "") for c in used),
                ]
            )


_JOBS = re.compile(r"cases/s, (\d+) job")


def _tree_pss_kib(pid: int) -> int:
    total = 0
    for member in [pid, *_descendants(pid)]:
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = [int(c) for c in children]
    for child in list(found):
        found += _descendants(child)
    return found


def median_of(repeat: int, measure) -> tuple[list, float]:
    """Median of `repeat` measurements, each paired with the reference workload."""
    results, references = [], []
    for _ in range(repeat):
        references.append(reference_seconds())
        results.append(measure())
    return results, statistics.median(references)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="*", default=[400, 3000, 20000])
    parser.add_argument("--forms", nargs="*", default=["csv", "yaml"], choices=["csv", "yaml"])
    parser.add_argument("--quick", action="store_true", help="1 repeat, no 20,000-case batch")
    parser.add_argument(
        "--only",
        nargs="*",
        default=list(PARTS),
        choices=PARTS,
        help="measure only these parts (all by default)",
    )
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.sizes = 1, [size for size in args.sizes if size <= 3000]
    kb = bundled_knowledge_base()
    vocabulary = kb.vocabulary
    rng = random.Random(args.seed)
    raw = [generated_case(rng, vocabulary, n) for n in range(max([*args.sizes, 2000]))]
    print(
        f"knowledge base {kb.version} ({kb.fingerprint}): {len(kb.rules)} rules, "
        f"{len(vocabulary.findings)} findings, {len(vocabulary.primaries)} primaries; "
        f"{available_cpus()} CPU(s) available"
    )
    print(
        f"load average now {os.getloadavg()[0]:.1f}; the reference workload "
        f"(lower is quieter) took {reference_seconds():.2f} s\n"
    )

    cases = [parse_case(data, vocabulary) for data in raw[:2000]]
    by_experta = Triage(kb, EXPERTA)
    if "floor" in args.only:
        floor_and_engine(args.repeat, kb, cases, by_experta)
    if "batch" in args.only:
        batch_throughput(args.repeat, args.forms, args.sizes, raw, vocabulary)
    if "startup" in args.only:
        start_up(args.repeat)
    if "questions" in args.only:
        next_question(cases, by_experta)


PARTS = ("floor", "batch", "startup", "questions")


def floor_and_engine(repeat: int, kb, cases: list, by_experta: Triage) -> None:
    """The floor: the same rules in plain Python, against the engine of record."""
    vocabulary = kb.vocabulary
    findings = [case.findings(vocabulary) for case in cases]
    by_evaluator = Triage(kb, EVALUATOR)
    by_experta.engine.run(findings[0])  # compile experta's network outside the timing

    def firing(triage, sample):
        started = time.process_time()
        for f in sample:
            triage.fire(f)
        return (time.process_time() - started) / len(sample)

    def rows(triage, sample):
        started = time.process_time()
        for case in sample:
            triage.rank(case)
        return (time.process_time() - started) / len(sample)

    floor, reference = median_of(repeat, lambda: firing(by_evaluator, findings))
    engine, _ = median_of(repeat, lambda: firing(by_experta, findings[:300]))
    floor_s, engine_s = statistics.median(floor), statistics.median(engine)
    print(f"firing the rules, per case (CPU time, reference {reference:.2f} s):")
    print(f"  floor: evaluator (plain Python)  {floor_s * 1e6:8.0f} µs")
    print(f"  engine: experta                   {engine_s * 1e6:8.0f} µs")
    print(f"  engine / floor                    {engine_s / floor_s:8.1f} ×")
    row_evaluator, _ = median_of(repeat, lambda: rows(by_evaluator, cases))
    row_experta, _ = median_of(repeat, lambda: rows(by_experta, cases[:300]))
    print(
        f"  a whole batch row (fire, rank): {statistics.median(row_evaluator) * 1e6:.0f} µs "
        f"with the evaluator, {statistics.median(row_experta) * 1e6:.0f} µs with experta\n"
    )


def batch_throughput(
    repeat: int, forms: list[str], sizes: list[int], raw: list[dict], vocabulary: Vocabulary
) -> None:
    """Whole-process `score` at --jobs 1, N and the default, with the tree's peak memory."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        print("whole-process `cup-triage score FILE -o OUT.jsonl [--jobs N]` (median wall time):")
        print(
            "  form    cases   --jobs     cases/s   wall s   CPU s   peak memory (tree, PSS)"
            "   reference s"
        )
        for form in forms:
            for size in sizes:
                batch = folder / f"cases-{size}.{form}"
                write_cases(batch, raw[:size], vocabulary)
                for jobs in [*sorted({1, available_cpus()}), None]:
                    command = [*CLI, "score", str(batch), "-o", str(folder / "out.jsonl")]
                    command += ["--jobs", str(jobs)] if jobs else []
                    results, reference = median_of(repeat, lambda c=command: run_process(c))
                    wall = statistics.median(r[0] for r in results)
                    cpu = statistics.median(r[1] for r in results)
                    memory = max(r[2] for r in results)
                    chosen = sorted({m[1] for r in results for m in [_JOBS.search(r[3])] if m})
                    ran = "/".join(chosen) or "?"
                    label = (
                        (str(jobs) if ran == str(jobs) else f"{jobs} (ran {ran})")
                        if jobs
                        else f"default ({ran})"
                    )
                    print(
                        f"  {form:<5} {size:>7}   {label:<11} {size / wall:>6.0f}  {wall:>7.2f}  "
                        f"{cpu:>6.2f}  {memory:>14.0f} MiB          {reference:.2f}"
                    )
        print()


def start_up(repeat: int) -> None:
    """`--version` and `rank` of one case, whole-process, each way a process may start."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        example = bundled_cases_dir() / "example.yaml"
        # As pip installs a package, with its bytecode compiled (kept aside, in a cache folder
        # of this run), and as a process that may not write bytecode compiles every module
        # it imports on every start (PYTHONDONTWRITEBYTECODE, set on some machines).
        cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        uncached = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        no_kb_cache = {**cached, "CUP_TRIAGE_CACHE": "off"}
        run_process([*CLI, "rank", str(example)], cached)  # writes the bytecode and the cache
        print("start-up (median wall / CPU seconds):")
        for label, command in (
            ("cup-triage --version", [*CLI, "--version"]),
            ("cup-triage rank example.yaml", [*CLI, "rank", str(example)]),
        ):
            ways = [("bytecode cached", cached), ("no bytecode", uncached)]
            if "rank" in command:
                ways.append(("no kb cache", no_kb_cache))
            for how, env in ways:
                results, reference = median_of(
                    max(repeat, 5), lambda c=command, e=env: run_process(c, e)
                )
                wall = statistics.median(r[0] for r in results)
                cpu = statistics.median(r[1] for r in results)
                print(
                    f"  {label:<30} {how:<16} {wall:6.2f} s wall  {cpu:6.2f} s CPU  "
                    f"(reference {reference:.2f} s)"
                )
    print()


def next_question(cases: list, by_experta: Triage) -> None:
    """Next-question latency through the interview's public API."""
    by_experta.engine  # noqa: B018 (the whole network, compiled outside the timing, as above)
    latencies = []
    reference = reference_seconds()
    for case in cases[:60]:
        interview = Interview(by_experta, case)
        started = time.perf_counter()
        interview.next_question()
        latencies.append(time.perf_counter() - started)
    print(
        f"next question (Interview.next_question, {len(latencies)} cases): "
        f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms (reference {reference:.2f} s)"
    )


if __name__ == "__main__":
    main()
