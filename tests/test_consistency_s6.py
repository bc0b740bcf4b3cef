"""Issue 16 point 4 as an outside examiner writes it: held-out consistency cases over the whole
vocabulary (serum values with units, molecular and viral results, a tissue-of-origin assay,
the pathologist's stated origin, negative organ work-up, synonyms, several earlier cancers).

Each row is a case as a case file holds it and what must not happen:
- HELD: the advice, a subset's confirming tests, the next questions and tests, and the
  interview never ask for a test or answer the case already holds, under any id or synonym;
- FLAGGED: contradictory findings raise no subset; a warning names both fields instead;
- REFUSED: an impossible patient is refused in one line naming case and field;
- RANKED: a subset's "treat as" and the advice never contradict a near-certain leader (no
  organ search, stain or in-situ test that cannot move it).

Everything runs through the public API (`cup_triage.assess`), the interview's next-question
path and `cup-triage rank` / `rank --json`.
"""

import json
import re

import pytest
import yaml
from click.testing import CliRunner

import cup_triage
from cup_triage.cli import cli
from cup_triage.io.load import load_questionnaire
from cup_triage.reasoning.consistency import implied_answers
from cup_triage.reasoning.errors import CaseError
from cup_triage.reasoning.lint import name_pattern
from cup_triage.reasoning.lint import tests_named as named_tests
from cup_triage.sessions.interview import Interview

from .conftest import sampled_by_default

KB = cup_triage.knowledge_base()
VOCABULARY = KB.vocabulary
NEAR_CERTAIN = VOCABULARY.presentation.near_certain
QUESTIONNAIRE = load_questionnaire(VOCABULARY)
INTERVIEW_QUESTIONS = 8
# "raised AFP in a man", "ER-positive carcinoma": a result named as context, not a request.
RESULT = re.compile(r"\b(raised|elevated|normal|positive|negative)\s+$", re.IGNORECASE)

MAN, WOMAN = {"sex": "male"}, {"sex": "female"}
ADENO, PDC, SCC = (
    {"histology": "adenocarcinoma"},
    {"histology": "poorly_differentiated_carcinoma"},
    {"histology": "squamous_cell_carcinoma"},
)
CRC_STAINS = {"ck7": "negative", "ck20": "positive", "cdx2": "positive"}

# ------------------------------------------------------------------ held: never asked again
# (name, case, findings the case holds that must never be asked for)
HELD = [
    # Numeric serum values with units, and their synonyms.
    (
        "psa-250-synonym",
        {
            **MAN,
            **ADENO,
            "age": 72,
            "sites": ["bone"],
            "imaging": {"blastic_bone_lesions": "yes"},
            "labs": {"prostate specific antigen": "250 ng/mL"},
        },
        ["labs.psa"],
    ),
    (
        "psa-ug-per-litre",
        {
            **MAN,
            **ADENO,
            "age": 68,
            "sites": ["bone", "retroperitoneal_nodes"],
            "labs": {"psa": "80 µg/L"},
        },
        ["labs.psa"],
    ),
    (
        "psa-normal-value",
        {
            **MAN,
            **ADENO,
            "age": 70,
            "sites": ["bone"],
            "imaging": {"blastic_bone_lesions": "yes"},
            "labs": {"psa": 1.2},
        },
        ["labs.psa"],
    ),
    (
        "serum-psa-as-written",
        {**MAN, **ADENO, "age": 60, "sites": ["bone"], "labs": {"serum PSA": 300}},
        ["labs.psa"],
    ),
    (
        "ca125-value-with-unit",
        {
            **WOMAN,
            **ADENO,
            "age": 63,
            "sites": ["peritoneum"],
            "imaging": {"ascites": "yes"},
            "labs": {"CA 125": "1200 U/mL"},
        },
        ["labs.ca125"],
    ),
    (
        "ca125-normal",
        {
            **WOMAN,
            **ADENO,
            "age": 63,
            "sites": ["peritoneum"],
            "features": ["serous"],
            "labs": {"ca125": "normal"},
        },
        ["labs.ca125"],
    ),
    (
        "ca125-kilounits-with-pax8-wt1",
        {
            **WOMAN,
            **ADENO,
            "age": 60,
            "sites": ["peritoneum", "pleura"],
            "features": ["serous"],
            "markers": {"pax8": "positive", "wt1": "positive", "ck7": "positive"},
            "labs": {"ca125": "2000 kU/L"},
            "workup": {"pelvic_ultrasound": "negative", "gynecological_examination": "negative"},
        },
        ["labs.ca125", "markers.pax8", "markers.wt1", "workup.pelvic_ultrasound"],
    ),
    (
        "afp-hcg-values-midline",
        {
            **MAN,
            **PDC,
            "age": 27,
            "sites": ["retroperitoneal_nodes", "mediastinal_nodes"],
            "imaging": {"midline_distribution": "yes"},
            "labs": {"alpha-fetoprotein": 5000, "hcg": "25000 IU/L"},
        },
        ["labs.afp", "labs.beta_hcg"],
    ),
    (
        "cea-ca19-9-values",
        {
            **MAN,
            **ADENO,
            "age": 66,
            "sites": ["liver"],
            "labs": {"cea": "45 ng/mL", "ca19_9": "900 U/mL"},
        },
        ["labs.cea", "labs.ca19_9"],
    ),
    (
        "serum-thyroglobulin-value",
        {
            **WOMAN,
            **ADENO,
            "age": 58,
            "sites": ["bone"],
            "imaging": {"lytic_bone_lesions": "yes"},
            "features": ["thyroid_follicular"],
            "labs": {"thyroglobulin": "4000 ng/mL"},
        },
        ["labs.thyroglobulin"],
    ),
    (
        "chromogranin-5hiaa-values",
        {
            **MAN,
            "age": 60,
            "histology": "neuroendocrine_tumor",
            "sites": ["liver", "mesenteric_nodes"],
            "history": {"flushing_diarrhea": "yes"},
            "labs": {"chromogranin_a": "900 ng/mL", "urine_5hiaa": "40 mg/24h"},
        },
        ["labs.chromogranin_a", "labs.urine_5hiaa"],
    ),
    (
        "calcitonin-value",
        {
            **WOMAN,
            "age": 45,
            "histology": "neuroendocrine_carcinoma",
            "sites": ["cervical_nodes"],
            "labs": {"calcitonin": "2000 pg/mL"},
        },
        ["labs.calcitonin"],
    ),
    (
        "calcium-ldh-other-units",
        {
            **MAN,
            **PDC,
            "age": 61,
            "sites": ["liver", "bone"],
            "labs": {"calcium": "11.8 mg/dL", "ldh": "9 µkat/L", "alkaline_phosphatase": 400},
        },
        ["labs.calcium", "labs.ldh", "labs.alkaline_phosphatase"],
    ),
    (
        "every-routine-blood-given",
        {
            **MAN,
            **ADENO,
            "age": 60,
            "sites": ["liver"],
            "labs": {
                "ldh": 300,
                "calcium": 2.4,
                "liver_enzymes": "normal",
                "psa": 1,
                "cea": 3,
                "ca19_9": 20,
                "afp": 2,
                "bilirubin": 10,
                "alkaline_phosphatase": 100,
            },
        },
        ["labs.ldh", "labs.calcium", "labs.liver_enzymes", "labs.psa", "labs.afp"],
    ),
    # Molecular and viral results.
    (
        "egfr-detected",
        {
            **WOMAN,
            **ADENO,
            "age": 55,
            "sites": ["brain", "lung"],
            "markers": {"ttf1": "positive", "ck7": "positive"},
            "molecular": {"egfr": "detected"},
        },
        ["molecular.egfr", "markers.ttf1"],
    ),
    (
        "alk-rearrangement",
        {
            **MAN,
            **ADENO,
            "age": 40,
            "sites": ["pleura", "bone"],
            "history": {"smoking": "no"},
            "molecular": {"ALK rearrangement": "positive"},
        },
        ["molecular.alk", "history.smoking"],
    ),
    (
        "kras-g12c-implies-kras",
        {
            **MAN,
            **ADENO,
            "age": 66,
            "sites": ["liver", "lung"],
            "markers": {"ck7": "positive", "ck20": "negative"},
            "molecular": {"kras_g12c": "detected"},
        },
        ["molecular.kras_g12c", "molecular.kras"],
    ),
    (
        "braf-melanoma",
        {
            **MAN,
            **PDC,
            "age": 50,
            "sites": ["axillary_nodes"],
            "markers": {"s100": "positive", "sox10": "positive", "pan_ck": "negative"},
            "molecular": {"BRAF V600E": "mutated"},
        },
        ["molecular.braf_v600e", "markers.s100", "markers.sox10"],
    ),
    (
        "hpv-dna-neck",
        {
            **MAN,
            **SCC,
            "age": 56,
            "sites": ["cervical_nodes"],
            "features": ["cystic"],
            "molecular": {"HPV DNA": "detected"},
        },
        ["molecular.hpv"],
    ),
    (
        "eber-neck",
        {**MAN, **PDC, "age": 45, "sites": ["cervical_nodes"], "molecular": {"EBER": "positive"}},
        ["molecular.ebv"],
    ),
    (
        "msi-h-colorectal-profile",
        {
            **WOMAN,
            **ADENO,
            "age": 50,
            "sites": ["liver", "peritoneum"],
            "markers": CRC_STAINS,
            "molecular": {"MSI-H": "detected"},
        },
        ["molecular.msi_high", "markers.cdx2"],
    ),
    (
        "ngs-done",
        {
            **MAN,
            **ADENO,
            "age": 62,
            "sites": ["liver", "lung", "bone"],
            "history": {"poor_performance_status": "no"},
            "molecular": {
                "egfr": "not_detected",
                "alk": "not_detected",
                "ros1": "not_detected",
                "kras": "not_detected",
                "braf_v600e": "not_detected",
                "msi_high": "not_detected",
            },
        },
        ["molecular.egfr", "molecular.alk", "molecular.kras", "molecular.kras_g12c"],
    ),
    (
        "idh-fgfr2-biliary",
        {
            **WOMAN,
            **ADENO,
            "age": 60,
            "sites": ["liver"],
            "markers": {"ck7": "positive", "ck20": "negative"},
            "molecular": {"idh1_2": "detected", "fgfr2_fusion": "not_detected"},
        },
        ["molecular.idh1_2", "molecular.fgfr2_fusion"],
    ),
    # A tissue-of-origin assay and the pathologist's stated origin.
    (
        "tissue-of-origin-colorectal",
        {**MAN, **ADENO, "age": 62, "sites": ["liver"], "tissue_of_origin": "colorectal"},
        ["tissue_of_origin"],
    ),
    (
        "pathology-favours-breast",
        {**WOMAN, **ADENO, "age": 50, "sites": ["axillary_nodes"], "pathology_favours": "breast"},
        ["pathology_favours"],
    ),
    (
        "pathology-favours-two-mullerian",
        {
            **WOMAN,
            **ADENO,
            "age": 60,
            "sites": ["peritoneum"],
            "pathology_favours": ["ovary", "endometrium"],
        },
        ["pathology_favours"],
    ),
    # Negative (or abnormal) organ work-up, with the names a report uses.
    (
        "mammogram-negative",
        {
            **WOMAN,
            **ADENO,
            "age": 49,
            "sites": ["axillary_nodes"],
            "workup": {"mammogram": "negative", "breast US": "negative"},
        },
        ["workup.mammography", "workup.breast_ultrasound"],
    ),
    (
        "breast-mri-too",
        {
            **WOMAN,
            **ADENO,
            "age": 50,
            "sites": ["axillary_nodes"],
            "workup": {
                "mammography": "negative",
                "breast_mri": "negative",
                "breast_ultrasound": "negative",
            },
        },
        ["workup.mammography", "workup.breast_mri", "workup.breast_ultrasound"],
    ),
    (
        "colonoscopy-negative",
        {
            **MAN,
            **ADENO,
            "age": 64,
            "sites": ["liver"],
            "markers": CRC_STAINS,
            "workup": {"colonoscopy": "negative"},
        },
        ["workup.colonoscopy", "markers.ck20"],
    ),
    (
        "colonoscopy-abnormal",
        {
            **MAN,
            **ADENO,
            "age": 60,
            "sites": ["liver"],
            "markers": CRC_STAINS,
            "workup": {"colonoscopy": "abnormal"},
        },
        ["workup.colonoscopy"],
    ),
    (
        "gastroscopy-negative-signet-ring",
        {
            **MAN,
            **ADENO,
            "age": 64,
            "sites": ["peritoneum", "supraclavicular_nodes"],
            "features": ["signet_ring"],
            "workup": {"gastroscopy": "negative"},
        },
        ["workup.upper_endoscopy"],
    ),
    (
        "pet-and-panendoscopy-negative",
        {
            **MAN,
            **SCC,
            "age": 60,
            "sites": ["cervical_nodes"],
            "workup": {"PET-CT": "negative", "panendoscopy": "negative"},
        },
        ["workup.pet_ct", "workup.panendoscopy"],
    ),
    (
        "neck-everything-done",
        {
            **MAN,
            **SCC,
            "age": 60,
            "sites": ["cervical_nodes"],
            "markers": {"p16": "positive"},
            "molecular": {"hpv": "detected", "ebv": "not_detected"},
            "workup": {"panendoscopy": "negative", "pet_ct": "negative"},
        },
        ["markers.p16", "molecular.hpv", "molecular.ebv", "workup.pet_ct", "workup.panendoscopy"],
    ),
    (
        "groin-everything-done",
        {
            **WOMAN,
            **SCC,
            "age": 60,
            "sites": ["inguinal_nodes"],
            "markers": {"p16": "positive"},
            "molecular": {"hpv": "detected"},
            "workup": {
                "gynecological_examination": "negative",
                "DRE": "negative",
                "pet_ct": "negative",
                "skin_examination": "negative",
            },
        },
        [
            "workup.gynecological_examination",
            "workup.rectal_examination",
            "workup.pet_ct",
            "workup.skin_examination",
        ],
    ),
    (
        "ct-cap-negative",
        {**WOMAN, **ADENO, "age": 60, "sites": ["liver"], "workup": {"CT CAP": "negative"}},
        ["workup.ct_chest_abdomen_pelvis"],
    ),
    # The staging CT given as its two parts is the CT of chest, abdomen and pelvis.
    (
        "ct-chest-and-abdomen-given-apart",
        {
            **MAN,
            **SCC,
            "age": 70,
            "sites": ["bone"],
            "history": {"smoking": "yes"},
            "workup": {
                "chest_radiograph": "negative",
                "CT thorax": "negative",
                "ct_abdomen_pelvis": "negative",
            },
        },
        ["workup.ct_chest_abdomen_pelvis", "workup.chest_ct", "workup.ct_abdomen_pelvis"],
    ),
    (
        "ct-chest-abnormal-abdomen-negative",
        {
            **MAN,
            **ADENO,
            "age": 66,
            "sites": ["brain"],
            "workup": {"chest_ct": "abnormal", "ct_abdomen_pelvis": "negative"},
        },
        ["workup.ct_chest_abdomen_pelvis"],
    ),
    (
        "cystoscopy-negative",
        {
            **MAN,
            **PDC,
            "age": 70,
            "sites": ["pelvic_nodes"],
            "markers": {"gata3": "positive", "ck7": "positive", "ck20": "positive"},
            "workup": {"cystoscopy": "negative"},
        },
        ["workup.cystoscopy", "markers.gata3"],
    ),
    (
        "testicular-ultrasound-negative",
        {
            **MAN,
            **PDC,
            "age": 30,
            "sites": ["retroperitoneal_nodes"],
            "labs": {"afp": 900},
            "workup": {"testicular_ultrasound": "negative"},
        },
        ["workup.testicular_ultrasound", "labs.afp"],
    ),
    (
        "thyroid-ultrasound-negative",
        {
            **WOMAN,
            **ADENO,
            "age": 45,
            "sites": ["cervical_nodes"],
            "features": ["papillary", "psammoma_bodies"],
            "workup": {"thyroid_ultrasound": "negative"},
        },
        ["workup.thyroid_ultrasound"],
    ),
    (
        "bronchoscopy-ebus-negative",
        {
            **MAN,
            "age": 66,
            "histology": "small_cell_carcinoma",
            "sites": ["mediastinal_nodes", "liver"],
            "history": {"smoking": "yes"},
            "workup": {"EBUS": "negative"},
        },
        ["workup.bronchoscopy"],
    ),
    (
        "eus-negative",
        {
            **MAN,
            **ADENO,
            "age": 66,
            "sites": ["liver"],
            "markers": {"ck7": "positive", "ck20": "positive"},
            "labs": {"ca19_9": 2000},
            "workup": {"EUS": "negative"},
        },
        ["workup.endoscopic_ultrasound", "labs.ca19_9"],
    ),
    # Several earlier cancers, as ids and as words.
    (
        "two-earlier-cancers",
        {
            **WOMAN,
            **ADENO,
            "age": 70,
            "sites": ["lung", "liver"],
            "prior_cancer": ["breast", "colorectal"],
        },
        ["prior_cancer"],
    ),
    (
        "earlier-cancers-as-words",
        {
            **WOMAN,
            **ADENO,
            "age": 60,
            "sites": ["lung"],
            "prior_cancer": ["breast cancer", "colon"],
        },
        ["prior_cancer"],
    ),
    # Sites given as a complete list answer the node-pattern questions.
    (
        "one-nodal-station-listed",
        {**MAN, **PDC, "age": 50, "sites": ["axillary_nodes"], "markers": {"s100": "positive"}},
        [
            "imaging.generalised_lymphadenopathy",
            "imaging.midline_distribution",
        ],
    ),
]


def _held(case):
    """What the case holds: every answer as given (one set aside for a conflict included) and
    every answer the answers the reasoning reads imply (rules/implications.yaml; a premise
    set aside implies nothing)."""
    implied = implied_answers(case.findings(VOCABULARY), VOCABULARY)
    return set(case.answers(VOCABULARY)) | set(implied)


def _requests(assessment):
    """(where, text, the findings it asks for) for every advice item and confirming test."""
    found = [
        (a.rule_id, a.text, set(KB.rules_by_id[a.rule_id].asks_for)) for a in assessment.advice
    ]
    for subset in assessment.subsets:
        steps = {s.text: s for s in KB.subsets[subset.id].workup}
        found += [(subset.id, t, set(steps[t].asks_for)) for t in subset.workup]
    return found


def _asked_again(assessment, held):
    """Every request for something held: listed in asks_for, or named in the text by label or
    synonym (a name shared by a stain and a serum test counts when the item asks for neither
    open one; a result written as context, 'raised AFP', is not a request)."""
    found = []
    for where, text, asks_for in _requests(assessment):
        found += [(where, key) for key in sorted(asks_for & held)]
        for name, keys in named_tests(KB, text).items():
            match = re.search(name_pattern(name), text, re.IGNORECASE)
            before = text[: match.start()] if match else ""
            if keys & held and not (keys & asks_for) - held and not RESULT.search(before):
                found.append((where, name))
    for suggestion in (*assessment.next_questions, *assessment.next_tests):
        if suggestion.finding in held:
            found.append(("suggested", suggestion.finding))
    return found


def _interview_asks(case, held, questions=INTERVIEW_QUESTIONS):
    """The held findings the interview's next-question path asks, question after question
    (each answered 'unknown' to move on)."""
    interview = Interview(cup_triage.triage(), case, QUESTIONNAIRE)
    found = []
    for _ in range(questions):
        question = interview.next_question()
        if question is None:
            break
        keys = (
            [f"{question.path}.{a}" for a in question.answers]
            if question.kind == "several"
            else [question.path]
        )
        found += [k for k in keys if k in held]
        interview.answer(question.path, "unknown")
    return found


@pytest.mark.parametrize("held_case", sampled_by_default(HELD, 4, ids=lambda h: h[0]))
def test_nothing_the_case_holds_is_asked_for_again(held_case):
    name, data, keys = held_case
    case = cup_triage.parse_case({"id": name, **data})
    held = _held(case)
    assert set(keys) <= held, sorted(set(keys) - held)
    assessment = cup_triage.assess(case)
    assert _asked_again(assessment, held) == []
    assert _interview_asks(case, held) == []


@pytest.mark.slow  # every held case through the CLI; the per-case test samples them by default
def test_rank_json_and_the_report_ask_for_nothing_held_either(tmp_path):
    path = tmp_path / "held.yaml"
    path.write_text(yaml.safe_dump([{"id": n, **d} for n, d, _ in HELD], allow_unicode=True))
    result = CliRunner().invoke(cli, ["rank", str(path), "--json"])
    assert result.exit_code == 0, result.output
    entries = {
        e["assessment"]["case_id"]: e["assessment"]
        for e in json.loads(result.output)["assessments"]
    }
    for name, data, _ in HELD:
        held = _held(cup_triage.parse_case({"id": name, **data}))
        entry = entries[name]
        asks = {k for a in entry["advice"] for k in KB.rules_by_id[a["rule_id"]].asks_for}
        suggested = {s["finding"] for s in (*entry["next_questions"], *entry["next_tests"])}
        assert not (asks | suggested) & held, (name, sorted((asks | suggested) & held))
    text = CliRunner().invoke(cli, ["rank", str(path)])
    assert text.exit_code == 0
    assert (
        "Arrange contrast CT of chest, abdomen and pelvis"
        not in text.output.split("ct-chest-and-abdomen-given-apart")[1].split("\n╭")[0]
    )


# ------------------------------------------------------------ flagged: one answer against another
SOLITARY = {"solitary_lesion": "yes"}
# (name, case, the implication it breaks, the subset it must not raise)
FLAGGED = [
    (
        "solitary-with-generalised-nodes",
        {
            **MAN,
            **ADENO,
            "age": 60,
            "sites": {"liver": "yes"},
            "imaging": {**SOLITARY, "generalised_lymphadenopathy": "yes"},
        },
        "solitary.not_generalised_nodes",
        "single_metastasis",
    ),
    (
        "solitary-three-node-stations",
        {
            **MAN,
            **SCC,
            "age": 60,
            "sites": ["cervical_nodes", "axillary_nodes", "inguinal_nodes"],
            "imaging": SOLITARY,
        },
        "solitary.one_site",
        "single_metastasis",
    ),
    (
        "solitary-two-sites-by-synonym",
        {
            **WOMAN,
            **ADENO,
            "age": 60,
            "sites": {"adrenal gland": "yes", "intracranial": "yes"},
            "imaging": SOLITARY,
        },
        "solitary.one_site",
        "single_metastasis",
    ),
    (
        "solitary-no-site",
        {**WOMAN, **ADENO, "sites": [], "imaging": SOLITARY},
        "solitary.at_a_site",
        "single_metastasis",
    ),
    (
        "blastic-lesions-osseous-no",
        {
            **MAN,
            **ADENO,
            "age": 70,
            "sites": {"osseous": "no", "liver": "yes"},
            "imaging": {"blastic_bone_lesions": "yes"},
            "labs": {"psa": 300},
        },
        "bone.blastic_lesions_are_bone_metastases",
        "prostate_bone_psa",
    ),
    (
        "lytic-lesions-list-without-bone",
        {
            **WOMAN,
            **ADENO,
            "age": 60,
            "sites": ["lung", "liver"],
            "imaging": {"lytic_bone_lesions": "present"},
        },
        "bone.lytic_lesions_are_bone_metastases",
        None,
    ),
    (
        "midline-with-lung-only",
        {
            **MAN,
            **PDC,
            "age": 28,
            "sites": ["lung"],
            "imaging": {"midline_distribution": "yes"},
            "labs": {"afp": 900},
        },
        "midline.is_mediastinal_or_retroperitoneal",
        "midline_germ_cell_like",
    ),
    (
        "midline-with-midline-nodes-no",
        {
            **MAN,
            **PDC,
            "age": 28,
            "sites": {"mediastinal_nodes": "no", "retroperitoneal_nodes": "no", "lung": "yes"},
            "imaging": {"midline_distribution": "yes"},
            "labs": {"beta_hcg": 50000},
        },
        "midline.is_mediastinal_or_retroperitoneal",
        "midline_germ_cell_like",
    ),
    (
        "generalised-nodes-without-nodes",
        {
            **MAN,
            **PDC,
            "age": 40,
            "sites": ["liver", "bone"],
            "imaging": {"generalised_lymphadenopathy": "yes"},
            "labs": {"ldh": 900},
        },
        "generalised_nodes.are_several_stations",
        None,
    ),
    (
        "generalised-nodes-one-station",
        {
            **MAN,
            **PDC,
            "age": 40,
            "sites": ["cervical_nodes"],
            "imaging": {"generalised_lymphadenopathy": "yes"},
        },
        "generalised_nodes.are_several_stations",
        None,
    ),
    (
        "g12c-in-kras-wild-type",
        {
            **ADENO,
            "sites": ["lung", "liver"],
            "molecular": {"kras_g12c": "positive", "kras": "negative"},
        },
        "molecular.kras_g12c_is_a_kras_mutation",
        None,
    ),
    (
        "ct-cap-negative-chest-abnormal",
        {
            **MAN,
            **ADENO,
            "age": 60,
            "sites": ["liver"],
            "workup": {
                "ct_chest_abdomen_pelvis": "negative",
                "chest_ct": "abnormal",
                "ct_abdomen_pelvis": "negative",
            },
        },
        "ct.abnormal_chest_is_an_abnormal_ct_cap",
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "implication", "subset"), FLAGGED, ids=[f[0] for f in FLAGGED]
)
def test_contradictory_findings_raise_no_subset_and_a_warning_names_the_fields(
    name, data, implication, subset
):
    case = cup_triage.parse_case({"id": name, **data})
    assessment = cup_triage.assess(case)
    conflicts = {c.implication: c for c in assessment.data_conflicts}
    assert implication in conflicts, [c.message for c in assessment.data_conflicts]
    conflict = conflicts[implication]
    premise, consequence = conflict.fields
    assert conflict.message.startswith(f"{premise}: ") and consequence in conflict.message
    assert "\n" not in conflict.message and "set aside" in conflict.message
    raised = {s.id for s in assessment.subsets}
    assert subset not in raised
    # Nothing counted rests on the premise set aside.
    reads = {c.finding for f in assessment.fired for c in KB.rules_by_id[f.rule_id].when}
    assert premise not in reads
    # The premise is not asked again, by the advice or the interview.
    held = _held(case)
    assert premise in held
    assert _asked_again(assessment, held) == []
    assert _interview_asks(case, held, questions=4) == []


def test_the_report_shows_the_conflict_and_no_subset_box(tmp_path):
    name, data, _, subset = FLAGGED[6]
    path = tmp_path / "midline.yaml"
    path.write_text(yaml.safe_dump({"id": name, **data}))
    text = CliRunner().invoke(cli, ["rank", str(path)])
    assert text.exit_code == 0
    assert "DATA CONFLICT" in text.output and "imaging.midline_distribution" in text.output
    document = json.loads(CliRunner().invoke(cli, ["rank", str(path), "--json"]).output)
    entry = document["assessments"][0]["assessment"]
    assert entry["data_conflicts"][0]["fields"] == ["imaging.midline_distribution", "sites"]
    assert subset not in {s["id"] for s in entry["subsets"]}


# The same findings without the contradiction are evidence and raise what they should.
CONSISTENT = [
    (
        "midline-nodes",
        {
            **MAN,
            **PDC,
            "age": 28,
            "sites": ["mediastinal_nodes", "lung"],
            "imaging": {"midline_distribution": "yes"},
            "labs": {"afp": 900},
        },
        "midline_germ_cell_like",
    ),
    (
        "solitary-liver",
        {
            **MAN,
            **ADENO,
            "age": 60,
            "sites": ["liver"],
            "imaging": SOLITARY,
            "workup": {"pet_ct": "negative"},
        },
        "single_metastasis",
    ),
    (
        "generalised-nodes-open-sites",
        {
            **MAN,
            **PDC,
            "age": 40,
            "sites": {"cervical_nodes": "yes"},
            "imaging": {"generalised_lymphadenopathy": "yes"},
        },
        None,
    ),
]


@pytest.mark.parametrize(("name", "data", "subset"), CONSISTENT, ids=[c[0] for c in CONSISTENT])
def test_the_same_findings_without_a_contradiction_are_used(name, data, subset):
    assessment = cup_triage.assess({"id": name, **data})
    assert assessment.data_conflicts == ()
    if subset is not None:
        assert subset in {s.id for s in assessment.subsets}


# ------------------------------------------------------------------ refused: an impossible patient
REFUSED = [
    ("male-ovaries", {**MAN, "sites": {"ovaries": "yes"}}, "sites.ovary"),
    ("male-uterus-synonym", {"sex": "M", "sites": {"uterine": "yes"}}, "sites.uterus"),
    (
        "male-pathology-favours-ovary",
        {**MAN, "sites": ["peritoneum"], "pathology_favours": "ovarian"},
        "pathology_favours",
    ),
    (
        "male-favours-list",
        {**MAN, "pathology_favours": ["colorectal", "endometrial"]},
        "pathology_favours",
    ),
    (
        "male-vulval-lesion",
        {**MAN, "history": {"vulval_or_vaginal_lesion": "yes"}},
        "history.vulval_or_vaginal_lesion",
    ),
    (
        "female-penile-lesion",
        {**WOMAN, "history": {"penile_lesion": "yes"}},
        "history.penile_lesion",
    ),
    ("female-nkx3-1-positive", {**WOMAN, "markers": {"nkx3_1": "positive"}}, "markers.nkx3_1"),
    (
        "female-assay-prostate",
        {"sex": "woman", "tissue_of_origin": "prostatic"},
        "tissue_of_origin",
    ),
    (
        "no-sex-uterus-and-psa-stain",
        {"sites": {"uterus": "yes"}, "markers": {"psa": "positive"}},
        "markers.psa",
    ),
    ("normal-and-a-value", {**WOMAN, "labs": {"ca125": "normal", "CA-125": 900}}, "labs.ca125"),
    (
        "psa-normal-and-value-by-synonym",
        {**MAN, "labs": {"psa": "normal", "prostate specific antigen": "250 ng/mL"}},
        "labs.psa",
    ),
    (
        "er-both-ways-by-synonym",
        {**WOMAN, "markers": {"ER": "positive", "oestrogen receptor": "negative"}},
        "markers.er",
    ),
    (
        "ck7-both-ways-by-synonym",
        {"markers": {"ck7": "pos", "cytokeratin 7": "neg"}},
        "markers.ck7",
    ),
    ("lca-cd45-both-ways", {"markers": {"LCA": "positive", "CD45": "negative"}}, "markers.cd45"),
    (
        "keratin-both-ways",
        {"markers": {"AE1/AE3": "negative", "keratin": "positive"}},
        "markers.pan_ck",
    ),
    ("egfr-both-ways", {"molecular": {"egfr": "mutated", "EGFR": "wild type"}}, "molecular.egfr"),
    (
        "ebv-both-ways-by-synonym",
        {"molecular": {"ebv": "detected", "EBER": "negative"}},
        "molecular.ebv",
    ),
    (
        "ct-thorax-both-ways",
        {"workup": {"chest_ct": "negative", "CT thorax": "abnormal"}},
        "workup.chest_ct",
    ),
    (
        "upper-endoscopy-both-ways",
        {"workup": {"upper_endoscopy": "negative", "OGD": "abnormal"}},
        "workup.upper_endoscopy",
    ),
]


@pytest.mark.parametrize(("name", "data", "field"), REFUSED, ids=[r[0] for r in REFUSED])
def test_an_impossible_patient_is_refused_in_one_line_naming_case_and_field(name, data, field):
    with pytest.raises(CaseError) as raised:
        cup_triage.assess({"id": name, **data})
    line = str(raised.value)
    assert "\n" not in line
    assert line.startswith(f"case {name} › {field}: "), line


# --------------------------------------------- ranked: the advice agrees with a near-certain leader
# (name, case, the near-certain leader, advice rule ids and finding keys that must not appear)
RANKED = [
    (
        "axillary-node-lung-stains",
        {
            **WOMAN,
            **ADENO,
            "age": 50,
            "sites": ["axillary_nodes"],
            "markers": {
                "ttf1": "positive",
                "napsin_a": "positive",
                "ck7": "positive",
                "gata3": "negative",
                "er": "negative",
            },
        },
        "lung",
        ["workup.minimal.mammography.axillary_nodes"],
    ),
    (
        "bone-thyroglobulin-stain",
        {
            **MAN,
            **ADENO,
            "age": 70,
            "sites": ["bone"],
            "imaging": {"lytic_bone_lesions": "yes"},
            "features": ["thyroid_follicular"],
            "markers": {"thyroglobulin": "positive", "ttf1": "positive", "pax8": "positive"},
        },
        "thyroid",
        ["markers.psa", "markers.nkx3_1", "labs.psa", "workup.minimal.psa_stain_men"],
    ),
    (
        "hepatocellular-afp",
        {
            **MAN,
            "age": 60,
            "histology": "hepatocellular_carcinoma",
            "sites": ["lung", "bone"],
            "history": {"hepatitis_or_cirrhosis": "yes"},
            "labs": {"afp": "4000 ng/mL"},
            "markers": {"hepar1": "positive", "arginase1": "positive"},
        },
        "liver",
        ["workup.minimal.testicular_us.raised_afp", "workup.testicular_ultrasound"],
    ),
    (
        "lymphoma-in-neck-nodes",
        {
            **MAN,
            **PDC,
            "age": 40,
            "sites": ["cervical_nodes", "mediastinal_nodes", "inguinal_nodes"],
            "markers": {"cd45": "positive", "pan_ck": "negative", "cd20": "positive"},
            "imaging": {"generalised_lymphadenopathy": "yes"},
        },
        "lymphoma",
        [
            "workup.targeted.cervical_nodes_non_squamous",
            "workup.targeted.cervical_nodes_non_squamous.ebv",
            "molecular.ebv",
            "workup.thyroid_ultrasound",
        ],
    ),
    (
        "melanoma-in-axilla",
        {
            **WOMAN,
            **PDC,
            "age": 50,
            "sites": ["axillary_nodes", "lung"],
            "markers": {
                "s100": "positive",
                "sox10": "positive",
                "melan_a": "positive",
                "hmb45": "positive",
                "pan_ck": "negative",
            },
        },
        "melanoma",
        ["workup.minimal.mammography.axillary_nodes", "workup.mammography"],
    ),
    (
        "peritoneum-colorectal-profile",
        {
            **WOMAN,
            **ADENO,
            "age": 60,
            "sites": ["peritoneum"],
            "features": ["serous"],
            "markers": {**CRC_STAINS, "satb2": "positive", "pax8": "negative"},
            "workup": {"colonoscopy": "abnormal"},
        },
        "colorectal",
        ["workup.targeted.peritoneal_women"],
    ),
    (
        "prostate-psa-bone",
        {
            **MAN,
            **ADENO,
            "age": 72,
            "sites": ["bone"],
            "imaging": {"blastic_bone_lesions": "yes"},
            "labs": {"psa": 400},
            "markers": {"nkx3_1": "positive"},
            "workup": {"rectal_examination": "abnormal"},
        },
        "prostate",
        ["labs.psa", "markers.nkx3_1", "workup.rectal_examination"],
    ),
    (
        "lung-egfr-brain",
        {
            **WOMAN,
            **ADENO,
            "age": 50,
            "sites": ["brain", "bone"],
            "markers": {
                "ttf1": "positive",
                "napsin_a": "positive",
                "ck7": "positive",
                "ck20": "negative",
            },
            "molecular": {"egfr": "detected"},
        },
        "lung",
        ["workup.minimal.mammography.bone_adenocarcinoma", "molecular.egfr"],
    ),
    (
        "groin-squamous-cervical-lead",
        {
            **WOMAN,
            **SCC,
            "age": 45,
            "sites": ["inguinal_nodes"],
            "markers": {"p16": "positive"},
            "history": {"postmenopausal_bleeding": "yes"},
            "workup": {"gynecological_examination": "abnormal"},
        },
        None,
        ["markers.p16", "workup.gynecological_examination"],
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "leader", "forbidden"), RANKED, ids=[r[0] for r in RANKED]
)
def test_treat_as_and_the_advice_never_contradict_a_near_certain_leader(
    name, data, leader, forbidden
):
    assessment = cup_triage.assess({"id": name, **data})
    top = assessment.candidates[0]
    if leader is not None:
        assert (top.primary, top.probability >= NEAR_CERTAIN) == (leader, True), top
    if top.probability >= NEAR_CERTAIN:
        assert all(s.treat_as == top.primary for s in assessment.subsets)
    shown = {a.rule_id for a in assessment.advice}
    shown |= {k for a in assessment.advice for k in KB.rules_by_id[a.rule_id].asks_for}
    shown |= {s.finding for s in (*assessment.next_questions, *assessment.next_tests)}
    assert not shown & set(forbidden), sorted(shown & set(forbidden))
