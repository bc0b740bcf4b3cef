"""Batch scoring streams, writes progress line by line, and resumes byte for byte."""

import csv
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


BATCH_CASES = 600
"""Longer than the batch size that starts worker processes (WORKERS_WORTH_IT): the stopped
runs below have workers to leave behind, and rows still to write when they are stopped."""


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A 600-case export with a bad row in it, a frozen copy of the rules (others may edit
    the knowledge base while the tests run), and the output of an uninterrupted run."""
    folder = tmp_path_factory.mktemp("resume")
    rules = folder / "rules"
    shutil.copytree(bundled_rules_dir(), rules)
    export = write_export(folder / "export.csv", BATCH_CASES)
    with export.open("a") as handle:
        handle.write("bad1,male,61,ovary" + "," * (len(FINDING_COLUMNS) + 2) + "\n")
    outputs = {}
    for suffix in ("jsonl", "csv"):
        reference = folder / f"reference.{suffix}"
        finished = _score_process(rules, export, "-o", reference, "--jobs", "1", seed=1)
        _, stderr = finished.communicate(timeout=600)
        assert finished.returncode == 1, stderr  # the bad row
        outputs[suffix] = reference.read_bytes()
    return rules, export, outputs


def _group(pgid):
    """The processes of a process group (the run, its workers, the resource tracker)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    members.append(int(entry))
            except ProcessLookupError:
                continue
    return members


def _gone(pids, seconds=20):
    deadline = time.monotonic() + seconds
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.1)
    return not alive


def _parent(pid):
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().split(") ")[-1].split()[1])


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def _stopped_halfway(rules, export, output, seed, rows=100):
    """A run with two workers, frozen (SIGSTOP) once `rows` rows are on disk: whatever the
    machine's load, the signal then arrives while rows remain to be written."""
    partial = partial_path(output)
    process = _score_process(
        rules, export, "-o", output, "--jobs", "2", seed=seed, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while _lines(partial) < rows and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGSTOP)
    written = _lines(partial)
    assert rows <= written < BATCH_CASES, written
    return process, _group(process.pid)


STOPS = [
    ("jsonl", signal.SIGKILL, True),  # a scheduler killing the job
    ("jsonl", signal.SIGKILL, False),  # the OOM killer choosing the parent
    ("csv", signal.SIGINT, True),  # Ctrl-C in a terminal
    ("csv", signal.SIGTERM, True),  # kill, systemd, a batch scheduler's time limit
    ("csv", signal.SIGTERM, False),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("suffix", "stop", "whole_group"),
    STOPS,
    ids=[f"{s}-{g.name}-{'group' if w else 'parent'}" for s, g, w in STOPS],
)
def test_a_run_stopped_halfway_then_resumed_gives_the_same_bytes(
    batch, tmp_path, suffix, stop, whole_group
):
    rules, export, reference = batch
    output = tmp_path / f"out.{suffix}"
    partial = partial_path(output)
    process, members = _stopped_halfway(rules, export, output, seed=2)
    if whole_group:
        os.killpg(process.pid, stop)
    else:
        os.kill(process.pid, stop)
    os.killpg(process.pid, signal.SIGCONT)
    _, stderr = process.communicate(timeout=120)
    assert _gone(members), "a worker or the resource tracker outlived the run"
    if stop != signal.SIGKILL:
        assert process.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[stop], stderr
        assert b"--resume" in stderr and b"Traceback" not in stderr
    assert not output.exists(), "an interrupted run leaves no output, only the partial file"
    assert 100 <= _lines(partial) < BATCH_CASES
    resumed = _score_process(rules, export, "-o", output, "--resume", seed=3, text=True)
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 1, stderr
    assert "read back from the interrupted run" in stdout
    assert output.read_bytes() == reference[suffix]
    assert not partial.exists()


@pytest.mark.slow
def test_a_worker_killed_by_the_system_is_one_line_and_the_run_resumes(batch, tmp_path):
    rules, export, reference = batch
    output = tmp_path / "out.csv"
    process, members = _stopped_halfway(rules, export, output, seed=4)
    workers = [
        pid
        for pid in members
        if _parent(pid) == process.pid
        and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    os.kill(workers[0], signal.SIGKILL)  # as the OOM killer does
    os.killpg(process.pid, signal.SIGCONT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 75, stderr
    lines = stderr.decode().strip().splitlines()
    assert lines[-1].startswith(
        "Error: a worker process ended while scoring (stopped by a signal"
    ), stderr
    assert "Traceback" not in stderr.decode() and "--resume" in lines[-1]
    assert _gone(members)
    resumed = _score_process(rules, export, "-o", output, "--resume", seed=5)
    resumed.communicate(timeout=600)
    assert output.read_bytes() == reference["csv"]


@pytest.mark.slow
def test_a_full_disk_with_workers_is_one_line_and_the_partial_is_kept(batch, tmp_path):
    rules, export, _ = batch
    output = tmp_path / "out.jsonl"

    def small_disk():  # a file may not grow past 40 kB: writes fail as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    process = _score_process(
        rules, export, "-o", output, "--jobs", "2", seed=6, preexec_fn=small_disk, text=True
    )
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 74, stderr
    assert stderr.strip().splitlines() == [
        f"Error: {partial_path(output)}: cannot write: File too large (free some space, then"
        " run the same command with --resume: the rows scored so far are in"
        f" {partial_path(output)})"
    ]
    assert partial_path(output).exists() and not output.exists()


def _score(*args):
    return CliRunner().invoke(cli, ["score", *map(str, args), "--jobs", "1"])


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


def _resumed(export, partial_bytes, suffix="jsonl", *options):
    """--resume over a planted OUT.partial: the output, and what the run said."""
    output = export.parent / f"resumed.{suffix}"
    partial_path(output).write_bytes(partial_bytes)
    result = _score(export, "-o", output, "--resume", *options)
    assert result.exit_code in (0, 1), result.output
    return output.read_bytes(), result


@pytest.fixture
def scored(tmp_path):
    """A 12-case export with a bad case, and its output."""
    export = write_export(tmp_path / "export.csv", 12)
    with export.open("a") as handle:
        handle.write("bad1,male,61,ovary" + "," * (len(FINDING_COLUMNS) + 2) + "\n")
    reference = tmp_path / "reference.jsonl"
    assert _score(export, "-o", reference).exit_code == 1
    return export, reference.read_bytes()


def _edit_case(export, number, column, value):
    rows = list(csv.DictReader(export.open(newline="")))
    rows[number][column] = value
    with export.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_resume_scores_again_a_case_changed_since_the_interrupted_run(scored, tmp_path):
    export, before = scored
    # Same id, another answer: flip whatever the generated case holds (the generated cases
    # change whenever the vocabulary gains a finding, so a fixed answer may already be there).
    current = list(csv.DictReader(export.open(newline="")))[5]["history.hemoptysis"]
    _edit_case(export, 5, "history.hemoptysis", "no" if current == "yes" else "yes")
    fresh = tmp_path / "fresh.jsonl"
    _score(export, "-o", fresh)
    output, result = _resumed(export, before)
    assert output == fresh.read_bytes() != before
    assert "5 read back" in result.output
    assert "resume: case r00005 of" in result.stderr and "changed" in result.stderr


def test_resume_replaces_the_error_row_of_a_case_fixed_since(scored, tmp_path):
    export, before = scored
    text = export.read_text().replace("bad1,male,61,ovary", "bad1,female,61,ovary")
    export.write_text(text)
    output, _ = _resumed(export, before)
    last = json.loads(output.splitlines()[-1])
    assert last["case_id"] == "bad1" and last["status"] == "ok"


@pytest.mark.parametrize(
    "edit",
    [
        # a hand-edited result (another primary than the row's: the generated cases change
        # whenever the vocabulary gains a finding, so the row may already name breast)
        lambda row: {**row, "top1": "lung" if row["top1"] == "breast" else "breast"},
        lambda row: {**row, "top1_probability": 0.99},
        lambda row: {
            "case_id": row["case_id"],
            "error": "forged",
            "file": row["file"],
            "status": "error",
            "digest": row["digest"],
        },  # a forged error row
        lambda row: {**row, "kb_hash": "0123456789ab", "digest": "0" * 16},
    ],
    ids=["top1", "probability", "forged error row", "forged digest"],
)
def test_resume_scores_again_a_row_edited_by_hand(scored, edit):
    export, before = scored
    lines = before.splitlines(keepends=True)
    lines[3] = (json.dumps(edit(json.loads(lines[3])), sort_keys=True) + "\n").encode()
    output, result = _resumed(export, b"".join(lines))
    assert output == before
    assert "3 read back" in result.output


@pytest.mark.parametrize("options", [("--top-k", "5"), ("--rules-dir",)])
def test_resume_after_other_options_or_another_knowledge_base_scores_everything(
    scored, tmp_path, options
):
    export, before = scored
    if options == ("--rules-dir",):
        rules = tmp_path / "rules"
        shutil.copytree(bundled_rules_dir(), rules)
        priors = rules / "priors.yaml"
        data = yaml.safe_load(priors.read_text())
        data["priors"]["probabilities"]["lung"] *= 1.01
        priors.write_text(yaml.safe_dump(data))
        cli_prefix = ["--rules-dir", str(rules)]
    else:
        cli_prefix = []
    output = export.parent / "resumed.jsonl"
    partial_path(output).write_bytes(before)
    fresh = tmp_path / "fresh.jsonl"
    tail = list(options) if options != ("--rules-dir",) else []
    runner = CliRunner()
    runner.invoke(cli, [*cli_prefix, "score", str(export), "-o", str(fresh), *tail])
    result = runner.invoke(
        cli, [*cli_prefix, "score", str(export), "-o", str(output), "--resume", *tail]
    )
    assert result.exit_code == 1, result.output
    assert "read back" not in result.output
    assert output.read_bytes() == fresh.read_bytes() != before


def test_resume_drops_rows_the_input_no_longer_has(scored, tmp_path):
    export, before = scored
    lines = export.read_text().splitlines(keepends=True)
    export.write_text("".join(lines[:8]))
    fresh = tmp_path / "fresh.jsonl"
    _score(export, "-o", fresh)
    output, result = _resumed(export, before)
    assert output == fresh.read_bytes()
    assert "more rows than the input has cases" in result.stderr


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_whatever_happened_to_the_partial_resume_gives_the_uninterrupted_bytes(scored, data):
    """Cut anywhere, or any one byte changed: --resume keeps only rows that still hold."""
    export, before = scored
    suffix = data.draw(st.sampled_from(["jsonl", "csv"]))
    reference = export.parent / f"reference.{suffix}"
    if not reference.exists():
        _score(export, "-o", reference)
    whole = reference.read_bytes()
    at = data.draw(st.integers(0, len(whole) - 1))
    if data.draw(st.booleans()):
        damaged = whole[:at]
    else:
        byte = data.draw(st.integers(32, 126).filter(lambda b: b != whole[at]))
        damaged = whole[:at] + bytes([byte]) + whole[at + 1 :]
    output, _ = _resumed(export, damaged, suffix)
    assert output == whole


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


@pytest.mark.slow
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
