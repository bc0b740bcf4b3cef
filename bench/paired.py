"""Before and after: the same whole-process commands timed alternately for two checkouts.

Run: uv run python bench/paired.py --before DIR [--after DIR] [--repeat 3] [--cases 3000]
     [--only rank version ...] [--instructions]

DIR is a checkout of the package (for an earlier commit: `git archive COMMIT | tar -x -C DIR`).
Each command (`--version`, `rank` of one case, `score` of a CSV export and of a YAML list at
--jobs 1, 2 and the default) runs for one checkout, then for the other, --repeat times, each
run paired with the fixed reference workload of bench.py: alternating lets a change in the
machine's load hit both alike. Both checkouts use this environment's Python and packages and
read the same generated cases; the medians of wall and CPU time (workers included) are
printed. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench import generated_case, reference_seconds, run_process, write_cases  # noqa: E402
from cup_triage.io.load import bundled_knowledge_base  # noqa: E402

HERE = Path(__file__).resolve().parents[1]


def cli(root: Path) -> list[str]:
    code = f"import sys; sys.path.insert(0, {str(root)!r}); from cup_triage.cli import main; main()"
    return [sys.executable, "-c", code]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=HERE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument(
        "--only", nargs="*", default=None, help="only the commands whose label has one of these"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions `rank` of one case executes, under valgrind's "
        "callgrind (the same on a loaded machine as on a quiet one; about 40 s of CPU each)",
    )
    args = parser.parse_args()
    vocabulary = bundled_knowledge_base().vocabulary
    rng = random.Random(7)
    raw = [generated_case(rng, vocabulary, n) for n in range(args.cases)]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        # A knowledge-base cache of this run's own: on a shared machine other processes write
        # (and prune) the default one, and a miss times loading the rules from YAML instead.
        os.environ["CUP_TRIAGE_CACHE"] = str(folder / "kb-cache")
        commands: list[tuple[str, list[str]]] = [
            ("--version", ["--version"]),
            ("rank example.yaml", ["rank", str(HERE / "cases" / "example.yaml")]),
        ]
        for form in ("csv", "yaml"):
            batch = folder / f"cases.{form}"
            write_cases(batch, raw, vocabulary)
            out = str(folder / "out.jsonl")
            for jobs in ("1", "2", None):
                commands.append(
                    (
                        f"score {args.cases} {form} --jobs {jobs or 'default'}",
                        ["score", str(batch), "-o", out, *(["-j", jobs] if jobs else [])],
                    )
                )
        if args.only:
            commands = [c for c in commands if any(word in c[0] for word in args.only)]
        sides = {"before": args.before.resolve(), "after": args.after.resolve()}
        for root in sides.values():  # bytecode and the knowledge-base cache written
            run_process([*cli(root), "rank", str(HERE / "cases" / "example.yaml")])
        print(f"before: {sides['before']}\nafter:  {sides['after']}")
        print(f"load average at the start {os.getloadavg()[0]:.1f}\n")
        print("command                          before wall / CPU s   after wall / CPU s   ref s")
        for label, command in commands:
            results: dict[str, list] = {side: [] for side in sides}
            references = []
            for _ in range(args.repeat):
                for side, root in sides.items():
                    references.append(reference_seconds())
                    results[side].append(run_process([*cli(root), *command])[:2])
            cells = [
                f"{statistics.median(wall for wall, _ in v):8.2f} / "
                f"{statistics.median(cpu for _, cpu in v):5.2f}"
                for v in results.values()
            ]
            print(
                f"{label:<32} {cells[0]:>18}   {cells[1]:>18}   {statistics.median(references):.2f}"
            )
        print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
        if args.instructions:
            rank = ["rank", str(HERE / "cases" / "example.yaml")]
            counts = {side: instructions([*cli(root), *rank]) for side, root in sides.items()}
            print(
                "instructions executed by `rank example.yaml` (callgrind): "
                + " · ".join(f"{side} {count / 1e9:.3f} G" for side, count in counts.items())
            )
            # Where start-up goes: each import alone in a fresh interpreter (so a module that
            # several of them import counts in each), in this environment, for the after side.
            print("instructions of `python -c CODE` (after), each alone:")
            for code in IMPORTS:
                code_in = f"import sys; sys.path.insert(0, {str(sides['after'])!r}); {code}"
                count = instructions([sys.executable, "-c", code_in])
                print(f"  {count / 1e6:7.0f} M  {code}")


IMPORTS = (
    "pass",
    "import click",
    "import pydantic, pydantic.main",
    "import yaml",
    "import rich.console, rich.table, rich.panel",
    "import importlib.metadata",
    "import cup_triage.cli",
    "import cup_triage.cli.rank",
    "import cup_triage.cli.rank, cup_triage.reasoning.triage, cup_triage.reasoning.engine",
)


def instructions(command: list[str]) -> int:
    """Instructions a whole process executes (valgrind --tool=callgrind), 0 if unavailable."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return 0
    done = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        capture_output=True,
        text=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    return int(found[1]) if found else 0


if __name__ == "__main__":
    main()
