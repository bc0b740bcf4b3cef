"""Benchmark: knowledge-base load, rank latency, batch throughput, next-question latency.

Run: uv run python bench/bench.py [--cases 500] [--seed 7]
Prints its figures; nothing here is asserted (speed is measured, not tested).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import time

from cup_triage.io.batch import BatchSummary, score_rows
from cup_triage.io.load import LoadedCase, load_knowledge_base
from cup_triage.reasoning.case import parse_case
from cup_triage.reasoning.knowledge import KnowledgeBase, RulesFile
from cup_triage.reasoning.triage import Triage
from cup_triage.reasoning.vocabulary import Vocabulary
from cup_triage.sessions.interview import Interview


def realistic_case(rng: random.Random, vocabulary: Vocabulary, number: int) -> dict:
    """A case shaped like a referral: sites, a histology, a few stains, labs and history."""
    sex = rng.choice(["female", "male"])

    def possible(key: str) -> bool:
        return vocabulary.findings[key].sex in (None, sex)

    def some(section: str, low: int, high: int) -> dict:
        ids = rng.sample(vocabulary.ids_in(section), rng.randint(low, high))
        return {
            i: rng.choice(vocabulary.answers_of(section)) for i in ids if possible(f"{section}.{i}")
        }

    return {
        "id": f"bench-{number}",
        "sex": sex,
        "age": rng.randint(25, 90),
        "sites": [
            s
            for s in rng.sample(vocabulary.ids_in("sites"), rng.randint(1, 3))
            if possible(f"sites.{s}")
        ],
        "histology": rng.choice(list(vocabulary.histologies)),
        "markers": some("markers", 2, 8),
        "labs": some("labs", 0, 3),
        "history": some("history", 0, 8),
    }


def scaled_knowledge_base(kb: KnowledgeBase, factor: int, rng: random.Random) -> KnowledgeBase:
    """The knowledge base plus (factor - 1) × as many generated evidence rules: one or two
    finding conditions each, likelihood ratios for a few primaries, like the real ones."""
    vocabulary = kb.vocabulary
    findings = [f for f in vocabulary.findings.values() if f.answers and f.key != "sex"]
    primaries = list(vocabulary.primaries)
    generated = []
    for number in range(len(kb.rules) * (factor - 1)):
        conditions = []
        for finding in rng.sample(findings, rng.choice((1, 1, 2))):
            conditions.append({"finding": finding.key, "is": rng.choice(finding.answers)})
        generated.append(
            {
                "id": f"generated.{number}",
                "kind": "history",
                "when": conditions,
                "lr": {p: round(rng.uniform(0.5, 2.0), 2) for p in rng.sample(primaries, 3)},
                "group": f"generated.{number}",
                "rationale": "Generated rule for scaling measurements only.",
                "source": "bench/bench.py",
            }
        )
    files = dict(kb.files)
    files["generated.yaml"] = RulesFile.model_validate(
        {"description": "generated for the benchmark", "rules": generated}
    )
    return KnowledgeBase(vocabulary, files)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--scale",
        type=int,
        nargs="*",
        default=[4, 16],
        help="Also measure with the knowledge base scaled by these factors.",
    )
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

    cores = os.cpu_count() or 1
    loaded = [LoadedCase(file="bench", case=case) for case in cases]
    started = time.perf_counter()
    for _ in score_rows(loaded, triage, 3, BatchSummary(), jobs=cores):
        pass
    all_cores_seconds = time.perf_counter() - started

    question_latencies = []
    for case in cases[: args.questions]:
        interview = Interview(triage, case)
        t0 = time.perf_counter()
        interview.next_question()
        question_latencies.append(time.perf_counter() - t0)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ms = 1000
    print(
        f"knowledge base: {len(kb.rules)} rules, {len(vocabulary.findings)} findings, "
        f"{len(vocabulary.primaries)} primaries ({kb.version}, {kb.fingerprint})"
    )
    print(f"load knowledge base       {load_seconds * ms:8.1f} ms")
    print(f"compile engine            {compile_seconds * ms:8.1f} ms")
    print(
        f"rank one case (batch row) median {statistics.median(latencies) * ms:6.2f} ms"
        f"   p95 {percentile(latencies, 0.95) * ms:6.2f} ms"
    )
    print(f"batch, 1 process          {len(cases) / batch_seconds:8.1f} cases/s")
    print(
        f"batch, {cores} processes       {len(cases) / all_cores_seconds:8.1f} cases/s "
        "(including worker start-up)"
    )
    print(
        f"floor: load + validate    {len(cases) / floor_seconds:8.1f} cases/s "
        f"(engine+ranking cost = {batch_seconds / floor_seconds:.1f}× the floor)"
    )
    print(
        f"next question (interview) median {statistics.median(question_latencies) * ms:6.1f} ms"
        f"   p95 {percentile(question_latencies, 0.95) * ms:6.1f} ms"
        f"   over {len(question_latencies)} cases"
    )
    print(f"peak memory (max RSS)     {peak_mib:8.1f} MiB")

    if args.scale:
        print(
            "\nscaling (knowledge base × factor with generated rules; "
            f"{min(len(cases), 100)} cases, {min(args.questions, 20)} interviews):"
        )
        print("  factor  rules  compile ms  rank median ms  rank p95 ms  next-question p95 ms")
    for factor in args.scale:
        scaled = scaled_knowledge_base(kb, factor, random.Random(args.seed))
        started = time.perf_counter()
        scaled_triage = Triage(scaled)
        compile_ms = (time.perf_counter() - started) * ms
        rank_times = []
        for case in cases[:100]:
            t0 = time.perf_counter()
            scaled_triage.assess(case, suggest=False, explain=False)
            rank_times.append(time.perf_counter() - t0)
        question_times = []
        for case in cases[: min(args.questions, 20)]:
            t0 = time.perf_counter()
            Interview(scaled_triage, case).next_question()
            question_times.append(time.perf_counter() - t0)
        print(
            f"  {factor:>6}  {len(scaled.rules):>5}  {compile_ms:>10.0f}  "
            f"{statistics.median(rank_times) * ms:>14.2f}  "
            f"{percentile(rank_times, 0.95) * ms:>11.2f}"
            f"  {percentile(question_times, 0.95) * ms:>19.1f}"
        )


if __name__ == "__main__":
    main()
