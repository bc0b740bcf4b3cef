from pathlib import Path

import pytest

from cup_triage.reasoning.case import parse_case
from cup_triage.io.load import bundled_knowledge_base
from cup_triage.reasoning.triage import Triage

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
