"""Session 6: the ids added to say what the ESMO 2023 work-up and published CUP reports say
(docs/vocabulary-coverage.md), as clinical cases: a case with the finding, spelt as reports
spell it, loads; the rule that reads it fires and moves the ranking the way its source says;
and every case file in the repository still loads."""

from pathlib import Path

import pytest

from cup_triage.io.load import load_case

CASES = Path(__file__).resolve().parent.parent / "cases"

# (what the case is, the case, the rule that must count, the primary, where it must rank)
NEW_ID_CASES = [
    (
        "orbital and bone deposits of adenocarcinoma in a woman with diplopia: breast",
        {
            "sex": "female",
            "age": 58,
            "histology": "adenocarcinoma",
            "sites": ["orbital", "bone"],
            "history": {"visual_disturbance": "yes"},
        },
        "site.orbit.yes",
        "breast",
        1,
    ),
    (
        "neck-node squamous carcinoma with a lesion on nasendoscopy: head and neck",
        {
            "sex": "male",
            "age": 61,
            "histology": "squamous_cell_carcinoma",
            "sites": ["cervical_nodes"],
            "workup": {"nasendoscopy": "abnormal"},
        },
        "workup_result.head_neck_examination.abnormal",
        "head_and_neck",
        1,
    ),
    (
        "liver NET with somatostatin-receptor-avid disease on DOTATATE PET: neuroendocrine",
        {
            "sex": "female",
            "age": 55,
            "histology": "neuroendocrine_tumor",
            "sites": ["liver"],
            "workup": {"dotatate pet": "abnormal"},
        },
        "workup_result.somatostatin_receptor_pet.abnormal",
        "neuroendocrine",
        1,
    ),
    (
        "poorly differentiated carcinoma in lung and bone with dipstick haematuria: bladder",
        {
            "sex": "male",
            "age": 71,
            "histology": "poorly_differentiated_carcinoma",
            "sites": ["lung", "bone"],
            "history": {"microscopic haematuria": "yes", "hematuria": "no", "smoking": "yes"},
            "markers": {"gata3": "positive", "ck7": "positive", "ck20": "positive"},
        },
        "hist.microscopic_hematuria.yes",
        "bladder",
        3,
    ),
    (
        "clear-cell carcinoma in lung and bone, RCC marker positive: kidney",
        {
            "sex": "male",
            "age": 64,
            "histology": "clear_cell_carcinoma",
            "sites": ["lung", "bone"],
            "markers": {"rcc marker": "positive"},
        },
        "ihc.rcc_ma.positive",
        "kidney",
        1,
    ),
    (
        "young man, midline poorly differentiated carcinoma with i(12p): germ-cell tumour",
        {
            "sex": "male",
            "age": 27,
            "histology": "poorly_differentiated_carcinoma",
            "sites": ["mediastinal_nodes", "retroperitoneal_nodes"],
            "imaging": {"midline_distribution": "yes"},
            "molecular": {"i12p": "detected"},
        },
        "mol.i12p.detected",
        "germ_cell",
        1,
    ),
    (
        "hypervascular liver metastases of a neuroendocrine tumour: neuroendocrine",
        {
            "sex": "male",
            "age": 60,
            "histology": "neuroendocrine_tumor",
            "sites": ["liver"],
            "imaging": {"hypervascular lesions": "yes"},
        },
        "imaging.hypervascular_metastases.yes",
        "neuroendocrine",
        1,
    ),
    (
        "CK20-positive adenocarcinoma in the liver with a FIT of 150 µg Hb/g: colorectal",
        {
            "sex": "female",
            "age": 69,
            "histology": "adenocarcinoma",
            "sites": ["liver"],
            "markers": {"ck7": "negative", "ck20": "positive"},
            "labs": {"faecal immunochemical test": "150 µg Hb/g"},
        },
        "lab.faecal_occult_blood.elevated",
        "colorectal",
        1,
    ),
]


def _counted(assessment):
    return {f.rule_id for f in assessment.fired if f.counted}


@pytest.mark.parametrize(
    ("case", "rule", "primary", "within"),
    [c[1:] for c in NEW_ID_CASES],
    ids=[c[0] for c in NEW_ID_CASES],
)
def test_a_case_with_the_new_finding_fires_its_rule_and_ranks_the_primary(
    assess, case, rule, primary, within
):
    assessment = assess(case, suggest=False)
    assert rule in _counted(assessment), sorted(_counted(assessment))
    top = [c.primary for c in assessment.candidates[:within]]
    assert primary in top, [(c.primary, round(c.probability, 3)) for c in assessment.candidates[:5]]


# The same patient without the finding, then with each answer: the ranking moves the way the
# rule's source says (up for the finding, down for its absence).
BASE = {"sex": "male", "age": 62, "histology": "adenocarcinoma", "sites": ["liver", "bone"]}
DIRECTIONS = [
    ({"sites": ["liver", "bone", "orbit"]}, "prostate", "up"),
    ({"sites": ["liver", "bone", "orbit"]}, "lung", "down"),
    ({"workup": {"head_neck_examination": "negative"}}, "head_and_neck", "down"),
    ({"workup": {"somatostatin_receptor_pet": "negative"}}, "neuroendocrine", "down"),
    ({"history": {"microscopic_hematuria": "yes"}}, "bladder", "up"),
    ({"history": {"microscopic_hematuria": "no"}}, "bladder", "down"),
    ({"markers": {"rcc_ma": "negative"}}, "kidney", "down"),
    ({"molecular": {"i12p": "not_detected"}}, "germ_cell", "down"),
    ({"imaging": {"hypervascular_metastases": "yes"}}, "kidney", "up"),
    ({"imaging": {"hypervascular_metastases": "no"}}, "neuroendocrine", "down"),
    ({"labs": {"faecal_occult_blood": "elevated"}}, "colorectal", "up"),
    ({"labs": {"faecal_occult_blood": 4}}, "colorectal", "down"),
]


@pytest.mark.parametrize(("change", "primary", "way"), DIRECTIONS)
def test_each_answer_moves_the_ranking_as_its_source_says(assess, change, primary, way):
    def probability(data):
        result = assess(data, suggest=False)
        return next(c.probability for c in result.candidates if c.primary == primary)

    before, after = probability(BASE), probability({**BASE, **change})
    assert (after > before) if way == "up" else (after < before)


def test_the_orbit_explains_the_visual_symptom(assess):
    """Diplopia is what an orbital deposit causes: once the orbit is listed, the symptom's
    rules keep only a tenth of their weight (rules/site_effects.yaml)."""
    assessment = assess(
        {
            "sex": "female",
            "age": 58,
            "sites": ["orbit", "bone"],
            "history": {"visual_disturbance": "yes"},
        },
        suggest=False,
    )
    weights = [
        e.weight
        for c in assessment.candidates
        for e in c.evidence_for + c.evidence_against
        if e.rule_id.startswith("hist.visual_disturbance")
    ]
    assert weights
    assert all(w < 0.2 for w in weights)


def test_a_panendoscopy_supersedes_the_clinic_nasendoscopy(assess):
    case = {
        "sex": "male",
        "age": 61,
        "histology": "squamous_cell_carcinoma",
        "sites": ["cervical_nodes"],
        "workup": {"head_neck_examination": "negative", "panendoscopy": "negative"},
    }
    fired = {f.rule_id for f in assess(case, suggest=False).fired}
    assert "workup_result.panendoscopy.negative" in fired
    assert not any(r.startswith("workup_result.head_neck_examination") for r in fired)


def test_visible_haematuria_carries_the_bleeding_once(assess):
    case = {
        "sex": "male",
        "age": 70,
        "sites": ["lung"],
        "history": {"hematuria": "yes", "microscopic_hematuria": "yes"},
    }
    fired = {f.rule_id for f in assess(case, suggest=False).fired}
    assert not any(r.startswith("hist.microscopic_hematuria") for r in fired)
    assert fired & {"hist.hematuria.yes", "hist.hematuria.yes_age45"}


def test_rcc_marker_and_cd10_count_once(assess):
    """Both are proximal-tubule antigens: a positive RCC Ma counts instead of CD10, and a
    negative one gives way to a known CD10."""
    base = {"sex": "male", "age": 64, "histology": "clear_cell_carcinoma", "sites": ["lung"]}
    both = assess({**base, "markers": {"rcc_ma": "positive", "cd10": "positive"}}, suggest=False)
    assert "ihc.rcc_ma.positive" in _counted(both)
    assert "ihc.cd10.positive" not in _counted(both)
    mixed = assess({**base, "markers": {"rcc_ma": "negative", "cd10": "positive"}}, suggest=False)
    assert "ihc.cd10.positive" in _counted(mixed)
    assert "ihc.rcc_ma.negative" not in _counted(mixed)


@pytest.mark.parametrize(
    ("case", "withheld"),
    [
        (
            {
                "sex": "male",
                "age": 60,
                "sites": ["cervical_nodes"],
                "history": {"neck_mass": "yes", "hoarseness": "yes"},
                "workup": {"head_neck_examination": "negative"},
            },
            "workup.targeted.lead_head_and_neck",
        ),
        (
            {
                "sex": "female",
                "age": 55,
                "histology": "neuroendocrine_tumor",
                "sites": ["liver"],
                "workup": {"somatostatin_receptor_pet": "negative"},
            },
            "workup.targeted.neuroendocrine_well_differentiated.sstr_pet",
        ),
    ],
    ids=["nasendoscopy done", "SSTR PET done"],
)
def test_the_advice_never_asks_again_for_the_new_tests(assess, case, withheld):
    assessment = assess(case, suggest=False)
    assert withheld not in {item.rule_id for item in assessment.advice}


CASE_FILES = sorted(p for p in CASES.rglob("*") if p.suffix in {".yaml", ".json"})


@pytest.mark.parametrize("path", CASE_FILES, ids=[str(p.relative_to(CASES)) for p in CASE_FILES])
def test_every_existing_case_file_still_loads(kb, path):
    assert load_case(path, kb.vocabulary)
