"""The commands as a user runs them."""

import csv
import json

import click
import pytest
from click.testing import CliRunner

from cup_triage.cli import cli

from .conftest import CASES, ROOT


@pytest.fixture
def run():
    def invoke(*args):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def _commands(group, prefix=()):
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_has_help_text():
    commands = list(_commands(cli))
    assert {"ask", "rank", "rules", "score", "teach"} <= {path[0] for path, _ in commands}
    for path, command in commands:
        assert command.help and command.help.strip(), path


def test_rank_prints_the_ranking_explanation_advice_and_disclaimer(run):
    result = run("rank", CASES / "example.yaml")
    assert result.exit_code == 0, result.output
    assert "Candidate primaries" in result.output
    assert "Why Lung" in result.output
    assert "Not a diagnosis" in result.output
    assert "Knowledge base" in result.output


def test_rank_json_is_complete_and_carries_the_disclaimer(run):
    result = run("rank", CASES / "example.yaml", "--json")
    document = json.loads(result.output)
    assert document["knowledge_base"]["hash"] and document["schema_version"]
    [entry] = document["assessments"]
    payload = entry["assessment"]
    assert payload["candidates"][0]["primary"] == "lung"
    assert payload["disclaimer"].startswith(
        "Decision support for triage and teaching, not a diagnosis."
    )
    assert payload["knowledge_base"]["hash"]
    assert payload["candidates"][0]["evidence_for"]
    assert {c["primary"] for c in payload["candidates"]} >= {"lung", "breast", "lymphoma"}


def test_score_writes_jsonl_with_accuracy_summary(run, tmp_path):
    out = tmp_path / "scores.jsonl"
    result = run("score", CASES / "examples", "-o", out)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) >= 40 and all(r["status"] == "ok" for r in rows)
    assert {"top1", "top1_probability", "top1_icd_o3", "top1_oncotree", "kb_hash"} <= set(rows[0])
    assert "top-1" in result.output and "top-3" in result.output


def test_score_keeps_good_cases_when_one_is_bad(run, tmp_path):
    (tmp_path / "good.yaml").write_text((CASES / "example.yaml").read_text())
    (tmp_path / "bad.yaml").write_text("- {id: b1, markers: {ck7: maybe}}\n- {id: b2, sex: male}\n")
    out = tmp_path / "out.csv"
    result = run("score", tmp_path / "good.yaml", tmp_path / "bad.yaml", "-o", out)
    assert result.exit_code == 1
    rows = list(csv.DictReader(out.open()))
    assert [r["status"] for r in rows] == ["ok", "error", "ok"]
    assert "markers.ck7" in rows[1]["error"] and "bad.yaml" in rows[1]["error"]


def test_score_reads_a_registry_csv(run, tmp_path):
    export = tmp_path / "registry.csv"
    export.write_text(
        "id,sex,age,sites,histology,markers.ck7,markers.ck20,history.hemoptysis,confirmed_primary\n"
        "r1,male,64,liver;mediastinal_nodes,adenocarcinoma,positive,negative,yes,lung\n"
        "r2,female,52,axillary_nodes,adenocarcinoma,,,,breast\n"
    )
    out = tmp_path / "out.jsonl"
    result = run("score", export, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["scored"] == 2 and summary["top1_accuracy"] == 1.0


def test_duplicate_case_ids_in_a_batch_are_reported_with_both_lines(run, tmp_path):
    cases = tmp_path / "a.yaml"
    cases.write_text("- {id: same, sex: male}\n- {id: other}\n- {id: same, sex: female}\n")
    out = tmp_path / "out.jsonl"
    result = run("score", cases, "-o", out)
    assert result.exit_code == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[2]["status"] == "error"
    assert rows[2]["error"] == f"{cases}:3 › case same › id: duplicate case id (first in {cases}:1)"


def test_rules_check_passes_on_the_bundled_knowledge_base(run):
    result = run("rules", "check")
    assert result.exit_code == 0, result.output
    assert " 0 error(s)" in result.output


def test_readme_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = "uv run --extra test pytest"
    assert test_command in readme and test_command in ci
    assert "uv run cup-triage rank cases/example.yaml" in readme


@pytest.mark.slow
def test_the_same_case_gives_the_same_bytes_in_every_process():
    """Firing order (shown by teaching step-through and --json) must not follow string hashing."""
    import os
    import subprocess
    import sys

    outputs = set()
    for seed in ("1", "2", "3"):
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "from cup_triage.cli import main; main()",
                "rank",
                str(CASES / "teaching" / "t10-headache-blood-in-sputum.yaml"),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_a_short_batch_says_it_was_scored_in_one_process_whatever_jobs_asked_for(run, tmp_path):
    out = tmp_path / "out.jsonl"
    result = run("score", CASES / "validation" / "lung.yaml", "-o", out, "--jobs", "2", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["jobs"], summary["workers"]) == (2, 0)
    result = run("score", CASES / "validation" / "lung.yaml", "-o", out, "--jobs", "2")
    assert "1 job(s); 2 asked for, but a batch under 512 cases" in result.output


@pytest.mark.slow
def test_scoring_on_several_cores_gives_the_same_rows_in_the_same_order(run, tmp_path):
    import yaml

    examples = [item for item in yaml.safe_load((CASES / "validation" / "lung.yaml").read_text())]
    cases = [{**examples[n % len(examples)], "id": f"copy-{n}"} for n in range(700)]
    source = tmp_path / "many.yaml"
    source.write_text(yaml.safe_dump(cases))
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}.jsonl"
        result = run("score", source, "-o", out, "--jobs", jobs)
        assert result.exit_code == 0, result.output
        assert f"{jobs} job(s)" in result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\n") == 700
