"""Bad input gets one clear line naming the file, the case and the field."""

import pytest
from click.testing import CliRunner

from cup_triage.cli import cli

BAD_CASES = [
    (
        "id: c1\nmarkers: {ck7: maybe}\n",
        "case c1 › markers.ck7: expected positive | negative, got 'maybe'",
    ),
    (
        "id: c2\nmarkers: {ck8: positive}\n",
        "case c2 › markers.ck8",
    ),
    ("id: c3\nhistolgy: adenocarcinoma\n", "did you mean 'histology'?"),
    ("id: c4\nsites: [livr]\n", "did you mean 'liver'?"),
    ("id: c5\nhistology: adenocarcinom\n", "did you mean 'adenocarcinoma'?"),
    ("id: c6\nsex: femal\n", "sex: expected female | male, got 'femal'"),
    ("sex: male\n", "id: required field is missing"),
    ("id: c8\nlabs: {psa: borderline}\n", "labs.psa: expected elevated | normal"),
    ("id: c9\nprior_cancer: kolon\n", "prior_cancer"),
    (
        "id: c10\nlabs: {psa: 250 mmol/L}\n",
        "case c10 › labs.psa: unit 'mmol/L' is not accepted; expected ng/mL | µg/L",
    ),
    ("id: c11\nlabs: {calcium: -1}\n", "case c11 › labs.calcium: a value cannot be negative"),
    (
        "id: c12\nmolecular: {egfr: equivocal}\n",
        "case c12 › molecular.egfr: expected detected | not_detected, got 'equivocal'",
    ),
    (
        "id: c13\nworkup: {colonoscopy: clear}\n",
        "case c13 › workup.colonoscopy: expected abnormal | negative, got 'clear'",
    ),
    (
        "id: c14\nprior_cancer: [breast, melanom]\n",
        "case c14 › prior_cancer[1]: expected one of the primary ids, got 'melanom' "
        "(did you mean 'melanoma'?)",
    ),
    (
        "id: c15\nsex: male\nprior_cancer: [colorectal, vulva_vagina]\n",
        "case c15 › prior_cancer: Vulva or vagina primary in a male patient",
    ),
    ("id: [unclosed\n", "invalid YAML"),
    ("", "empty file"),
    ("42\n", "expected a case (a mapping) or a list of cases"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CASES)
def test_bad_case_files_give_one_located_line(tmp_path, text, expected):
    path = tmp_path / "case.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["rank", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}")
    assert expected in lines[0]


def test_unknown_is_not_negative(assess):
    unknown = assess({"sex": "male", "sites": ["liver"], "histology": "adenocarcinoma"})
    negative = assess(
        {
            "sex": "male",
            "sites": ["liver"],
            "histology": "adenocarcinoma",
            "history": {"hemoptysis": "no", "rectal_bleeding": "no"},
        }
    )
    assert [c.probability for c in unknown.candidates] != [
        c.probability for c in negative.candidates
    ]
