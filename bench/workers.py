"""When do worker processes pay off? Scores batches of growing length in this process and in
worker processes (forced, whatever the batch length), reading and parsing the cases from a
file as `cup-triage score` does, and prints both times and the ratio.

Run: uv run python bench/workers.py [--jobs 2] [--repeat 5]

io/batch.py's WORKERS_WORTH_IT is set from this: the shortest batch from which workers are
reliably faster. Each length is measured --repeat times, alternating the two ways (so that a
change in the machine's load hits both alike), and the medians compared.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from cup_triage.io import batch
from cup_triage.io.capacity import available_cpus
from cup_triage.io.load import bundled_knowledge_base, iter_records
from cup_triage.reasoning.triage import EVALUATOR, Triage

sys.path.insert(0, str(Path(__file__).parent))
from bench import generated_case  # noqa: E402


def seconds(path: Path, triage: Triage, jobs: int) -> float:
    started = time.perf_counter()
    loaded = iter_records([path], triage.kb.vocabulary)
    for _ in batch.score_rows(loaded, triage, 3, batch.BatchSummary(), jobs=jobs):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=max(2, available_cpus()))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", default=[64, 128, 256, 512, 1024, 2048])
    args = parser.parse_args()
    kb = bundled_knowledge_base()
    triage = Triage(kb, EVALUATOR)
    rng = random.Random(11)
    raw = [generated_case(rng, kb.vocabulary, n) for n in range(max(args.sizes))]
    print(f"in this process vs {args.jobs} forked workers (median of {args.repeat}, seconds):")
    print("   cases   1 process   workers   workers / 1 process")
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            path = Path(scratch) / f"cases-{size}.yaml"
            with path.open("w", encoding="utf-8") as handle:
                yaml.dump(raw[:size], handle, Dumper=yaml.CSafeDumper, sort_keys=False)
            seconds(path, triage, 1)  # warm: the rules compiled, the file cached
            alone, shared = [], []
            for _ in range(args.repeat):
                batch.WORKERS_WORTH_IT, saved = 0, batch.WORKERS_WORTH_IT
                try:
                    shared.append(seconds(path, triage, args.jobs))
                finally:
                    batch.WORKERS_WORTH_IT = saved
                alone.append(seconds(path, triage, 1))
            one, many = statistics.median(alone), statistics.median(shared)
            print(f"  {size:>6}  {one:>10.3f}  {many:>8.3f}  {many / one:>10.2f}")


if __name__ == "__main__":
    main()
