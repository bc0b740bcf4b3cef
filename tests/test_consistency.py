"""Contradictory answers are refused, never silently used; implied answers are not asked again."""

import random

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cup_triage.cli import cli
from cup_triage.reasoning.case import parse_case
from cup_triage.reasoning.consistency import ImplicationsFile, conflicts, implied_answers
from cup_triage.reasoning.errors import KnowledgeError
from cup_triage.reasoning.knowledge import KnowledgeBase

from .strategies import VOCABULARY, case_data, examples

SETTINGS = settings(
    max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

FLAGGED = [
    # Issue 16: blastic bone lesions accepted with sites.bone: no.
    (
        {"id": "blastic", "sites": {"bone": "no"}, "imaging": {"blastic_bone_lesions": "yes"}},
        "imaging.blastic_bone_lesions: blastic (sclerotic) bone lesions (yes) contradicts "
        "sites.bone = no: blastic bone lesions are bone metastases; "
        "imaging.blastic_bone_lesions is set aside",
    ),
    # A list of sites without bone says bone metastases were not found.
    (
        {"id": "lytic", "sites": ["liver"], "imaging": {"lytic_bone_lesions": "yes"}},
        "imaging.lytic_bone_lesions: lytic bone lesions (yes) contradicts sites.bone = no: "
        "lytic bone lesions are bone metastases; imaging.lytic_bone_lesions is set aside",
    ),
    # Issue 16: a solitary lesion with four organ sites raised the single-deposit subset.
    (
        {
            "id": "solitary",
            "sites": ["liver", "lung", "bone", "brain"],
            "imaging": {"solitary_lesion": "yes"},
        },
        "imaging.solitary_lesion: a single metastatic deposit (yes) contradicts sites_found = 4: "
        "a single metastatic deposit is at one site; imaging.solitary_lesion is set aside",
    ),
    (
        {"id": "kras", "molecular": {"kras_g12c": "detected", "kras": "not_detected"}},
        "molecular.kras_g12c: KRAS G12C (detected) contradicts molecular.kras = not_detected: "
        "KRAS G12C is a KRAS mutation; molecular.kras_g12c is set aside",
    ),
]


@pytest.mark.parametrize(("data", "expected"), FLAGGED, ids=lambda x: getattr(x, "get", str)("id"))
def test_contradictory_answers_are_flagged_naming_both_fields_and_set_aside(
    kb, triage, data, expected
):
    case = parse_case(data, VOCABULARY)
    assessment = triage.assess(case, suggest=False)
    assert [c.message for c in assessment.data_conflicts] == [expected]
    (conflict,) = assessment.data_conflicts
    premise, consequence = conflict.fields
    assert premise not in case.findings(VOCABULARY)
    assert consequence in case.findings(VOCABULARY)
    reads = {c.finding for f in assessment.fired for c in kb.rules_by_id[f.rule_id].when}
    assert premise not in reads


def test_the_conflict_is_shown_in_the_report(tmp_path):
    path = tmp_path / "case.yaml"
    path.write_text("id: c1\nsites: [liver]\nimaging: {blastic_bone_lesions: yes}\n")
    result = CliRunner().invoke(cli, ["rank", str(path)])
    assert result.exit_code == 0
    assert "DATA CONFLICT" in result.output and "sites.bone" in result.output


ACCEPTED = [
    # Mixed lytic and blastic lesions are one patient's bone metastases (breast, for one).
    {
        "id": "mixed",
        "sites": ["bone"],
        "imaging": {"blastic_bone_lesions": "yes", "lytic_bone_lesions": "yes"},
    },
    # The bone lesions may be described before the list of sites is complete.
    {"id": "partial", "sites": {"liver": "yes"}, "imaging": {"blastic_bone_lesions": "yes"}},
    {"id": "single", "sites": ["liver"], "imaging": {"solitary_lesion": "yes"}},
    {"id": "no-bone", "sites": ["liver", "lung"], "imaging": {"solitary_lesion": "no"}},
    {"id": "kras", "molecular": {"kras_g12c": "not_detected", "kras": "detected"}},
]


@pytest.mark.parametrize("data", ACCEPTED, ids=lambda d: d["id"])
def test_consistent_cases_are_accepted(data):
    case = parse_case(data, VOCABULARY)
    assert conflicts(case.findings(VOCABULARY), VOCABULARY) == []


IMPLIED = [
    # No bone metastases: there is no bone-lesion character to ask about.
    (
        {"sites": {"bone": "no"}},
        {
            "imaging.blastic_bone_lesions": "no",
            "imaging.lytic_bone_lesions": "no",
            "imaging.acrometastasis": "no",
            "imaging.jaw_metastasis": "no",
        },
    ),
    # Two sites, no nodes: not a single deposit, not midline, not generalised nodes.
    (
        {"sites": ["liver", "lung"]},
        {
            "imaging.blastic_bone_lesions": "no",
            "imaging.generalised_lymphadenopathy": "no",
            "imaging.lytic_bone_lesions": "no",
            "imaging.acrometastasis": "no",
            "imaging.jaw_metastasis": "no",
            "imaging.left_supraclavicular_node": "no",
            "imaging.right_supraclavicular_node": "no",
            "imaging.midline_distribution": "no",
            "imaging.solitary_lesion": "no",
        },
    ),
    ({"imaging": {"lytic_bone_lesions": "yes"}}, {"sites.bone": "yes"}),
    ({"molecular": {"kras": "not_detected"}}, {"molecular.kras_g12c": "not_detected"}),
    ({"molecular": {"kras_g12c": "detected"}}, {"molecular.kras": "detected"}),
    ({"history": {"smoking": "yes"}}, {}),
]


@pytest.mark.parametrize(("data", "implied"), IMPLIED)
def test_answers_imply_the_answers_the_interview_need_not_ask(data, implied):
    case = parse_case({"id": "i", **data}, VOCABULARY)
    assert implied_answers(case.findings(VOCABULARY), VOCABULARY) == implied


@SETTINGS
@given(case_data())
def test_implied_answers_never_contradict_the_case(data):
    findings = parse_case(data, VOCABULARY).findings(VOCABULARY)
    implied = implied_answers(findings, VOCABULARY)
    assert not set(implied) & set(findings)
    assert conflicts({**findings, **implied}, VOCABULARY) == []


@SETTINGS
@given(case_data(), st.integers(0, 10_000))
def test_order_of_findings_never_changes_what_is_implied_or_refused(data, seed):
    findings = parse_case(data, VOCABULARY).findings(VOCABULARY)
    items = list(findings.items())
    random.Random(seed).shuffle(items)
    shuffled = dict(items)
    assert implied_answers(shuffled, VOCABULARY) == implied_answers(findings, VOCABULARY)


def test_a_single_deposit_subset_is_raised_only_where_the_case_can_have_one(triage):
    one = {"id": "one", "sites": ["liver"], "imaging": {"solitary_lesion": "yes"}}
    assessment = triage.assess(parse_case(one, VOCABULARY), suggest=False)
    assert "single_metastasis" in {s.id for s in assessment.subsets}
    two = parse_case({**one, "sites": ["liver", "adrenal"]}, VOCABULARY)
    assessment = triage.assess(two, suggest=False)
    assert "single_metastasis" not in {s.id for s in assessment.subsets}
    assert [c.implication for c in assessment.data_conflicts] == ["solitary.one_site"]


def _with_implications(kb, implications):
    data = ImplicationsFile.model_validate({"description": "test", "implications": implications})
    vocabulary = type(kb.vocabulary).__new__(type(kb.vocabulary))
    vocabulary.__dict__.update(kb.vocabulary.__dict__)
    vocabulary.implications_file, vocabulary.implications = data, data.implications
    return KnowledgeBase(vocabulary, kb.files)


BAD_IMPLICATIONS = [
    (
        {"if": [{"finding": "imaging.blastic_lesions", "is": "yes"}]},
        "implications.yaml › implication t › if[0]: unknown finding 'imaging.blastic_lesions' "
        "(did you mean 'imaging.blastic_bone_lesions'?)",
    ),
    (
        {"then": [{"finding": "sites.bone", "is": "present"}]},
        "implications.yaml › implication t › then[0]: 'present' is not an answer of sites.bone",
    ),
    (
        {"then": [{"finding": "sites.bone", "at_least": 1}]},
        "implications.yaml › implication t › then[0]: sites.bone has no number to bound",
    ),
]


@pytest.mark.parametrize(("change", "expected"), BAD_IMPLICATIONS)
def test_an_implication_naming_an_unknown_finding_or_answer_is_a_knowledge_error(
    kb, change, expected
):
    implication = {
        "id": "t",
        "if": [{"finding": "imaging.blastic_bone_lesions", "is": "yes"}],
        "then": [{"finding": "sites.bone", "is": "yes"}],
        "says": "a test implication",
        "rationale": "A test implication of the schema, nothing clinical.",
        "source": "tests/test_consistency.py",
        **change,
    }
    with pytest.raises(KnowledgeError) as raised:
        _with_implications(kb, [implication])
    assert str(raised.value).startswith(expected)


def test_every_implication_has_a_rationale_and_a_source(kb):
    assert kb.vocabulary.implications
    for implication in kb.vocabulary.implications:
        assert len(implication.rationale.split()) >= 10, implication.id
        assert implication.source.strip(), implication.id
