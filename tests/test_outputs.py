"""The output contract: one shape per output, typed values, and a schema every output meets."""

import csv
import functools
import json
import subprocess
import sys

import jsonschema
import pytest
from click.testing import CliRunner

from cup_triage.cli import cli
from cup_triage.io.schema import KINDS, json_schema, schema_text

from .conftest import CASES, ROOT

TWO_CASES = """\
- {id: w1, sex: female, age: 52, sites: [axillary_nodes], histology: adenocarcinoma,
   markers: {er: positive, gata3: positive}, confirmed_primary: breast}
- {id: m1, sex: male, age: 70, sites: [bone], labs: {psa: 250}}
"""


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


@functools.cache
def _validator(kind):
    # One validator a kind: jsonschema.validate checks the schema itself again on every call
    # (test_the_schema_command_prints_the_shipped_schema checks it once a kind).
    return jsonschema.Draft202012Validator(json_schema(kind))


def valid(kind, document):
    _validator(kind).validate(document)
    return document


@pytest.fixture
def two_cases(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text(TWO_CASES)
    return path


def test_rank_json_has_one_shape_for_one_case_and_for_many(two_cases):
    one = valid("assessment", json.loads(run("rank", CASES / "example.yaml", "--json").output))
    many = valid("assessment", json.loads(run("rank", two_cases, "--format", "json").output))
    assert type(one) is type(many) is dict and set(one) == set(many)
    assert [len(one["assessments"]), len(many["assessments"])] == [1, 2]
    assert one["software_version"] and one["schema_version"] and one["knowledge_base"]["hash"]


def test_every_assessment_names_the_cup_as_icd10_c80_and_the_histology_as_icd_o3(two_cases):
    document = json.loads(run("rank", two_cases, "--json").output)
    woman, man = document["assessments"]
    assert woman["condition"]["code"] == man["condition"]["code"] == "C80"
    assert woman["histology"]["icd_o3_morphology"] == "8140/3"
    assert man["histology"] is None


def test_score_rows_are_typed_and_error_rows_have_the_same_keys(tmp_path, two_cases):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {id: b1, markers: {ck7: maybe}}\n")
    out = tmp_path / "rows.jsonl"
    result = run("score", two_cases, bad, "-o", out)
    assert result.exit_code == 1
    rows = [valid("row", json.loads(line)) for line in out.read_text().splitlines()]
    ok, scored, error = rows
    assert set(ok) == set(error) and error["status"] == "error" and "markers.ck7" in error["error"]
    assert ok["confirmed_rank"] == 1 and scored["confirmed_rank"] is None
    assert isinstance(ok["top1_icd_o3"], list) and isinstance(ok["top1_probability"], float)
    assert isinstance(ok["subsets"], list) and ok["error"] is None
    assert "" not in [value for row in rows for value in row.values()]


def test_score_writes_json_jsonl_or_csv_by_the_suffix(tmp_path, two_cases):
    for suffix in ("json", "jsonl", "csv"):
        assert run("score", two_cases, "-o", tmp_path / f"out.{suffix}").exit_code == 0
    document = valid("batch", json.loads((tmp_path / "out.json").read_text()))
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert document["rows"] == lines
    table = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert table[0]["top1_icd_o3"] == "|".join(lines[0]["top1_icd_o3"])
    assert table[1]["confirmed_rank"] == ""


def test_a_dash_reads_standard_input_and_writes_standard_output(two_cases):
    ranked = run("rank", "-", "--json", input=two_cases.read_text())
    assert ranked.exit_code == 0, ranked.output
    assert [a["assessment"]["case_id"] for a in json.loads(ranked.output)["assessments"]] == [
        "w1",
        "m1",
    ]
    scored = run("score", "-", "-o", "-", input=two_cases.read_text())
    assert scored.exit_code == 0, scored.output
    rows = [json.loads(line) for line in scored.stdout.splitlines() if line.startswith("{")]
    assert [valid("row", row)["case_id"] for row in rows] == ["w1", "m1"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_schema_command_prints_the_shipped_schema(kind):
    result = run("schema", kind)
    assert result.exit_code == 0
    assert result.output == schema_text(kind)
    shipped = ROOT / "docs" / "schema" / f"{kind}.schema.json"
    assert shipped.read_text() == result.output, f"regenerate {shipped}: cup-triage schema {kind}"
    jsonschema.Draft202012Validator.check_schema(json.loads(result.output))


def test_every_bundled_case_file_meets_the_case_schema():
    import yaml

    for path in sorted((CASES / "examples").glob("*.yaml"))[:20]:
        data = yaml.safe_load(path.read_text())
        for case in data if isinstance(data, list) else [data]:
            valid("case", case)


def test_importing_the_package_changes_nothing_outside_it_and_assess_takes_a_dict():
    script = (
        "import collections, logging\n"
        "import cup_triage\n"
        "assert not hasattr(collections, 'Mapping')\n"
        "a = cup_triage.assess({'id': 'c1', 'sex': 'male', 'sites': ['bone'],"
        " 'labs': {'psa': 250}})\n"
        "assert a.candidates[0].primary == 'prostate', a.candidates[0]\n"
        "assert not hasattr(collections, 'Mapping'), 'collections patched after assess'\n"
        "assert not logging.getLogger().handlers\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_the_result_event_of_ask_jsonl_is_the_document_rank_json_prints(tmp_path):
    start = tmp_path / "start.yaml"
    start.write_text((CASES / "example.yaml").read_text())
    result = run("ask", start, "--jsonl", input="quit\n")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    [final] = [e for e in events if e["event"] == "result"]
    document = valid("assessment", final["document"])
    ranked = json.loads(run("rank", start, "--json").output)
    assert document == ranked
