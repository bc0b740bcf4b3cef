"""Attacks of the session-5 red team on outputs, calibration what-ifs, batches and reports:
each test is one attack, and passes when the attack fails."""

import re

import pytest
from click.testing import CliRunner

from cup_triage.cli import cli

from .conftest import CASES


def _run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def _replace(path, old, new, count=1):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


# ------------------------------------------------------------ NaN and infinity never printed
@pytest.mark.parametrize(
    ("file", "old", "new", "field"),
    [
        (
            "vocabulary.yaml",
            "burden: 1,",
            "burden: .inf,",
            "steps.history.burden: Input should be a finite number",
        ),
        (
            "calibration.yaml",
            "never_found_and_not_assignable: 0.02",
            "never_found_and_not_assignable: .nan",
            "calibration.other_primary.components.never_found_and_not_assignable: Input should "
            "be a finite number",
        ),
    ],
)
def test_a_knowledge_base_number_that_is_nan_or_infinite_is_refused_at_load(
    rules, file, old, new, field
):
    folder, _ = rules
    _replace(folder / file, old, new)
    result = _run("--rules-dir", folder, "rank", "--json", CASES / "example.yaml")
    assert result.exit_code == 3
    assert field in result.output
    assert "NaN" not in result.output and "Infinity" not in result.output


def test_json_output_refuses_nan_rather_than_printing_invalid_json():
    from cup_triage.io.render import to_json

    assert to_json({"p": 0.5}) == '{"p":0.5}'
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            to_json({"p": bad})


def test_an_assessment_cannot_carry_a_probability_that_is_not_a_number(assess):
    from pydantic import ValidationError

    candidate = assess({"sex": "male", "sites": ["bone"]}).candidates[0]
    with pytest.raises(ValidationError):
        type(candidate).model_validate({**candidate.model_dump(), "probability": float("nan")})


# ------------------------------------------------------------------ calibration what-ifs
@pytest.mark.parametrize(
    ("temperature", "weight", "field"),
    [
        (0.0, None, "what-if temperature"),
        (float("nan"), None, "what-if temperature"),
        (1.5, None, "what-if temperature"),
        (None, 2.0, "what-if prior_weighting.weight"),
        (None, float("inf"), "what-if prior_weighting.weight"),
        (None, 0.0, "what-if prior_weighting.weight"),
    ],
)
def test_a_what_if_calibration_is_checked_like_the_calibration_file(
    triage, temperature, weight, field
):
    from cup_triage.io.evaluation_report import with_calibration
    from cup_triage.reasoning.errors import InputError

    with pytest.raises(InputError) as raised:
        with_calibration(triage, temperature, weight)
    assert str(raised.value).startswith(field + ":")


def test_a_valid_what_if_changes_only_the_copy(triage):
    from cup_triage.io.evaluation_report import with_calibration

    before = triage.kb.calibration
    changed = with_calibration(triage, 0.7, 0.3).kb.calibration
    assert (changed.temperature, changed.prior_weight) == (0.7, 0.3)
    assert changed.rationale == before.rationale
    assert triage.kb.calibration is before


def test_an_empty_prior_weighting_is_refused_not_read_as_weight_one(rules):
    folder, _ = rules
    path = folder / "calibration.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"  prior_weighting:\n(    .*\n|      .*\n)+", "  prior_weighting: ~\n", text)
    path.write_text(text, encoding="utf-8")
    result = _run("--rules-dir", folder, "rules", "check")
    assert result.exit_code == 3
    (line,) = result.output.strip().splitlines()
    assert "calibration.yaml › calibration.prior_weighting: empty (~)" in line
    assert "leave the key out for a prior weight of 1" in line


# ------------------------------------------------------------- evaluate: unreadable cases
@pytest.mark.parametrize("grid", [(), ("--temperature", "0.7", "--temperature", "0.9")])
def test_evaluate_names_every_unreadable_case_once_in_every_mode(tmp_path, grid):
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("breast.yaml", "prostate.yaml"):
        (folder / name).write_bytes((CASES / "examples" / name).read_bytes())
    (folder / "zz-bad.yaml").write_text("id: bad1\nsex: sometimes\nconfirmed_primary: lung\n")
    result = CliRunner().invoke(cli, ["evaluate", str(folder), *grid], catch_exceptions=False)
    assert result.exit_code == 0
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped:")]
    assert skipped == [
        f"skipped: {folder / 'zz-bad.yaml'} › case bad1 › sex: expected female | male, "
        "got 'sometimes'"
    ]
    if grid:
        rows = [line.split() for line in result.stdout.splitlines()[1:]]
        assert len(rows) == 2 and all(row[-1] == "1" for row in rows)  # unreadable column
    else:
        assert "1 unreadable" in result.stdout


# ------------------------------------------------------ --resume after another run's setup
def _interrupted(tmp_path):
    """An interrupted run's OUT.partial: a whole run's rows, as a run killed after its last
    row would leave them."""
    output = tmp_path / "rows.jsonl"
    assert _run("score", CASES / "examples", "-o", output, "--jobs", "1").exit_code == 0
    output.rename(tmp_path / "rows.jsonl.partial")
    return output


@pytest.mark.parametrize("change", ["rules", "top-k"])
def test_resume_after_another_knowledge_base_or_top_k_says_so_and_keeps_no_stale_row(
    tmp_path, rules, change
):
    folder, _ = rules
    output = _interrupted(tmp_path)
    if change == "rules":
        _replace(folder / "calibration.yaml", "  temperature: 0.8\n", "  temperature: 0.7\n")
        options, clean_options = ["--rules-dir", folder], ["--rules-dir", folder]
        said = "resume: the knowledge base is not the interrupted run's (hash "
    else:
        options, clean_options = [], []
        said = "resume: --top-k is not the interrupted run's (3 → 4); scored again from there"
    top_k = ["--top-k", "4"] if change == "top-k" else []
    result = _run(*options, "score", CASES / "examples", "-o", output, "--resume", *top_k)
    assert result.exit_code == 0
    assert said in result.stderr
    assert "read back from the interrupted run" not in result.stderr
    clean = tmp_path / "clean.jsonl"
    _run(*clean_options, "score", CASES / "examples", "-o", clean, *top_k)
    assert output.read_bytes() == clean.read_bytes()
