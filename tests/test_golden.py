"""The `rank` text report, byte for byte, for a few cases (golden files in tests/golden/).

A change that alters what a clinician reads shows up here as a diff to review. After a
deliberate change (a rule, a wording), regenerate with `CUP_TRIAGE_UPDATE_GOLDEN=1 pytest
tests/test_golden.py` and read the diff before committing it.
"""

import os

import pytest
from click.testing import CliRunner

from cup_triage.cli import cli

from .conftest import CASES, ROOT

GOLDEN = ROOT / "tests" / "golden"
REPORTS = {
    "example-hemoptysis": CASES / "example.yaml",
    "axillary-node-woman": GOLDEN / "axillary-node-woman.yaml",
    "squamous-neck-node": GOLDEN / "squamous-neck-node.yaml",
}


def _report(path):
    # A fixed width, so the table wraps the same on every terminal and in CI.
    result = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1"}).invoke(
        cli, ["rank", str(path), "--top", "5"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_the_rank_report_reads_as_reviewed(name):
    report = _report(REPORTS[name])
    golden = GOLDEN / f"rank-{name}.txt"
    if os.environ.get("CUP_TRIAGE_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(report, encoding="utf-8")
    assert report == golden.read_text(encoding="utf-8"), (
        f"{golden.name} differs: read the diff, then regenerate with CUP_TRIAGE_UPDATE_GOLDEN=1"
    )
