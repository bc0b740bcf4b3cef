"""Clinical cases: the literature checks, and every example case in cases/."""

from collections import Counter

import pytest

from cup_triage.load import iter_cases

from .conftest import CASES

# Each row: the presentation, the primary that must rank first, and a subset that must be named.
LITERATURE = [
    pytest.param(
        {"sex": "male", "age": 66, "sites": ["liver"], "histology": "adenocarcinoma",
         "history": {"hemoptysis": "yes"}},
        "lung", None, id="adenocarcinoma with liver metastases + haemoptysis -> lung"),
    pytest.param(
        {"sex": "male", "age": 70, "sites": ["lung", "bone"],
         "histology": "poorly_differentiated_carcinoma", "history": {"hematuria": "yes"}},
        "bladder", None, id="carcinoma + visible haematuria -> bladder"),
    pytest.param(
        {"sex": "female", "age": 63, "sites": ["lung", "retroperitoneal_nodes"],
         "histology": "poorly_differentiated_carcinoma", "history": {"hematuria": "yes"}},
        "bladder", None, id="woman, carcinoma + visible haematuria -> bladder"),
    pytest.param(
        {"sex": "male", "age": 68, "sites": ["liver"], "history": {"hematuria": "yes"}},
        "bladder", None, id="metastases, no histology yet, visible haematuria -> bladder"),
    pytest.param(
        {"sex": "male", "age": 72, "sites": ["bone"], "imaging": {"blastic_bone_lesions": "yes"},
         "labs": {"psa": "elevated"}},
        "prostate", "prostate_bone_psa", id="man, blastic bone metastases, raised PSA -> prostate"),
    pytest.param(
        {"sex": "female", "age": 52, "sites": ["axillary_nodes"], "histology": "adenocarcinoma"},
        "breast", "axillary_adenocarcinoma_women", id="woman, isolated axillary adenocarcinoma -> breast"),
    pytest.param(
        {"sex": "male", "age": 67, "sites": ["liver"], "prior_cancer": "colorectal"},
        "colorectal", None, id="treated colon cancer, new liver metastases -> colorectal"),
]


@pytest.mark.parametrize(("findings", "leader", "subset"), LITERATURE)
def test_literature_presentations_rank_the_expected_primary_first(assess, findings, leader, subset):
    assessment = assess(findings)
    assert assessment.candidates[0].primary == leader, [
        (c.primary, c.probability) for c in assessment.candidates[:4]
    ]
    if subset:
        assert subset in {s.id for s in assessment.subsets}


def _example_cases(kb):
    return [item for item in iter_cases([CASES / "examples"], kb.vocabulary)]


def test_examples_cover_every_primary_with_teaching_notes(kb):
    loaded = _example_cases(kb)
    assert all(item.error is None for item in loaded), [str(i.error) for i in loaded if i.error]
    cases = [item.case for item in loaded]
    assert len(cases) >= 40
    assert set(Counter(c.confirmed_primary for c in cases)) == set(kb.vocabulary.primaries)
    assert all(isinstance(c.notes, str) and c.notes.strip() for c in cases)


def test_example_cases_rank_their_confirmed_primary_in_the_top_three(kb, triage):
    misses = []
    hits_top1 = 0
    cases = [item.case for item in _example_cases(kb)]
    for case in cases:
        assessment = triage.assess(case, suggest=False)
        rank = assessment.rank_of(case.confirmed_primary)
        hits_top1 += rank == 1
        if rank > 3:
            misses.append((case.id, rank, assessment.candidates[0].primary))
    assert not misses
    assert hits_top1 / len(cases) >= 0.85
