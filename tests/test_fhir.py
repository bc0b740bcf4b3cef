"""FHIR R4 in and out: a Bundle ranks as its YAML twin; the RiskAssessment is valid FHIR."""

import copy
import json

import pytest
from click.testing import CliRunner
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.riskassessment import RiskAssessment

import cup_triage
from cup_triage.cli import cli

from .conftest import CASES

FHIR = CASES / "fhir"
TWINS = ["example-hemoptysis", "bone-psa"]


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def ranking(assessment):
    return [(c.primary, c.probability) for c in assessment.candidates]


@pytest.mark.parametrize("name", TWINS)
def test_a_bundle_ranks_exactly_as_the_same_case_written_in_yaml(name):
    from_fhir = cup_triage.assess(FHIR / f"{name}.json")
    from_yaml = cup_triage.assess(FHIR / f"{name}.yaml")
    assert ranking(from_fhir) == ranking(from_yaml)
    assert [f.rule_id for f in from_fhir.fired] == [f.rule_id for f in from_yaml.fired]


def test_the_bundle_gives_age_at_the_assessment_date_values_with_units_and_interpretations():
    [case] = cup_triage.load_cases(FHIR / "bone-psa.json")
    assert (case.sex, case.age, case.histology) == ("male", 72, "adenocarcinoma")
    assert case.labs["psa"] == 212 and case.labs["ldh"] == "elevated"
    assert case.labs["calcium"] == pytest.approx(10.1 / 4.008, rel=1e-3)
    assert {s for s, a in case.sites.items() if a == "yes"} == {"bone", "cervical_nodes"}


def test_rank_format_fhir_writes_a_valid_risk_assessment_with_a_prediction_per_primary():
    result = run("rank", FHIR / "bone-psa.json", "--format", "fhir")
    assert result.exit_code == 0, result.output
    resource = json.loads(result.output)
    RiskAssessment.model_validate(resource)
    predictions = resource["prediction"]
    # One per listed primary, and the share for a primary not on the list.
    assert len(predictions) == len(cup_triage.vocabulary().primaries) + 1
    assert predictions[0]["outcome"]["coding"][0]["code"] == "C61"
    assert abs(sum(p["probabilityDecimal"] for p in predictions) - 1) < 1e-3
    assert resource["code"]["coding"][0]["code"] == "C80"
    assert any("Evidence" in note["text"] for note in resource["note"])


def test_several_cases_make_a_bundle_of_risk_assessments(tmp_path):
    both = tmp_path / "both.yaml"
    both.write_text(
        "- {id: w1, sex: female, sites: [axillary_nodes], histology: adenocarcinoma}\n"
        "- {id: m1, sex: male, sites: [bone], labs: {psa: 250}}\n"
    )
    result = run("rank", both, "--format", "fhir")
    bundle = json.loads(result.output)
    Bundle.model_validate(bundle)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["RiskAssessment"] * 2


def _bundle():
    return json.loads((FHIR / "bone-psa.json").read_text())


def test_an_unmapped_code_is_an_error_naming_the_bundle_the_resource_and_the_code(tmp_path):
    bundle = _bundle()
    bundle["entry"][5]["resource"]["code"]["coding"][0]["code"] = "12345-6"
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    result = CliRunner().invoke(cli, ["rank", str(path)])
    assert result.exit_code == 2
    assert "Bundle bone-psa › Observation/cea › code: LOINC 12345-6 is not mapped" in result.output


def test_an_invalid_answer_names_the_resource_it_came_from(tmp_path):
    bundle = _bundle()
    quantity = bundle["entry"][4]["resource"]["valueQuantity"]
    quantity["unit"] = quantity["code"] = "mmol/L"
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    result = CliRunner().invoke(cli, ["rank", str(path)])
    assert result.exit_code == 2
    assert "Observation/psa › labs.psa" in result.output and "mmol/L" in result.output


def test_a_bundle_that_is_not_valid_fhir_is_refused(tmp_path):
    bundle = _bundle()
    bundle["entry"][0]["resource"]["gender"] = 7
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    result = CliRunner().invoke(cli, ["rank", str(path)])
    assert result.exit_code == 2 and "not a valid FHIR R4 Bundle" in result.output


def test_score_reads_a_folder_of_bundles_and_ask_reads_a_bundle(tmp_path):
    folder = tmp_path / "bundles"
    folder.mkdir()
    for name in TWINS:
        (folder / f"{name}.json").write_text((FHIR / f"{name}.json").read_text())
    second = copy.deepcopy(_bundle())
    second["id"] = "bone-psa-2"
    (folder / "again.json").write_text(json.dumps(second))
    out = tmp_path / "rows.jsonl"
    assert run("score", folder, "-o", out).exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["top1"] for r in rows] == ["prostate", "prostate", "lung"]
    asked = run("ask", FHIR / "bone-psa.json", "--save", tmp_path / "s.yaml", input="quit\n")
    assert asked.exit_code == 0, asked.output
    assert "bone-psa" in asked.output


def test_a_total_bilirubin_in_mg_dl_is_read_in_the_reference_unit(tmp_path):
    bundle = _bundle()
    observation = copy.deepcopy(
        next(e for e in bundle["entry"] if e["resource"].get("id") == "psa")
    )
    observation["fullUrl"] = "urn:uuid:bone-psa-bilirubin"
    observation["resource"].update(
        id="bilirubin",
        code={"coding": [{"system": "http://loinc.org", "code": "1975-2"}]},
        valueQuantity={"value": 2.4, "unit": "mg/dL"},
    )
    bundle["entry"].append(observation)
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    [case] = cup_triage.load_cases(path)
    assert case.labs["bilirubin"] == pytest.approx(2.4 * 17.1)
