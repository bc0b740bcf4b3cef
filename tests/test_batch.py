"""Batch scoring streams, writes progress line by line, and resumes byte for byte."""

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc

import pytest
from click.testing import CliRunner

from cup_triage.cli import cli
from cup_triage.io.load import bundled_rules_dir, iter_cases
from cup_triage.io.partial import partial_path

from .strategies import VOCABULARY

CLI = [sys.executable, "-c", "from cup_triage.cli import main; main()"]
FINDING_COLUMNS = [
    f"{s}.{f}" for s in ("markers", "labs", "imaging", "history") for f in VOCABULARY.ids_in(s)
]


def write_export(path, cases, seed=3):
    """A registry export of varied valid cases (no finding only the other sex can have)."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["id", "sex", "age", "sites", "histology", *FINDING_COLUMNS, "confirmed_primary"]
        )
        for number in range(cases):
            sex = rng.choice(["female", "male"])

            def possible(key, sex=sex):
                return VOCABULARY.findings[key].sex in (None, sex)

            sites = [s for s in VOCABULARY.ids_in("sites") if possible(f"sites.{s}")]
            answered = set(rng.sample(FINDING_COLUMNS, rng.randint(2, 14)))
            cells = []
            for column in FINDING_COLUMNS:
                answers = VOCABULARY.findings[column].answers
                if column not in answered:
                    cells.append("")
                else:
                    cells.append(rng.choice(answers if possible(column) else answers[1:]))
            writer.writerow(
                [
                    f"r{number:05d}",
                    sex,
                    rng.randint(30, 90),
                    ";".join(rng.sample(sites, rng.randint(1, 3))),
                    rng.choice([*VOCABULARY.histologies, ""]),
                    *cells,
                    rng.choice(["lung", "colorectal", ""]),
                ]
            )
    return path


def _lines(path):
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _score_process(rules, *args, seed, **popen):
    """`cup-triage score` in its own process, with its own string-hashing seed: a resumed
    run must give the same bytes as another process, not only as itself."""
    environment = {**os.environ, "PYTHONHASHSEED": str(seed)}
    command = [*CLI, "--rules-dir", str(rules), "score", *map(str, args)]
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen
    )


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A 300-case export with a bad row in it, a frozen copy of the rules (others may edit
    the knowledge base while the tests run), and the output of an uninterrupted run."""
    folder = tmp_path_factory.mktemp("resume")
    rules = folder / "rules"
    shutil.copytree(bundled_rules_dir(), rules)
    export = write_export(folder / "export.csv", 300)
    with export.open("a") as handle:
        handle.write("bad1,male,61,ovary" + "," * (len(FINDING_COLUMNS) + 2) + "\n")
    outputs = {}
    for suffix in ("jsonl", "csv"):
        reference = folder / f"reference.{suffix}"
        finished = _score_process(rules, export, "-o", reference, seed=1)
        _, stderr = finished.communicate(timeout=120)
        assert finished.returncode == 1, stderr  # the bad row
        outputs[suffix] = reference.read_bytes()
    return rules, export, outputs


@pytest.mark.parametrize(("suffix", "stop"), [("jsonl", signal.SIGKILL), ("csv", signal.SIGINT)])
def test_a_run_stopped_halfway_then_resumed_gives_the_same_bytes(batch, tmp_path, suffix, stop):
    rules, export, reference = batch
    output = tmp_path / f"out.{suffix}"
    partial = partial_path(output)
    process = _score_process(rules, export, "-o", output, seed=2, start_new_session=True)
    deadline = time.monotonic() + 60
    while _lines(partial) < 120 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # To the whole process group, as Ctrl-C in a terminal or a job scheduler does it.
    os.killpg(process.pid, stop)
    _, stderr = process.communicate(timeout=60)
    if stop == signal.SIGINT:
        assert process.returncode == 130, stderr
        assert b"--resume" in stderr and b"Traceback" not in stderr
    assert not output.exists(), "an interrupted run leaves no output, only the partial file"
    assert 120 <= _lines(partial) < 300
    resumed = _score_process(rules, export, "-o", output, "--resume", seed=3, text=True)
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 1, stderr
    assert "read back from the interrupted run" in stdout
    assert output.read_bytes() == reference[suffix]
    assert not partial.exists()


def _score(*args):
    return CliRunner().invoke(cli, ["score", *map(str, args)])


def test_a_torn_last_line_is_dropped_and_scored_again(tmp_path):
    export = write_export(tmp_path / "export.csv", 12)
    reference = tmp_path / "reference.jsonl"
    assert _score(export, "-o", reference).exit_code == 0
    output = tmp_path / "out.jsonl"
    whole = reference.read_bytes().splitlines(keepends=True)
    partial_path(output).write_bytes(b"".join(whole[:5]) + whole[5][:40])
    result = _score(export, "-o", output, "--resume")
    assert result.exit_code == 0, result.output
    assert "5 read back" in result.output
    assert output.read_bytes() == reference.read_bytes()


def test_the_summary_of_a_resumed_run_counts_every_case(tmp_path):
    export = write_export(tmp_path / "export.csv", 12)
    reference = _score(export, "-o", tmp_path / "reference.csv", "--json")
    lines = (tmp_path / "reference.csv").read_bytes().splitlines(keepends=True)
    output = tmp_path / "out.csv"
    partial_path(output).write_bytes(b"".join(lines[:7]))
    resumed = _score(export, "-o", output, "--resume", "--json")
    before, after = json.loads(reference.output), json.loads(resumed.output)
    assert after["resumed"] == 6 and before["resumed"] == 0
    counts = (
        "cases",
        "scored",
        "failed",
        "failures",
        "confirmed",
        "top1_accuracy",
        "top3_accuracy",
    )
    assert {k: before[k] for k in counts} == {k: after[k] for k in counts}


def test_resume_refuses_a_partial_file_from_another_input_or_options(tmp_path):
    export = write_export(tmp_path / "export.csv", 6)
    other = write_export(tmp_path / "other.csv", 6, seed=4)
    output = tmp_path / "out.csv"
    assert _score(export, "-o", output).exit_code == 0
    partial_path(output).write_bytes(output.read_bytes())
    changed = _score(other, "-o", output, "--resume")
    assert changed.exit_code == 2 and "cannot resume" in changed.stderr
    assert "without --resume" in changed.stderr
    other_columns = _score(export, "-o", output, "--resume", "--top-k", "5")
    assert other_columns.exit_code == 2 and "other columns" in other_columns.stderr


def test_resume_without_a_partial_file_scores_everything(tmp_path):
    export = write_export(tmp_path / "export.csv", 4)
    result = _score(export, "-o", tmp_path / "out.jsonl", "--resume")
    assert result.exit_code == 0
    assert "nothing to resume" in result.stderr
    assert _lines(tmp_path / "out.jsonl") == 4


def test_a_batch_never_overwrites_its_input(tmp_path):
    export = write_export(tmp_path / "export.csv", 2)
    before = export.read_bytes()
    result = _score(export, "-o", export)
    assert result.exit_code == 2 and "overwrite an input" in result.stderr
    assert export.read_bytes() == before


@pytest.mark.parametrize("form", ["csv", "yaml", "json"])
def test_loading_streams_one_case_at_a_time(tmp_path, form):
    """Memory while reading cases grows with no more than the text of a YAML or JSON file
    (read whole, within its size limit), and not at all for CSV; holding every case would
    grow by tens of times the text."""

    def reading(cases):
        path = write_export(tmp_path / f"{cases}.csv", cases)
        if form != "csv":
            rows = [item.case.to_file_dict(VOCABULARY) for item in iter_cases([path], VOCABULARY)]
            path = tmp_path / f"{cases}.{form}"
            path.write_text(
                json.dumps(rows)
                if form == "json"
                else "".join(f"- {json.dumps(row)}\n" for row in rows)
            )
        tracemalloc.start()
        count = sum(1 for _ in iter_cases([path], VOCABULARY))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert count == cases
        return peak, os.path.getsize(path) if form != "csv" else 0

    (small, small_text), (large, large_text) = reading(200), reading(4000)
    assert large - small < 3 * (large_text - small_text) + 100_000, (small, large)
