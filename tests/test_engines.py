"""The evaluator fires exactly what the engine (experta, the engine of record) fires.

Same rules, same order, as often; and so the same batch rows, byte for byte. Checked on every
bundled case file and on generated cases.
"""

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from cup_triage.cli import cli
from cup_triage.io.load import iter_cases
from cup_triage.io.render import score_row, to_json
from cup_triage.reasoning.case import parse_case
from cup_triage.reasoning.triage import EVALUATOR, Triage

from .conftest import CASES, sampled_by_default
from .strategies import VOCABULARY, case_data, examples

CASE_FILES = sorted(
    p for p in CASES.rglob("*") if p.suffix in {".yaml", ".yml", ".json", ".csv"} and p.is_file()
)


# Every bundled file through both engines takes CI's time; the default run takes every tenth.
@pytest.mark.parametrize(
    "path", sampled_by_default(CASE_FILES, 10, ids=lambda p: str(p.relative_to(CASES)))
)
def test_every_bundled_case_fires_the_same_rules_in_the_same_order(triage, path):
    loaded = [item for item in iter_cases([path], VOCABULARY) if item.error is None]
    if not loaded:
        pytest.skip("no case of this file loads (the case-file tests report why)")
    for item in loaded:
        findings = item.case.findings(VOCABULARY)
        assert triage.evaluator.fire(findings) == triage.engine.run(findings), item.case.id


def test_a_lab_answer_and_a_value_bound_on_one_finding_fire_alike(tmp_path):
    """`is: elevated` and `below: N` on the same lab: experta needs both as patterns."""
    import shutil

    from cup_triage.io.load import bundled_rules_dir, load_knowledge_base

    rules = shutil.copytree(bundled_rules_dir(), tmp_path / "rules")
    with (rules / "serum_markers.yaml").open("a") as extra:
        extra.write(
            """
  - id: test.cea.raised_below_20
    kind: serum_marker
    when:
      - {finding: labs.cea, is: elevated}
      - {finding: labs.cea, below: 20}
    lr: {colorectal: 1.1}
    rationale: A test rule on one lab with an answer and a bound, never shipped.
    source: none (a test fixture)
"""
        )
    kb_triage = Triage(load_knowledge_base(rules))
    for value, fires in (("12 ng/mL", True), ("40 ng/mL", False), ("elevated", False)):
        data = {"id": "t", "sites": ["liver"], "labs": {"cea": value}}
        findings = parse_case(data, kb_triage.kb.vocabulary).findings(kb_triage.kb.vocabulary)
        fired = kb_triage.engine.run(findings)
        assert fired == kb_triage.evaluator.fire(findings), value
        assert ("test.cea.raised_below_20" in fired) is fires, value


def _fire_the_same(triage, data):
    findings = parse_case(data, VOCABULARY).findings(VOCABULARY)
    assert triage.evaluator.fire(findings) == triage.engine.run(findings)


@settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_data())
def test_generated_cases_fire_the_same_rules_in_the_same_order(triage, data):
    _fire_the_same(triage, data)


@settings(max_examples=examples(10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_data())
def test_generated_cases_fire_the_same_on_a_network_of_the_rules_that_could_fire(triage, data):
    from cup_triage.reasoning.engine import Engine

    findings = parse_case(data, VOCABULARY).findings(VOCABULARY)
    small = Engine(triage.kb, triage.evaluator.could_fire(findings))
    assert small.run(findings) == triage.engine.run(findings)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_data())
def test_many_more_generated_cases_fire_the_same_rules_in_the_same_order(triage, data):
    _fire_the_same(triage, data)


def _score(tmp_path, engine, *paths):
    output = tmp_path / f"{engine}.jsonl"
    result = CliRunner().invoke(
        cli, ["score", *map(str, paths), "-o", str(output), "--jobs", "1", "--engine", engine]
    )
    assert result.exit_code in (0, 1), result.output
    return output.read_bytes()


@pytest.mark.slow
def test_score_writes_the_same_bytes_with_either_engine_for_every_bundled_case(tmp_path):
    rows = _score(tmp_path, "evaluator", CASES)
    assert rows.count(b'"status":"ok"') >= 100
    assert rows == _score(tmp_path, "experta", CASES)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_data())
def test_generated_cases_give_the_same_row_with_either_engine(kb, triage, data):
    case = parse_case(data, VOCABULARY)
    by_evaluator = score_row(_evaluator_triage(kb).rank(case), 3)
    by_experta = score_row(triage.rank(case), 3)
    assert to_json(by_evaluator) == to_json(by_experta)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_data())
def test_a_batch_row_says_what_the_full_assessment_says(kb, data):
    case = parse_case(data, VOCABULARY)
    triage = _evaluator_triage(kb)
    ranked, assessment = triage.rank(case), triage.assess(case, suggest=False)
    assert [(c.primary, c.probability, c.icd_o3, c.oncotree) for c in ranked.candidates] == [
        (c.primary, c.probability, c.icd_o3, c.oncotree) for c in assessment.candidates
    ]
    assert ranked.other_primary_probability == assessment.other_primary.probability
    assert ranked.subsets == tuple(s.id for s in assessment.subsets)
    assert ranked.red_flags == tuple(r.id for r in assessment.red_flags)
    assert (ranked.case_id, ranked.knowledge_base, ranked.confirmed_primary) == (
        assessment.case_id,
        assessment.knowledge_base,
        assessment.confirmed_primary,
    )


_TRIAGES = {}


def _evaluator_triage(kb):
    if kb not in _TRIAGES:
        _TRIAGES[kb] = Triage(kb, fired_by=EVALUATOR)
    return _TRIAGES[kb]


def test_a_network_of_the_rules_that_could_fire_fires_what_the_whole_network_fires(triage):
    # `rank` of a case builds only the rules whose finding conditions hold for it.
    from cup_triage.reasoning.engine import Engine

    cases = [
        item.case
        for folder in ("examples", "validation", "holdout")
        for item in iter_cases([CASES / folder], VOCABULARY)
        if item.error is None
    ]
    for case in cases[::25]:  # a sample across the sets; generated cases below
        findings = case.findings(VOCABULARY)
        small = Engine(triage.kb, triage.evaluator.could_fire(findings))
        assert small.run(findings) == triage.engine.run(findings), case.id
