"""The evaluator fires exactly what the engine (experta, the engine of record) fires.

Same rules, same order, as often: checked on every bundled case file and on generated cases.
"""

import pytest
from hypothesis import HealthCheck, given, settings

from cup_triage.io.load import iter_cases
from cup_triage.reasoning.case import parse_case

from .conftest import CASES
from .strategies import VOCABULARY, case_data

CASE_FILES = sorted(
    p for p in CASES.rglob("*") if p.suffix in {".yaml", ".yml", ".json", ".csv"} and p.is_file()
)


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: str(p.relative_to(CASES)))
def test_every_bundled_case_fires_the_same_rules_in_the_same_order(triage, path):
    loaded = [item for item in iter_cases([path], VOCABULARY) if item.error is None]
    if not loaded:
        pytest.skip("no case of this file loads (the case-file tests report why)")
    for item in loaded:
        findings = item.case.findings(VOCABULARY)
        assert triage.evaluator.fire(findings) == triage.engine.run(findings), item.case.id


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_data())
def test_generated_cases_fire_the_same_rules_in_the_same_order(triage, data):
    findings = parse_case(data, VOCABULARY).findings(VOCABULARY)
    assert triage.evaluator.fire(findings) == triage.engine.run(findings)
