"""Issue 16, consistency, attacked as an outsider would: contradictory findings in every
spelling are refused or flagged (one line naming case and field) and never raise a subset;
the advice never asks for what the case holds, never treats as another primary than a
near-certain leader, and never asks for a stain or serum test that cannot move one.

The clinical tables are cases as a case file holds them; the properties run through the
public API (`cup_triage.assess`) on every bundled case and on generated ones, and through
`cup-triage rank --json`.
"""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

import cup_triage
from cup_triage.cli import cli
from cup_triage.reasoning.consistency import implied_answers
from cup_triage.reasoning.errors import CaseError
from cup_triage.reasoning.lint import name_pattern
from cup_triage.reasoning.triage import TESTS_ON_SAMPLES

from .strategies import case_data, examples

ROOT = Path(__file__).resolve().parent.parent
KB = cup_triage.knowledge_base()
VOCABULARY = KB.vocabulary
NEAR_CERTAIN = VOCABULARY.presentation.near_certain
SETTINGS = settings(
    max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# ------------------------------------------------------------------ refused: an impossible case
REFUSED = [
    # A finding only one sex can have, in every section and field that can carry it.
    ("male-ovary", {"sex": "male", "sites": ["ovary"]}, "sites.ovary", "male patient"),
    ("female-psa-stain", {"sex": "F", "markers": {"psa": "pos"}}, "markers.psa", "female"),
    ("female-psa-value", {"sex": "female", "labs": {"psa": 250}}, "labs.psa", "female"),
    (
        "female-psa-unit",
        {"sex": "female", "labs": {"psa": "12 ng/mL"}},
        "labs.psa",
        "female patient",
    ),
    (
        "male-bleeding",
        {"sex": "male", "history": {"postmenopausal_bleeding": "yes"}},
        "history.postmenopausal_bleeding",
        "male patient",
    ),
    (
        "female-testis-us-negative",
        {"sex": "female", "workup": {"testicular_ultrasound": "negative"}},
        "workup.testicular_ultrasound",
        "a testicular ultrasound (negative) in a female patient",
    ),
    (
        "male-gynae-exam-negative",
        {"sex": "male", "workup": {"gynecological_examination": "negative"}},
        "workup.gynecological_examination",
        "male patient",
    ),
    (
        "female-microcalcification",
        {"sex": "female", "imaging": {"testicular_microcalcification": "yes"}},
        "imaging.testicular_microcalcification",
        "female patient",
    ),
    (
        "female-testicular-atrophy",
        {"sex": "female", "history": {"testicular_atrophy": "yes"}},
        "history.testicular_atrophy",
        "female patient",
    ),
    ("male-prior-ovary", {"sex": "male", "prior_cancer": ["lung", "ovary"]}, "prior_cancer", ""),
    ("female-prior-prostate", {"sex": "female", "prior_cancer": "prostate"}, "prior_cancer", ""),
    (
        "male-tissue-of-origin-endometrium",
        {"sex": "male", "tissue_of_origin": "endometrium"},
        "tissue_of_origin",
        "male patient",
    ),
    ("male-confirmed-cervix", {"sex": "M", "confirmed_primary": "cervix"}, "confirmed_primary", ""),
    # Without a sex, two findings of different sexes contradict each other.
    (
        "no-sex-ovary-and-psa",
        {"sites": ["ovary"], "labs": {"psa": "elevated"}},
        "labs.psa",
        "contradicts sites.ovary",
    ),
    # One finding twice: by case, by punctuation, through a synonym; agreeing or not.
    (
        "ttf1-twice",
        {"markers": {"ttf1": "positive", "TTF1": "negative"}},
        "markers.ttf1",
        "given twice",
    ),
    (
        "ttf1-hyphen",
        {"markers": {"TTF-1": "positive", "ttf1": "negative"}},
        "markers.ttf1",
        "given twice",
    ),
    (
        "ca125-twice-agreeing",
        {"labs": {"ca125": "elevated", "CA 125": 900}},
        "labs.ca125",
        "given twice",
    ),
    (
        "pleura-through-synonym",
        {"sites": {"pleura": "yes", "pleural effusion": "no"}},
        "sites.pleura",
        "given twice",
    ),
    (
        "liver-through-synonym",
        {"sites": {"hepatic": "yes", "liver metastases": "no"}},
        "sites.liver",
        "given twice",
    ),
    ("prior-none-with-cancers", {"prior_cancer": ["none", "lung"]}, "prior_cancer", "none"),
]


@pytest.mark.parametrize(("name", "data", "field", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_an_impossible_case_is_refused_in_one_line_naming_case_and_field(name, data, field, words):
    with pytest.raises(CaseError) as raised:
        cup_triage.assess({"id": name, **data})
    line = str(raised.value)
    assert "\n" not in line
    assert line.startswith(f"case {name} › {field}: "), line
    assert words in line


def test_the_cli_refuses_it_with_file_case_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("id: c1\nsex: female\nworkup: {testicular_ultrasound: negative}\n")
    result = CliRunner().invoke(cli, ["rank", str(path), "--json"])
    assert result.exit_code == 2
    assert f"{path} › case c1 › workup.testicular_ultrasound:" in result.output


# ---------------------------------------------------- flagged: one answer against another
SOLITARY = {"imaging": {"solitary_lesion": "yes"}}
FLAGGED = [
    # A single deposit at several sites, in every way the sites can be written.
    (
        "list-of-four",
        {"sites": ["liver", "lung", "bone", "brain"], **SOLITARY},
        "solitary.one_site",
    ),
    ("two-node-stations", {"sites": ["axillary_nodes", "supraclavicular_nodes"], **SOLITARY}, None),
    ("partial-mapping", {"sites": {"liver": "yes", "lung": "yes"}, **SOLITARY}, None),
    (
        "mapping-with-no",
        {"sites": {"bone": "yes", "adrenal": "yes", "brain": "no"}, **SOLITARY},
        None,
    ),
    ("synonyms", {"sites": ["hepatic", "osseous"], **SOLITARY}, None),
    ("midline", {"sites": ["mediastinal_nodes", "retroperitoneal_nodes"], **SOLITARY}, None),
    # A single deposit in a case that lists no site at all.
    ("no-site-at-all", {"sites": [], **SOLITARY}, "solitary.at_a_site"),
    # Bone lesions without bone metastases: by mapping, by a list without bone.
    (
        "blastic-bone-no",
        {"sites": {"bone": "no"}, "imaging": {"blastic_bone_lesions": "yes"}},
        "bone.blastic_lesions_are_bone_metastases",
    ),
    (
        "lytic-list-without-bone",
        {"sites": ["liver"], "imaging": {"lytic_bone_lesions": "yes"}},
        "bone.lytic_lesions_are_bone_metastases",
    ),
    (
        "lytic-and-blastic-bone-no",
        {
            "sites": {"bone": "no"},
            "imaging": {"lytic_bone_lesions": "yes", "blastic_bone_lesions": "yes"},
        },
        None,
    ),
    # A KRAS G12C mutation in a tumour without a KRAS mutation, through answer synonyms.
    (
        "g12c-kras-wild-type",
        {"molecular": {"kras_g12c": "mutated", "kras": "wild type"}},
        "molecular.kras_g12c_is_a_kras_mutation",
    ),
]


@pytest.mark.parametrize(("name", "data", "implication"), FLAGGED, ids=[f[0] for f in FLAGGED])
def test_contradictory_answers_are_flagged_and_raise_nothing_that_rests_on_them(
    name, data, implication
):
    case = {"id": name, "histology": "adenocarcinoma", **data}
    assessment = cup_triage.assess(case, suggest=False)
    assert assessment.data_conflicts, name
    for conflict in assessment.data_conflicts:
        assert "\n" not in conflict.message
        premise, consequence = conflict.fields
        assert conflict.message.startswith(f"{premise}: ")
        assert consequence in conflict.message and "set aside" in conflict.message
    if implication is not None:
        assert implication in {c.implication for c in assessment.data_conflicts}
    assert "single_metastasis" not in {s.id for s in assessment.subsets}
    document = cup_triage.to_document([assessment])
    assert document["assessments"][0]["assessment"]["data_conflicts"]


def test_the_flag_is_in_rank_json(tmp_path):
    path = tmp_path / "case.yaml"
    path.write_text("id: c1\nsites: {liver: yes, lung: yes}\nimaging: {solitary_lesion: yes}\n")
    result = CliRunner().invoke(cli, ["rank", str(path), "--json"])
    assert result.exit_code == 0
    (entry,) = json.loads(result.output)["assessments"]
    (conflict,) = entry["assessment"]["data_conflicts"]
    assert conflict["fields"] == ["imaging.solitary_lesion", "sites_found"]
    assert "single_metastasis" not in {s["id"] for s in entry["assessment"]["subsets"]}


ACCEPTED = [
    # Not contradictions in every patient, only unusual: they stay evidence.
    (
        "one-mixed-lesion",
        {
            "sites": ["bone"],
            **SOLITARY,
            "imaging": {
                "solitary_lesion": "yes",
                "lytic_bone_lesions": "yes",
                "blastic_bone_lesions": "yes",
            },
        },
    ),
    ("p16-negative-hpv", {"markers": {"p16": "negative"}, "molecular": {"hpv": "detected"}}),
    (
        "hepatomegaly-without-liver-deposits",
        {"sites": {"liver": "no"}, "history": {"hepatomegaly": "yes"}},
    ),
    ("neck-nodes-no-lump-felt", {"sites": ["cervical_nodes"], "history": {"neck_mass": "no"}}),
    ("mammography-in-a-man", {"sex": "male", "workup": {"mammography": "negative"}}),
    ("two-earlier-lung-cancers", {"prior_cancer": ["lung", "lung"]}),
    ("assay-against-confirmed", {"tissue_of_origin": "lung", "confirmed_primary": "breast"}),
    ("marrow-without-bone-lesions", {"sites": ["bone_marrow"]}),
]


@pytest.mark.parametrize(("name", "data"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_unusual_but_possible_cases_are_accepted_without_a_flag(name, data):
    assert cup_triage.assess({"id": name, **data}, suggest=False).data_conflicts == ()


# ------------------------------------------------------------------ advice: the examples
def _advice_and_workup(assessment):
    texts = [a.text for a in assessment.advice]
    texts += [w for s in assessment.subsets for w in s.workup]
    return texts


def _asks(texts, name):
    """Whether a text asks for a test by this name, spelt as the lint reads it (with any
    spacing or punctuation: 'CA 125' is 'CA-125'; a name followed by + or − reports one)."""
    pattern = name_pattern(name)
    return any(re.search(pattern, t, re.IGNORECASE) for t in texts)


NOT_ASKED_AGAIN = [
    (
        "ca125-raised",
        {
            "sex": "female",
            "age": 60,
            "sites": ["peritoneum"],
            "histology": "adenocarcinoma",
            "features": ["serous"],
            "labs": {"ca125": 900},
            "history": {"pelvic_pain_or_bloating": "yes"},
        },
        ["CA-125"],
    ),
    (
        "ca125-raised-as-a-word",
        {
            "sex": "female",
            "sites": ["peritoneum", "ovary"],
            "histology": "adenocarcinoma",
            "labs": {"ca125": "raised"},
            "history": {"pelvic_pain_or_bloating": "yes"},
        },
        ["CA-125"],
    ),
    (
        "pax8-wt1-given",
        {
            "sex": "female",
            "age": 60,
            "sites": ["peritoneum"],
            "histology": "adenocarcinoma",
            "features": ["serous", "papillary"],
            "markers": {"pax8": "positive", "wt1": "positive"},
        },
        ["PAX8", "WT1"],
    ),
    (
        "p16-given",
        {
            "sex": "male",
            "age": 55,
            "sites": ["cervical_nodes"],
            "histology": "squamous_cell_carcinoma",
            "markers": {"p16": "positive"},
        },
        ["p16"],
    ),
    (
        "p16-given-inguinal",
        {
            "sex": "female",
            "age": 58,
            "sites": ["inguinal_nodes"],
            "histology": "squamous_cell_carcinoma",
            "markers": {"p16": "pos"},
        },
        ["p16"],
    ),
    (
        "er-pr-given-axilla",
        {
            "sex": "female",
            "age": 52,
            "sites": ["axillary_nodes"],
            "histology": "adenocarcinoma",
            "markers": {"er": "positive", "pr": "negative"},
        },
        ["ER", "PR"],
    ),
    (
        "pet-and-mammography-done",
        {
            "sex": "female",
            "age": 52,
            "sites": ["axillary_nodes"],
            "histology": "adenocarcinoma",
            "workup": {"mammography": "negative", "pet_ct": "negative"},
        },
        ["FDG-PET/CT", "mammography"],
    ),
    (
        "psa-value-given",
        {
            "sex": "male",
            "age": 70,
            "sites": ["bone"],
            "histology": "adenocarcinoma",
            "imaging": {"blastic_bone_lesions": "yes"},
            "labs": {"psa": "250 ng/mL"},
        },
        ["serum PSA"],
    ),
    (
        "minimal-work-up-done",
        {
            "sex": "male",
            "age": 60,
            "sites": ["liver"],
            "histology": "adenocarcinoma",
            "labs": {"ldh": 410, "calcium": "2.4 mmol/L", "liver_enzymes": "elevated"},
            "workup": {"ct_chest_abdomen_pelvis": "negative"},
        },
        ["CT of chest, abdomen and pelvis", "LDH", "calcium", "LFTs"],
    ),
    (
        "nkx31-given",
        {
            "sex": "male",
            "age": 70,
            "sites": ["bone"],
            "histology": "adenocarcinoma",
            "markers": {"nkx3_1": "positive"},
        },
        ["NKX3.1"],
    ),
    (
        "kras-wild-type-implies-no-g12c",
        {
            "sex": "male",
            "age": 64,
            "sites": ["liver"],
            "histology": "adenocarcinoma",
            "markers": {"ck7": "negative", "ck20": "positive", "cdx2": "positive"},
            "molecular": {"kras": "not_detected"},
        },
        ["KRAS"],
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "names"), NOT_ASKED_AGAIN, ids=[n[0] for n in NOT_ASKED_AGAIN]
)
def test_advice_never_asks_again_for_what_the_case_holds(name, data, names):
    assessment = cup_triage.assess({"id": name, **data})
    texts = _advice_and_workup(assessment)
    for test_name in names:
        assert not _asks(texts, test_name), (test_name, texts)
    assert not _held_asked(cup_triage.parse_case({"id": name, **data}), assessment)


def test_the_rest_of_a_bundle_is_still_asked_for():
    """A known CA-125 does not silence the pelvic ultrasound, nor a known p16 the EBV test."""
    ovary = cup_triage.assess(NOT_ASKED_AGAIN[0][1] | {"id": "o"})
    assert any("ultrasound" in t for t in _advice_and_workup(ovary))
    neck = cup_triage.assess(NOT_ASKED_AGAIN[3][1] | {"id": "n"})
    assert _asks(_advice_and_workup(neck), "EBV")
    axilla = cup_triage.assess(NOT_ASKED_AGAIN[5][1] | {"id": "a"})
    assert _asks(_advice_and_workup(axilla), "HER2")


THYROID_BONE = {
    "sex": "male",
    "age": 66,
    "sites": ["bone"],
    "histology": "adenocarcinoma",
    "features": ["thyroid_follicular"],
    "imaging": {"lytic_bone_lesions": "yes"},
    "markers": {"thyroglobulin": "positive", "ttf1": "positive", "pax8": "positive"},
}


def test_no_prostate_stain_or_serum_psa_for_a_thyroglobulin_tumour_at_near_certain_thyroid():
    assessment = cup_triage.assess({"id": "tg", **THYROID_BONE})
    assert assessment.candidates[0].primary == "thyroid"
    assert assessment.candidates[0].probability >= NEAR_CERTAIN
    texts = _advice_and_workup(assessment)
    assert not any(_asks(texts, n) for n in ("PSA", "NKX3.1", "serum PSA"))
    suggested = {s.finding for s in assessment.next_tests}
    assert not suggested & {"markers.psa", "markers.nkx3_1", "labs.psa"}


def test_the_same_stains_are_advised_while_the_leader_is_open():
    open_case = {
        **THYROID_BONE,
        "features": [],
        "markers": {},
        "imaging": {"blastic_bone_lesions": "yes"},
    }
    assessment = cup_triage.assess({"id": "open", **open_case})
    assert assessment.candidates[0].probability < NEAR_CERTAIN
    assert _asks(_advice_and_workup(assessment), "NKX3.1")


def test_a_subset_never_treats_as_a_primary_other_than_a_near_certain_leader():
    """Thyroglobulin in an axillary node: no 'treat as breast' box under a thyroid ranking; a
    squamous groin node in a woman with a cervical lead: treat as the leader, and say so."""
    axilla = {
        "sex": "female",
        "age": 50,
        "sites": ["axillary_nodes"],
        "histology": "adenocarcinoma",
        "markers": {"thyroglobulin": "positive", "ttf1": "positive"},
    }
    assessment = cup_triage.assess({"id": "ax", **axilla})
    assert all(s.treat_as != "breast" for s in assessment.subsets)
    groin = cup_triage.load_cases(ROOT / "cases/teaching/t04-groin-node-postcoital-bleeding.yaml")[
        0
    ]
    assessment = cup_triage.assess(groin)
    leader = assessment.candidates[0]
    assert leader.probability >= NEAR_CERTAIN
    (subset,) = [s for s in assessment.subsets if s.id == "inguinal_squamous"]
    assert (subset.treat_as, subset.treat_as_listed) == (leader.primary, "anal_canal")
    assert subset.management.startswith(f"The ranking names {leader.label}")


# ------------------------------------------------------------------ properties
def _held(case):
    answers = case.answers(VOCABULARY)
    return set(answers) | set(implied_answers(answers, VOCABULARY))


def _held_asked(case, assessment):
    """Every advice item, confirming test and suggestion that asks for a finding the case holds
    (as given, set aside for a conflict, or implied by the others)."""
    held = _held(case)
    found = []
    for item in assessment.advice:
        found += [(item.rule_id, k) for k in KB.rules_by_id[item.rule_id].asks_for if k in held]
    for subset in assessment.subsets:
        steps = {s.text: s for s in KB.subsets[subset.id].workup}
        found += [(subset.id, k) for t in subset.workup for k in steps[t].asks_for if k in held]
    for suggestion in (*assessment.next_questions, *assessment.next_tests):
        if suggestion.finding in held:
            found.append(("suggested", suggestion.finding))
    return found


def _inconsistent_with_the_ranking(assessment):
    leader = assessment.candidates[0]
    if leader.probability < NEAR_CERTAIN:
        return []
    return [(s.id, s.treat_as) for s in assessment.subsets if s.treat_as != leader.primary]


def _tests_that_cannot_move_the_leader(case, assessment):
    """Advice asking only for stains or serum tests none of whose answers, added to the case
    and assessed again, brings a near-certain leader below near-certain."""
    leader = assessment.candidates[0]
    if leader.probability < NEAR_CERTAIN:
        return []
    held = _held(case)
    found = []
    for item in assessment.advice:
        rule = KB.rules_by_id[item.rule_id]
        keys = [k for k in rule.asks_for if k not in held]
        if rule.advice.chooses_treatment or not keys:
            continue
        if any(VOCABULARY.findings[k].section not in TESTS_ON_SAMPLES for k in keys):
            continue
        if not any(_moves(case, key, leader.primary) for key in keys):
            found.append((item.rule_id, keys))
    return found


def _moves(case, key, leader):
    for answer in VOCABULARY.findings[key].answers:
        try:
            changed = case.with_findings(VOCABULARY, {key: answer})
        except CaseError:
            continue
        after = cup_triage.assess(changed, suggest=False)
        probability = next(c.probability for c in after.candidates if c.primary == leader)
        if probability < NEAR_CERTAIN:
            return True
    return False


def _bundled(folder):
    paths = sorted((ROOT / "cases" / folder).rglob("*.yaml"))
    return [case for path in paths for case in cup_triage.load_cases(path)]


def _check(case):
    assessment = cup_triage.assess(case)
    assert _held_asked(case, assessment) == [], case.id
    assert _inconsistent_with_the_ranking(assessment) == [], case.id
    assert _tests_that_cannot_move_the_leader(case, assessment) == [], case.id


@pytest.mark.parametrize("folder", ["examples", "teaching"])
def test_a_sample_of_the_example_and_teaching_cases_holds_the_advice_properties(folder):
    for case in _bundled(folder)[::6]:
        _check(case)


# Every case with its advice takes seconds a folder: CI runs them all.
@pytest.mark.slow
@pytest.mark.parametrize(
    "folder", ["examples", "teaching", "holdout", "validation", "literature", "fhir"]
)
def test_every_bundled_case_holds_the_advice_properties(folder):
    for case in _bundled(folder):
        _check(case)


@SETTINGS
@given(case_data())
def test_generated_cases_hold_the_advice_properties(data):
    _check(cup_triage.parse_case(data))
