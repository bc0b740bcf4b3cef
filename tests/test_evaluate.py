"""`cup-triage evaluate`: accuracy and calibration reported as text, JSON and HTML."""

import json

import pytest
import yaml
from click.testing import CliRunner

from cup_triage.cli import cli
from cup_triage.reasoning.evaluation import set_report

from .conftest import CASES


@pytest.fixture
def run():
    def invoke(*args):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


CASE_SET = [
    # decisive: PSA-positive adenocarcinoma in blastic bone
    {
        "id": "e-prostate",
        "sex": "male",
        "age": 72,
        "sites": ["bone"],
        "histology": "adenocarcinoma",
        "markers": {"psa": "positive"},
        "imaging": {"blastic_bone_lesions": "yes"},
        "confirmed_primary": "prostate",
    },
    # a wrong lead on purpose: liver-only adenocarcinoma confirmed in the breast
    {
        "id": "e-breast-as-liver",
        "sex": "female",
        "age": 66,
        "sites": ["liver"],
        "histology": "adenocarcinoma",
        "markers": {"ck7": "negative", "ck20": "positive", "cdx2": "positive"},
        "confirmed_primary": "breast",
    },
    {"id": "e-unconfirmed", "sex": "female", "age": 50, "sites": ["peritoneum"]},
]


@pytest.fixture
def case_file(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(CASE_SET))
    return path


def test_json_report_has_every_measure(run, case_file):
    result = run("evaluate", case_file, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["sets"][0]
    assert report["cases"] == 2 and report["unconfirmed"] == 1
    assert report["top1"] == 0.5
    assert report["top3"] == 0.5
    assert 0 < report["brier"] < 2 and report["log_loss"] > 0
    assert report["calibration_gap"] == pytest.approx(report["mean_top_probability"] - 0.5)
    assert [r["primary"] for r in report["recall"]] == ["breast", "prostate"]
    assert report["confusions"][0]["confirmed"] == "breast"
    assert sum(b["count"] for b in report["reliability_top"]) == 2
    # every candidate of both cases plus the other-primary share of each
    assert sum(b["count"] for b in report["reliability_all"]) > 2 * 20


def test_text_report_names_the_sets_and_the_measures(run, case_file, tmp_path):
    # Two sets of a few cases: the report's layout is tested here, not the library's accuracy.
    second = tmp_path / "teaching"
    second.mkdir()
    for path in sorted((CASES / "teaching").glob("*.yaml"))[:3]:
        (second / path.name).write_bytes(path.read_bytes())
    result = run("evaluate", case_file, second)
    assert result.exit_code == 0, result.output
    for word in ("top-1", "top-3", "Brier", "log loss", "reliability", "all"):
        assert word in result.output


def test_html_report_is_self_contained_with_a_reliability_plot(run, case_file, tmp_path):
    html = tmp_path / "report.html"
    result = run("evaluate", case_file, "--html", html)
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert "<svg" in page and "circle" in page and "stated probability" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_a_wrong_confident_call_is_listed(assess):
    confident = assess(CASE_SET[0], suggest=False, explain=False)
    wrong = confident.model_copy(update={"confirmed_primary": "lung"})
    report = set_report("t", [wrong])
    if wrong.candidates[0].probability >= 0.95:
        assert report.confident_wrong == ("e-prostate",)
    else:
        assert report.confident_calls == 0
    assert report.top1 == 0.0 and report.results[0].rank > 1


def test_proper_scores_reward_the_truth(assess):
    right = assess(CASE_SET[0], suggest=False, explain=False)
    wrong = right.model_copy(update={"confirmed_primary": "lung"})
    good, bad = set_report("good", [right]), set_report("bad", [wrong])
    assert good.brier < bad.brier and good.log_loss < bad.log_loss


@pytest.mark.parametrize("option", ["--temperature", "--prior-weight"])
@pytest.mark.parametrize("value", ["nan", "NaN", "0", "1.5", "-0.5", "inf"])
def test_a_what_if_calibration_number_outside_0_1_is_a_usage_error(run, option, value):
    result = run("evaluate", CASES / "teaching", option, value)
    assert result.exit_code == 2, result.output
