"""Benchmark: knowledge-base load, rank latency, batch throughput, next-question latency.

Run: uv run python bench/bench.py [--cases 500] [--seed 7]
Prints its figures; nothing here is asserted (speed is measured, not tested).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import resource

from cup_triage.case import parse_case
from cup_triage.interview import Interview
from cup_triage.load import load_knowledge_base
from cup_triage.triage import Triage
from cup_triage.vocabulary import Vocabulary


def realistic_case(rng: random.Random, vocabulary: Vocabulary, number: int) -> dict:
    """A case shaped like a referral: sites, a histology, a few stains, labs and history."""
    sex = rng.choice(["female", "male"])

    def possible(key: str) -> bool:
        return vocabulary.findings[key].sex in (None, sex)

    def some(section: str, low: int, high: int) -> dict:
        ids = rng.sample(vocabulary.ids_in(section), rng.randint(low, high))
        return {i: rng.choice(vocabulary.answers_of(section)) for i in ids
                if possible(f"{section}.{i}")}

    return {
        "id": f"bench-{number}",
        "sex": sex,
        "age": rng.randint(25, 90),
        "sites": [s for s in rng.sample(vocabulary.ids_in("sites"), rng.randint(1, 3))
                  if possible(f"sites.{s}")],
        "histology": rng.choice(list(vocabulary.histologies)),
        "markers": some("markers", 2, 8),
        "labs": some("labs", 0, 3),
        "history": some("history", 0, 8),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    started = time.perf_counter()
    kb = load_knowledge_base()
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    triage = Triage(kb)
    compile_seconds = time.perf_counter() - started
    vocabulary = kb.vocabulary
    rng = random.Random(args.seed)
    raw = [realistic_case(rng, vocabulary, n) for n in range(args.cases)]

    started = time.perf_counter()
    cases = [parse_case(data, vocabulary) for data in raw]
    floor_seconds = time.perf_counter() - started

    latencies = []
    started = time.perf_counter()
    for case in cases:
        t0 = time.perf_counter()
        triage.assess(case, suggest=False, explain=False)
        latencies.append(time.perf_counter() - t0)
    batch_seconds = time.perf_counter() - started

    question_latencies = []
    for case in cases[: args.questions]:
        interview = Interview(triage, case)
        t0 = time.perf_counter()
        interview.next_question()
        question_latencies.append(time.perf_counter() - t0)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ms = 1000
    print(f"knowledge base: {len(kb.rules)} rules, {len(vocabulary.findings)} findings, "
          f"{len(vocabulary.primaries)} primaries ({kb.version}, {kb.fingerprint})")
    print(f"load knowledge base       {load_seconds * ms:8.1f} ms")
    print(f"compile engine            {compile_seconds * ms:8.1f} ms")
    print(f"rank one case (batch row) median {statistics.median(latencies) * ms:6.2f} ms"
          f"   p95 {percentile(latencies, 0.95) * ms:6.2f} ms")
    print(f"batch, 1 process          {len(cases) / batch_seconds:8.1f} cases/s")
    print(f"floor: load + validate    {len(cases) / floor_seconds:8.1f} cases/s "
          f"(engine+ranking cost = {batch_seconds / floor_seconds:.1f}× the floor)")
    print(f"next question (interview) median {statistics.median(question_latencies) * ms:6.1f} ms"
          f"   p95 {percentile(question_latencies, 0.95) * ms:6.1f} ms"
          f"   over {len(question_latencies)} cases")
    print(f"peak memory (max RSS)     {peak_mib:8.1f} MiB")


if __name__ == "__main__":
    main()
