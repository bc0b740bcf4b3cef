"""The package installs with plain pip into a fresh virtual environment and runs from there.

It needs the package index (pip resolves experta's pins), so it is slow and runs in CI.
"""

import json
import os
import subprocess
import venv

import pytest

from .conftest import CASES, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with cup-triage installed by plain pip; returns its bin folder."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", str(ROOT)],
        check=True,
        cwd=env_dir,
    )
    return bin_dir


def _run(bin_dir, *args):
    # Run outside the checkout, so everything must come from the installed wheel.
    return subprocess.run(
        [str(a) for a in args], check=True, capture_output=True, text=True, cwd=bin_dir.parent
    ).stdout


def test_the_installed_command_ranks_the_bundled_example(installed):
    payload = json.loads(
        _run(installed, installed / "cup-triage", "rank", CASES / "example.yaml", "--json")
    )
    assert payload["assessments"][0]["assessment"]["candidates"][0]["primary"] == "lung"


def test_the_rules_come_from_the_installed_package_not_the_checkout(installed):
    where = _run(
        installed,
        installed / "python",
        "-c",
        "from cup_triage.io.load import bundled_rules_dir; print(bundled_rules_dir())",
    ).strip()
    assert where.startswith(str(installed.parent)), where
    assert not where.startswith(str(ROOT) + os.sep)


def test_pip_resolves_experta_pins_without_an_override(installed):
    shown = _run(installed, installed / "python", "-m", "pip", "show", "frozendict", "schema")
    versions = [line.split()[1] for line in shown.splitlines() if line.startswith("Version:")]
    assert versions == ["1.2", "0.6.7"]


def test_in_a_fresh_venv_importing_leaves_collections_alone_and_assess_takes_a_dict(installed):
    script = (
        "import collections, cup_triage\n"
        "before = hasattr(collections, 'Mapping')\n"
        "a = cup_triage.assess({'id': 'c1', 'sex': 'male', 'sites': ['bone'],"
        " 'labs': {'psa': 250}})\n"
        "print(before, hasattr(collections, 'Mapping'), a.candidates[0].primary)\n"
    )
    assert _run(installed, installed / "python", "-c", script).split() == [
        "False",
        "False",
        "prostate",
    ]


def test_the_installed_package_reads_a_fhir_bundle_and_prints_its_schema(installed):
    ranked = json.loads(
        _run(
            installed, installed / "cup-triage", "rank", CASES / "fhir" / "bone-psa.json", "--json"
        )
    )
    assert ranked["assessments"][0]["assessment"]["candidates"][0]["primary"] == "prostate"
    schema = json.loads(_run(installed, installed / "cup-triage", "schema", "row"))
    assert schema["properties"]["status"]["enum"] == ["ok", "error"]
