"""Invariants that hold for every valid case, checked on generated cases."""

import math
import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cup_triage.io.render import assessment_dict, to_json
from cup_triage.reasoning.case import parse_case, with_answer, with_derived_findings
from cup_triage.reasoning.errors import CaseError

from .strategies import VOCABULARY, case_data, examples

SETTINGS = settings(
    max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _reordered(data, seed):
    rng = random.Random(seed)
    shuffled = {}
    for key in rng.sample(list(data), len(data)):
        value = data[key]
        if isinstance(value, dict):
            value = dict(rng.sample(list(value.items()), len(value)))
        elif isinstance(value, list):
            value = rng.sample(value, len(value))
        shuffled[key] = value
    return shuffled


@SETTINGS
@given(case_data())
def test_probabilities_are_a_distribution(triage, data):
    assessment = triage.assess(parse_case(data, VOCABULARY), suggest=False)
    probabilities = [c.probability for c in assessment.candidates]
    # The listed primaries share what "a primary not on the list" leaves.
    other = assessment.other_primary.probability
    assert math.isclose(sum(probabilities) + other, 1.0, abs_tol=1e-4)
    assert all(0.0 <= p <= 1.0 for p in [*probabilities, other])
    assert probabilities == sorted(probabilities, reverse=True)


@SETTINGS
@given(case_data(), st.integers(0, 10_000))
def test_order_of_findings_never_changes_the_result(triage, data, seed):
    first = triage.assess(parse_case(data, VOCABULARY))
    second = triage.assess(parse_case(_reordered(data, seed), VOCABULARY))
    assert to_json(assessment_dict(first)) == to_json(assessment_dict(second))


@SETTINGS
@given(case_data(), st.sampled_from(["markers", "labs", "imaging", "history"]), st.data())
def test_an_unknown_answer_changes_nothing(triage, data, section, draw):
    finding = draw.draw(st.sampled_from(VOCABULARY.ids_in(section)))
    assume(finding not in data.get(section, {}))
    with_unknown = {**data, section: {**data.get(section, {}), finding: "unknown"}}
    first = triage.assess(parse_case(data, VOCABULARY), suggest=False)
    second = triage.assess(parse_case(with_unknown, VOCABULARY), suggest=False)
    assert to_json(assessment_dict(first)) == to_json(assessment_dict(second))


@SETTINGS
@given(case_data(), st.data())
def test_predicted_effect_of_an_answer_matches_running_the_engine(triage, data, draw):
    """Question selection predicts an answer's effect with the evaluator; the engine agrees."""
    case = parse_case(data, VOCABULARY)
    evaluation = triage.evaluate(case)
    open_findings = [
        f for f in VOCABULARY.findings.values() if f.prevalence and f.key not in evaluation.findings
    ]
    assume(open_findings)
    finding = draw.draw(st.sampled_from(open_findings))
    answer = draw.draw(st.sampled_from(list(finding.answers)))
    try:
        answered = case.with_findings(VOCABULARY, {finding.key: answer})
    except CaseError:
        assume(False)  # an answer only the other sex can give: a contradiction, not a case
    actual = triage.evaluate(answered)
    # An answer can also take findings away: one that contradicts a premise sets it aside
    # (bone = no sets aside "blastic bone lesions"), so compare both sets of keys.
    keys = sorted(set(actual.findings) | set(evaluation.findings))
    changed = [k for k in keys if actual.findings.get(k) != evaluation.findings.get(k)]
    predicted = triage.evaluator.refire(actual.findings, evaluation.fired, changed)
    assert predicted == frozenset(actual.fired)


@SETTINGS
@given(case_data(), st.data())
def test_question_selection_shortcuts_give_what_the_full_computation_gives(triage, data, draw):
    """Trying an answer updates the derived counts and the log scores incrementally; both
    equal what recomputing them from scratch gives, bit for bit."""
    evaluation = triage.evaluate(parse_case(data, VOCABULARY))
    findings = evaluation.findings
    open_findings = [f for f in VOCABULARY.findings.values() if f.prevalence]
    finding = draw.draw(st.sampled_from(open_findings))
    answer = draw.draw(st.sampled_from(list(finding.answers)))
    hypothetical = with_answer(findings, finding.key, answer, VOCABULARY)
    assert hypothetical == with_derived_findings({**findings, finding.key: answer}, VOCABULARY)
    ranker = triage.ranker
    before = ranker.running_scores(ranker.counted(evaluation.fired)[0], findings)
    assert before.final == ranker.log_scores(ranker.counted(evaluation.fired)[0], findings)
    changed = [finding.key, "history_answered", "markers_answered", "site_count", "sites_found"]
    counted = ranker.counted(triage.evaluator.refire(hypothetical, evaluation.fired, changed))[0]
    after = ranker.log_scores_after(before, counted, hypothetical)
    assert after == ranker.log_scores(counted, hypothetical)


@SETTINGS
@given(case_data())
def test_same_input_gives_byte_identical_output(triage, data):
    case = parse_case(data, VOCABULARY)
    assert to_json(assessment_dict(triage.assess(case))) == to_json(
        assessment_dict(triage.assess(case))
    )
