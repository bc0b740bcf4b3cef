"""Where the instructions of `rank` of one case go, phase by phase (valgrind's callgrind).

Run: uv run python bench/startup_phases.py [--before DIR] [--case FILE]

The steps of `cup-triage rank CASE` (imports, the knowledge base from its cache, the case,
the triage, the assessment, the report) run in a fresh interpreter under callgrind, which
dumps its count at every phase boundary (each boundary calls `os.getppid`, and callgrind is
told to dump before that call). Instruction counts do not depend on the machine's load, so
two checkouts compare on a busy machine. DIR: another checkout (`git archive COMMIT | tar -x
-C DIR`), counted the same way beside this one. Bytecode is written to (and read from) a
scratch folder, as an installed package's would be, and the knowledge-base cache to another
(written by a first run without callgrind). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

PHASES = """
import gc, os, sys
from pathlib import Path
names = []
def mark(name):
    names.append(name)
    os.getppid()
gc.disable()  # as cli.main does until the knowledge base is loaded
import click; mark("start-up and import click")
import cup_triage.cli; mark("import cup_triage.cli")
import pydantic.main; mark("import pydantic")
import cup_triage.reasoning.case; mark("import reasoning.case (its models)")
import cup_triage.reasoning.knowledge, cup_triage.reasoning.questions
mark("import knowledge, questions")
import yaml; mark("import yaml")
import cup_triage.io.load; mark("import io.load (the rest)")
import cup_triage.cli.rank; mark("import cli.rank (the rest: render)")
from cup_triage.cli.common import Context
from cup_triage.io.load import load_case
from cup_triage.io.render import render_assessment
context = Context()
kb = context.kb; mark("knowledge base from the cache")
cases = load_case(Path(sys.argv[1]), kb.vocabulary, stdin_format="auto"); mark("read the case")
triage = context.triage; mark("Triage (rules compiled)")
import cup_triage.reasoning.engine; mark("import engine (experta)")
assessment = triage.assess(cases[0]); mark("assess (experta, ranking, suggestions)")
console = context.console; mark("console (import rich)")
render_assessment(assessment, console, top=10); mark("render the report")
sys.stdout.flush()
sys.stderr.write("PHASES " + "|".join(names) + "\\n")
os._exit(0)
"""


def phases(root: Path, case: Path, scratch: Path) -> list[tuple[str, int]]:
    """(phase, instructions) of the steps of `rank CASE` for the checkout at `root`."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    env["PYTHONPATH"] = str(root)
    # A knowledge-base cache of its own: on a shared machine other processes write (and
    # prune) the default one, and a miss would count loading the rules from YAML instead.
    env["CUP_TRIAGE_CACHE"] = str(scratch / "kb-cache")
    command = [sys.executable, "-c", PHASES, str(case)]
    # Once without callgrind: bytecode and the knowledge-base cache written.
    subprocess.run(command, env=env, cwd=root, capture_output=True, check=True)
    out = scratch / "callgrind.out"
    done = subprocess.run(
        [valgrind, "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={out}"]
        + command,
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    names = re.search(r"PHASES (.*)", done.stderr)
    dumps = sorted(scratch.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
    counts = []
    for path in dumps:
        found = re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.MULTILINE)
        counts.append(int(found[1]) if found else 0)
        path.unlink()
    labels = names[1].split("|") if names else []
    return list(zip(labels, counts, strict=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout, counted beside this one")
    parser.add_argument("--case", type=Path, default=HERE / "cases" / "example.yaml")
    args = parser.parse_args()
    sides = {"after": HERE} if args.before is None else {"before": args.before, "after": HERE}
    results = {}
    for side, root in sides.items():
        with tempfile.TemporaryDirectory() as scratch:
            results[side] = phases(root.resolve(), args.case.resolve(), Path(scratch))
    print(f"instructions (M) of `rank {args.case.name}`, phase by phase (callgrind)")
    print(f"{'phase':<42}" + "".join(f"{side:>10}" for side in results))
    labels = [label for label, _ in results["after"]]
    for index, label in enumerate(labels):
        cells = []
        for rows in results.values():
            cells.append(f"{rows[index][1] / 1e6:10.0f}" if index < len(rows) else " " * 10)
        print(f"{label:<42}" + "".join(cells))
    totals = "".join(f"{sum(c for _, c in rows) / 1e6:10.0f}" for rows in results.values())
    print(f"{'total':<42}" + totals)


if __name__ == "__main__":
    main()
