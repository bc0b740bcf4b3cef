"""`cup-triage ask --jsonl` driven as a web page or an EHR front-end would drive it: every
line out is one JSON object; an oracle answers each question from a full case file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cup_triage.cli import cli

CLI = [sys.executable, "-c", "from cup_triage.cli import main; main()"]


def answer_from(case: dict, path: str) -> str:
    """What a clinician holding the full case file would answer (`unknown` if it is silent)."""
    if "." not in path:
        value = case.get(path)
        if value is None:
            return "unknown"
        if isinstance(value, list):
            return ",".join(value) if value else "none"
        if isinstance(value, dict):
            present = [k for k, v in value.items() if str(v).lower() in ("yes", "true")]
            return ",".join(present) if present else "none"
        return str(value)
    section, _, finding = path.partition(".")
    value = case.get(section)
    if isinstance(value, list):
        return "yes" if finding in value else ("no" if section == "sites" else "unknown")
    if isinstance(value, dict) and finding in value:
        answer = value[finding]
        return {True: "yes", False: "no"}.get(answer, str(answer))
    return "unknown"


def drive(start: dict, full: dict, tmp_path: Path, *extra: str) -> list[dict]:
    """Run one interview over the protocol; returns every event it printed."""
    start_file = tmp_path / "start.yaml"
    start_file.write_text(yaml.safe_dump(start))
    process = subprocess.Popen(
        [*CLI, "ask", str(start_file), "--jsonl", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    events = []
    for line in process.stdout:
        event = json.loads(line)
        events.append(event)
        if event["event"] == "question":
            process.stdin.write(answer_from(full, event["finding"]) + "\n")
            process.stdin.flush()
    process.wait(timeout=60)
    assert process.returncode == 0
    return events


AXILLARY_WOMAN = {
    "id": "jl-axilla",
    "sex": "female",
    "age": 49,
    "sites": ["axillary_nodes"],
    "histology": "adenocarcinoma",
    "markers": {"ck7": "positive", "ck20": "negative", "er": "positive", "gata3": "positive"},
    "history": {"breast_lump": "no", "smoking": "no"},
    "confirmed_primary": "breast",
}


@pytest.mark.slow
def test_a_referral_ends_with_the_assessment_rank_gives_and_writes_nothing(tmp_path):
    referral = {k: AXILLARY_WOMAN[k] for k in ("id", "sex", "age", "histology")}
    referral["sites"] = {"axillary_nodes": "yes"}  # only the node known: the other sites asked
    events = drive(referral, AXILLARY_WOMAN, tmp_path)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "result" and "stop" in kinds
    questions = [e for e in events if e["event"] == "question"]
    assert questions[0]["finding"] == "sites"
    assert {"finding", "answers", "text"} <= set(questions[0])
    document = events[-1]["document"]
    result = document["assessments"][0]["assessment"]
    assert result["candidates"][0]["primary"] == "breast"
    assert "axillary_adenocarcinoma_women" in {s["id"] for s in result["subsets"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["start.yaml"]
    # The same object `rank --json` prints for the answers given (saved this time).
    saved = tmp_path / "answered.yaml"
    again = drive(referral, AXILLARY_WOMAN, tmp_path, "--save", str(saved))
    ranked = json.loads(CliRunner().invoke(cli, ["rank", str(saved), "--json"]).output)
    assert again[-1]["document"] == ranked == document


@pytest.mark.slow
def test_an_empty_start_asks_the_sites_before_any_stain_and_respects_bone_no(tmp_path):
    full = {
        "id": "jl-empty",
        "sex": "male",
        "age": 67,
        "sites": ["liver", "lung"],
        "histology": "adenocarcinoma",
        "markers": {"ck7": "negative", "ck20": "positive", "cdx2": "positive"},
        "history": {"rectal_bleeding": "yes", "change_in_bowel_habit": "yes"},
    }
    events = drive({"id": "jl-empty"}, full, tmp_path)
    asked = [e["finding"] for e in events if e["event"] == "question"]
    first_stain = next(i for i, f in enumerate(asked) if f.startswith("markers."))
    assert asked.index("sites") < first_stain
    assert not any("bone_lesions" in f for f in asked)  # bone = no: never the character
    final = events[-1]["document"]["assessments"][0]["assessment"]
    assert final["candidates"][0]["primary"] == "colorectal"


def test_section_answers_commands_and_errors_are_events(tmp_path):
    start = tmp_path / "s.yaml"
    start.write_text(yaml.safe_dump({"id": "jl-cmd", "sex": "female", "age": 60}))
    lines = ["liver, bone", "adenocarcinoma", "why", "maybe", "back", "back", "none", "quit"]
    result = CliRunner().invoke(cli, ["ask", str(start), "--jsonl"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[-2:] == ["stop", "result"]
    assert "why" in kinds and "error" in kinds and "undone" in kinds
    undone = [e for e in events if e["event"] == "undone"]
    assert [u["finding"] for u in undone] == ["histology", "sites"]
    where = kinds.index("error")
    asked = [e for e in events[:where] if e["event"] == "question"][-1]
    assert events[where]["finding"] == asked["finding"]
    assert events[where + 1] == asked  # the same question again, after the error
    final = events[-1]["document"]["assessments"][0]["assessment"]
    assert final["case_id"] == "jl-cmd"


def test_save_in_jsonl_mode_only_with_save(tmp_path):
    start = tmp_path / "s.yaml"
    start.write_text(yaml.safe_dump({"id": "jl-save", "sex": "male", "age": 70}))
    saved = tmp_path / "out.yaml"
    result = CliRunner().invoke(
        cli, ["ask", str(start), "--jsonl", "--save", str(saved)], input="bone\n?\n"
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert any(e["event"] == "saved" and e["path"] == str(saved) for e in events)
    data = yaml.safe_load(saved.read_text())
    assert data["sites"] == ["bone"] and data["histology"] == "unknown"


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)])
def test_a_terminated_interview_is_saved(tmp_path, signum):
    start = tmp_path / "s.yaml"
    start.write_text(yaml.safe_dump({"id": "jl-term", "sex": "female", "age": 58}))
    saved = tmp_path / "kept.yaml"
    process = subprocess.Popen(
        [*CLI, "ask", str(start), "--jsonl", "--save", str(saved)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    seen = 0
    for line in process.stdout:
        if json.loads(line)["event"] == "question":
            seen += 1
            if seen == 2:
                break
            process.stdin.write("peritoneum\n")
            process.stdin.flush()
    time.sleep(0.2)
    os.kill(process.pid, signum)
    rest = process.stdout.read()
    process.wait(timeout=30)
    assert process.returncode == 128 + signum
    assert '"interrupted"' in rest
    assert yaml.safe_load(saved.read_text())["sites"] == ["peritoneum"]
