import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from cup_triage.io.load import bundled_knowledge_base, bundled_rules_dir
from cup_triage.reasoning.case import parse_case
from cup_triage.reasoning.triage import Triage

IN_CI = os.environ.get("CI", "").lower() == "true"

# Generated cases are the same on every run and machine: a property test that fails, fails
# every time (CI and a developer see the same example), and none passes by luck. "ci" draws
# every example a test asks for (hypothesis's 100 where it names no count); "dev", the default
# run a developer repeats, a tenth of them (strategies.examples scales the counts tests name).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", settings.get_profile("ci"), max_examples=10)
settings.load_profile("ci" if IN_CI else "dev")

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"


@pytest.fixture(scope="session")
def kb():
    return bundled_knowledge_base()


@pytest.fixture(scope="session")
def triage(kb):
    return Triage(kb)


@pytest.fixture(scope="session")
def assess(kb, triage):
    """Assess a case given as a plain mapping, as a case file would hold it."""

    def run(data, **kwargs):
        return triage.assess(parse_case({"id": "t", **data}, kb.vocabulary), **kwargs)

    return run


@pytest.fixture
def rules(tmp_path, monkeypatch):
    """A private copy of the bundled rules/ and an empty knowledge-base cache folder that
    this test's loads use: (rules folder, cache folder)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CUP_TRIAGE_CACHE", str(cache))
    folder = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), folder)
    return folder, cache


def pytest_collection_modifyitems(config, items):
    """Skip tests marked slow unless CI=true or `-m` names a marker selection explicitly."""
    if IN_CI or config.getoption("-m"):
        return
    skip = pytest.mark.skip(reason="slow: runs in CI (CI=true) or with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def sampled_by_default(values, every, ids=str):
    """Parameters for `values`, all of them marked slow but every `every`-th: the default run
    checks a sample spread across them, CI (CI=true) every one. For tests that put each
    bundled case through the same check, where a sample shows a break and CI the exceptions."""
    slow = pytest.mark.slow
    return [
        pytest.param(value, id=ids(value), marks=() if n % every == 0 else slow)
        for n, value in enumerate(values)
    ]
