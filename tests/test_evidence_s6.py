"""Session 6 evidence: a tumour whose lineage is not established, the orbit, acrometastases.

Clinical case tables: each row is a presentation and what the ranking must say about it.
"""

import pytest

from cup_triage.reasoning.case import parse_case

# (findings, primary that must rank first)
FIRST = [
    # Greco & Hainsworth: 35-65% of poorly differentiated neoplasms are lymphomas.
    pytest.param(
        {
            "sex": "male",
            "age": 30,
            "sites": [
                "cervical_nodes",
                "axillary_nodes",
                "mediastinal_nodes",
                "retroperitoneal_nodes",
                "inguinal_nodes",
            ],
            "histology": "poorly_differentiated_malignant_neoplasm",
        },
        "lymphoma",
        id="young man, malignant neoplasm of no lineage in generalised nodes -> lymphoma",
    ),
    # Once a keratin stain and a negative CD45 establish a carcinoma, lymphoma leaves the lead.
    pytest.param(
        {
            "sex": "female",
            "age": 62,
            "sites": ["liver", "bone"],
            "histology": "poorly_differentiated_malignant_neoplasm",
            "markers": {"pan_ck": "negative", "cd45": "negative", "sox10": "positive"},
        },
        "melanoma",
        id="malignant neoplasm, keratin- CD45- SOX10+ -> melanoma",
    ),
    # Shields 2001: breast 53 of 100 orbital metastases.
    pytest.param(
        {"sex": "female", "age": 60, "sites": {"orbit": "yes"}},
        "breast",
        id="woman, orbital metastasis -> breast",
    ),
    pytest.param(
        {
            "sex": "female",
            "age": 68,
            "sites": {"orbit": "yes"},
            "history": {"visual_disturbance": "yes"},
            "histology": "adenocarcinoma",
        },
        "breast",
        id="woman, diplopia from an orbital adenocarcinoma deposit -> breast",
    ),
    # Dow 2023: lung 39% of hand metastases; prostate, the commonest source of bone
    # metastases in men, is rare among acrometastases.
    pytest.param(
        {"sex": "male", "age": 66, "sites": {"bone": "yes"}, "imaging": {"acrometastasis": "yes"}},
        "lung",
        id="man, a finger-bone metastasis -> lung, not prostate",
    ),
    # Shields 1997/2018: lung leads the uveal metastases found before the primary.
    pytest.param(
        {"sex": "male", "age": 64, "sites": {"choroid": "yes"}},
        "lung",
        id="man, a choroidal metastasis -> lung",
    ),
    # AJCC 8th: coeliac nodes are regional for the oesophagus; with mediastinal nodes and
    # squamous histology the oesophagus leads.
    pytest.param(
        {
            "sex": "male",
            "age": 65,
            "sites": ["coeliac_nodes", "mediastinal_nodes"],
            "histology": "squamous_cell_carcinoma",
        },
        "esophagus",
        id="squamous carcinoma in mediastinal and coeliac nodes -> oesophagus",
    ),
]


def test_coeliac_nodes_put_the_upper_gi_tract_first(assess):
    assessment = assess(
        {"sex": "male", "age": 65, "sites": ["coeliac_nodes"], "histology": "adenocarcinoma"},
        suggest=False,
    )
    assert {c.primary for c in assessment.candidates[:2]} == {"stomach", "esophagus"}


@pytest.mark.parametrize(("findings", "leader"), FIRST)
def test_the_presentation_ranks_the_expected_primary_first(assess, findings, leader):
    assessment = assess(findings, suggest=False)
    assert assessment.candidates[0].primary == leader, [
        (c.primary, round(c.probability, 3)) for c in assessment.candidates[:4]
    ]


def _rank(assessment, primary):
    return assessment.rank_of(primary)


def _probability(assessment, primary):
    return next(c.probability for c in assessment.candidates if c.primary == primary)


def test_a_carcinoma_reading_keeps_lymphoma_and_germ_cell_in_play_in_a_young_man(assess):
    # Hainsworth 1991: 4 of 87 light-microscopy poorly differentiated carcinomas were
    # lymphomas, 1 a yolk-sac tumour; the reading lowers lymphoma only mildly.
    assessment = assess(
        {
            "sex": "male",
            "age": 30,
            "sites": ["cervical_nodes", "mediastinal_nodes", "retroperitoneal_nodes"],
            "histology": "poorly_differentiated_carcinoma",
        },
        suggest=False,
    )
    assert _rank(assessment, "germ_cell") <= 3
    assert _rank(assessment, "lymphoma") <= 3


def test_no_lineage_raises_lymphoma_more_than_a_carcinoma_reading(assess):
    base = {"sex": "female", "age": 55, "sites": ["cervical_nodes", "axillary_nodes"]}
    neoplasm = assess({**base, "histology": "poorly_differentiated_malignant_neoplasm"})
    carcinoma = assess({**base, "histology": "poorly_differentiated_carcinoma"})
    assert _probability(neoplasm, "lymphoma") > 3 * _probability(carcinoma, "lymphoma")


def test_a_keratin_positive_neoplasm_is_not_called_lymphoma(assess):
    assessment = assess(
        {
            "sex": "male",
            "age": 64,
            "sites": ["cervical_nodes", "mediastinal_nodes"],
            "histology": "poorly_differentiated_malignant_neoplasm",
            "markers": {"pan_ck": "positive", "cd45": "negative"},
        },
        suggest=False,
    )
    assert _rank(assessment, "lymphoma") > 3


def test_a_neoplasm_of_no_lineage_is_advised_the_lineage_panel(assess):
    assessment = assess(
        {"sex": "male", "age": 50, "sites": ["liver"], "histology": "undifferentiated neoplasm"}
    )
    assert any("CD45" in a.text for a in assessment.advice), [a.text for a in assessment.advice]


def test_the_synonyms_read_as_the_new_histology(kb):
    for words in (
        "undifferentiated neoplasm",
        "malignant neoplasm",
        "poorly differentiated neoplasm",
    ):
        case = parse_case({"id": "t", "histology": words}, kb.vocabulary)
        assert case.histology == "poorly_differentiated_malignant_neoplasm"


def test_an_acrometastasis_without_bone_is_flagged(triage, kb):
    case = parse_case(
        {"id": "t", "sites": ["liver"], "imaging": {"acrometastasis": "yes"}}, kb.vocabulary
    )
    assessment = triage.assess(case, suggest=False)
    assert [c.implication for c in assessment.data_conflicts] == [
        "bone.acrometastasis_is_a_bone_metastasis"
    ]


def test_the_orbit_explains_the_visual_disturbance(assess):
    base = {"sex": "female", "age": 68, "sites": {"orbit": "yes"}}
    plain = assess(base, suggest=False)
    with_symptom = assess({**base, "history": {"visual_disturbance": "yes"}}, suggest=False)
    # The symptom adds almost nothing once the orbital deposit is known.
    assert abs(_probability(with_symptom, "breast") - _probability(plain, "breast")) < 0.05


def test_bone_metastases_in_a_woman_do_not_make_breast_the_clear_leader(assess):
    # Rougraff 1993, Simon & Bartucci 1986, Jacobsen 1997: 5 breast against 41 lung cancers
    # among 115 skeletal metastases of unknown origin.
    assessment = assess(
        {"sex": "female", "age": 65, "sites": ["bone", "liver"], "histology": "adenocarcinoma"},
        suggest=False,
    )
    assert _probability(assessment, "breast") < _probability(assessment, "lung")


@pytest.mark.parametrize(
    ("markers", "flagged"),
    [
        ({}, True),
        ({"pan_ck": "negative"}, True),
        ({"pan_ck": "positive"}, False),
    ],
    ids=["no stains", "keratin-negative", "keratin-positive"],
)
def test_a_neoplasm_of_no_lineage_is_flagged_as_possibly_curable(assess, markers, flagged):
    assessment = assess(
        {
            "sex": "male",
            "age": 45,
            "sites": ["cervical_nodes"],
            "histology": "poorly_differentiated_malignant_neoplasm",
            "markers": markers,
        },
        suggest=False,
    )
    fired = {f.rule_id for f in assessment.fired}
    assert ("red_flag.curable.lineage_not_established" in fired) is flagged
