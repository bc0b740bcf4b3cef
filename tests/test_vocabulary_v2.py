"""Version 2 of the case format (docs/case-format.md): what real work-ups say can be written."""

import json
import math

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cup_triage.cli import cli
from cup_triage.reasoning.case import parse_case
from cup_triage.reasoning.errors import CaseError, KnowledgeError
from cup_triage.reasoning.evaluator import holds
from cup_triage.reasoning.knowledge import Condition, KnowledgeBase, RulesFile
from cup_triage.reasoning.lint import lint
from cup_triage.reasoning.triage import Triage

from .strategies import VOCABULARY, case_data, examples

ACCEPTED = [
    # Squamous carcinoma in a groin node: the differential of version 2.
    {
        "id": "inguinal-scc",
        "sex": "female",
        "sites": ["inguinal_nodes", "pelvic_nodes"],
        "histology": "squamous_cell_carcinoma",
        "markers": {"p16": "positive", "p40": "positive"},
        "molecular": {"hpv": "detected"},
        "workup": {"gynecological_examination": "negative", "colonoscopy": "negative"},
        "history": {"anal_symptoms": "no", "vulval_or_vaginal_lesion": "no"},
        "source": "Doe J et al. A case of inguinal squamous CUP. J Case Rep 2020;1:1.",
    },
    # Follicular morphology on a bone biopsy with a serum thyroglobulin in the thousands.
    {
        "id": "bone-thyroid",
        "sex": "male",
        "sites": ["bone"],
        "features": ["thyroid_follicular"],
        "imaging": {"lytic_bone_lesions": "yes"},
        "labs": {"thyroglobulin": "4500 ng/mL", "psa": 1.2, "alkaline_phosphatase": "elevated"},
        "prior_cancer": ["melanoma", "colorectal"],
        "tissue_of_origin": "thyroid",
    },
    # Lab values in every accepted form.
    {
        "id": "units",
        "labs": {
            "calcium": "11.2 mg/dL",
            "ldh": "9 µkat/L",
            "beta_hcg": "25000 mIU/mL",
            "afp": "1000 kU/L",
            "urine_5hiaa": "300 umol/24h",
            "ca125": "80 U/ml",
            "liver_enzymes": "normal",
        },
        "molecular": {"egfr": "not_detected", "kras_g12c": "detected", "msi_high": "not_detected"},
        "prior_cancer": [],
    },
    {"id": "merkel", "histology": "merkel_cell_carcinoma", "markers": {"ck20": "positive"}},
]


@pytest.mark.parametrize("data", ACCEPTED, ids=lambda d: d["id"])
def test_version_2_cases_are_accepted_and_round_trip(data):
    case = parse_case(data, VOCABULARY)
    again = parse_case(case.to_file_dict(VOCABULARY), VOCABULARY)
    assert again.findings(VOCABULARY) == case.findings(VOCABULARY)


REFUSED = [
    (
        {"id": "r1", "labs": {"psa": "250 mmol/L"}},
        "labs.psa: unit 'mmol/L' is not accepted; expected ng/mL | µg/L",
    ),
    ({"id": "r2", "labs": {"psa": -3}}, "labs.psa: a value cannot be negative, got -3"),
    (
        {"id": "r2b", "labs": {"afp": "<2 ng/mL"}},
        "labs.afp: a bound is not a value, got '<2 ng/mL'; give the answer it means "
        "(elevated or normal) or the value itself",
    ),
    (
        {"id": "r2c", "labs": {"beta_hcg": "250,000 IU/L"}},
        "labs.beta_hcg: write the number without thousands separators, got '250,000 IU/L'",
    ),
    ({"id": "r3", "labs": {"psa": math.nan}}, "labs.psa: a value is a finite number, got nan"),
    ({"id": "r4", "labs": {"cea": math.inf}}, "labs.cea: a value is a finite number, got inf"),
    (
        {"id": "r5", "labs": {"liver_enzymes": 80}},
        "labs.liver_enzymes: takes elevated | normal only, got 80",
    ),
    (
        {"id": "r6", "labs": {"psa": "borderline"}},
        "labs.psa: expected elevated | normal or a value in ng/mL, got 'borderline'",
    ),
    (
        {"id": "r7", "molecular": {"egfr": "equivocal"}},
        "molecular.egfr: expected detected | not_detected, got 'equivocal'",
    ),
    (
        {"id": "r8", "workup": {"mammography": "normal"}},
        "workup.mammography: expected abnormal | negative, got 'normal'",
    ),
    (
        {"id": "r9", "sex": "female", "prior_cancer": ["breast", "prostate"]},
        "prior_cancer: Prostate primary in a female patient",
    ),
    ({"id": "r10", "prior_cancer": ["breast", "kolon"]}, "prior_cancer[1]: expected one of"),
    ({"id": "r11", "prior_cancer": ["breast", "none"]}, "prior_cancer: none together with"),
    (
        {"id": "r12", "tissue_of_origin": "lungs"},
        "tissue_of_origin: expected one of the primary ids, got 'lungs' (did you mean 'lung'?)",
    ),
    (
        {"id": "r13", "sex": "female", "labs": {"psa": 30}},
        "labs.psa: serum PSA elevated in a female patient",
    ),
    ({"id": "r14", "source": ["a", "b"]}, "source: a source is the citation as text"),
]


@pytest.mark.parametrize(
    ("data", "expected"), REFUSED, ids=lambda x: x if isinstance(x, str) else x["id"]
)
def test_invalid_version_2_answers_are_refused_with_one_line(data, expected):
    with pytest.raises(CaseError) as raised:
        parse_case(data, VOCABULARY, file="c.yaml")
    assert f"c.yaml › case {data['id']} › {expected}" in str(raised.value)


def test_a_lab_value_reads_as_elevated_or_normal_and_keeps_its_number():
    findings = parse_case(
        {"id": "v", "labs": {"psa": 250, "cea": "3 µg/L", "calcium": "12 mg/dL"}}, VOCABULARY
    ).findings(VOCABULARY)
    assert findings["labs.psa"] == "elevated" and findings["labs.psa"].value == 250
    assert findings["labs.cea"] == "normal" and findings["labs.cea"].value == 3
    assert findings["labs.calcium"] == "elevated"
    assert math.isclose(findings["labs.calcium"].value, 12 * 0.2495)


def test_several_earlier_cancers_are_one_sorted_finding():
    findings = parse_case({"id": "p", "prior_cancer": ["melanoma", "breast"]}, VOCABULARY).findings(
        VOCABULARY
    )
    assert findings["prior_cancer"] == ("breast", "melanoma")
    assert holds(Condition(finding="prior_cancer", is_="melanoma"), findings["prior_cancer"])
    assert not holds(Condition(finding="prior_cancer", is_not="breast"), findings["prior_cancer"])


MEASURED = [f for f in VOCABULARY.findings.values() if f.is_measured]


@given(st.sampled_from(MEASURED), st.floats(min_value=1.0001, max_value=1e6))
def test_a_value_above_the_upper_limit_always_reads_as_elevated(finding, times):
    value = finding.upper_limit * times
    reading = finding.reading(finding.read_value(f"{value!r} {finding.unit}"))
    assert reading == finding.answers[0]


@given(st.sampled_from(MEASURED), st.floats(min_value=0, max_value=1))
def test_a_value_at_or_below_the_upper_limit_reads_as_normal(finding, share):
    reading = finding.reading(finding.read_value(finding.upper_limit * share))
    assert reading == finding.answers[1]


def test_a_threshold_holds_only_for_a_known_value():
    at_least = Condition(finding="labs.psa", at_least=100)
    psa = VOCABULARY.findings["labs.psa"]
    assert holds(at_least, psa.reading(250.0))
    assert not holds(at_least, psa.reading(50.0))
    assert not holds(at_least, "elevated")
    assert not holds(at_least, None)


# Rules of the shape the knowledge base will write for version 2: thresholds on lab values,
# elevated/normal on labs that may be given as values, earlier cancers given as lists.
THRESHOLD_RULES = [
    {"finding": "labs.psa", "at_least": 100},
    {"finding": "labs.afp", "at_least": 400},
    {"finding": "labs.beta_hcg", "at_least": 10000},
    {"finding": "labs.ca125", "below": 200},
    {"finding": "labs.calcium", "is": "elevated"},
    {"finding": "labs.cea", "is": ["normal", "unknown"]},
    {"finding": "labs.ldh", "is_not": "elevated"},
    {"finding": "prior_cancer", "is": ["breast", "melanoma"]},
    {"finding": "prior_cancer", "is_not": "lung"},
    {"finding": "prior_cancer", "is": "none"},
    {"finding": "molecular.hpv", "is": "detected"},
    {"finding": "workup.colonoscopy", "is": "negative"},
]


@pytest.fixture(scope="module")
def threshold_triage(kb):
    rules = [
        {
            "id": f"test.v2.{index}",
            "kind": "serum_marker",
            "when": [condition],
            "lr": {"lung": 2.0},
            "rationale": "A test rule of the version-2 condition syntax.",
            "source": "tests/test_vocabulary_v2.py",
        }
        for index, condition in enumerate(THRESHOLD_RULES)
    ]
    rules.append({**rules[0], "id": "test.v2.both", "when": THRESHOLD_RULES[:2]})
    files = {
        "priors.yaml": kb.files["priors.yaml"],
        "test.yaml": RulesFile.model_validate({"description": "test rules", "rules": rules}),
    }
    return Triage(KnowledgeBase(kb.vocabulary, files))


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_data())
def test_thresholds_and_lists_fire_alike_in_engine_and_evaluator(threshold_triage, data):
    findings = parse_case(data, VOCABULARY).findings(VOCABULARY)
    assert threshold_triage.evaluator.fire(findings) == threshold_triage.engine.run(findings)


FIRES = [
    ({"labs": {"psa": 250}}, {"test.v2.0", "test.v2.5"}),
    ({"labs": {"psa": "elevated"}}, {"test.v2.5"}),
    ({"labs": {"psa": "60 µg/L", "afp": "500 kU/L"}}, {"test.v2.1", "test.v2.5"}),
    ({"labs": {"psa": 120, "afp": 401}}, {"test.v2.0", "test.v2.1", "test.v2.both", "test.v2.5"}),
    ({"labs": {"ca125": "normal", "calcium": "2.9 mmol/L"}}, {"test.v2.4", "test.v2.5"}),
    ({"labs": {"ca125": 150, "ldh": 100}}, {"test.v2.3", "test.v2.5", "test.v2.6"}),
    ({"prior_cancer": ["lung", "melanoma"]}, {"test.v2.5", "test.v2.7"}),
    ({"prior_cancer": []}, {"test.v2.5", "test.v2.8", "test.v2.9"}),
    (
        {"molecular": {"hpv": "detected"}, "workup": {"colonoscopy": "negative"}},
        {"test.v2.5", "test.v2.10", "test.v2.11"},
    ),
]


@pytest.mark.parametrize(("findings", "fired"), FIRES)
def test_which_version_2_conditions_hold(threshold_triage, findings, fired):
    case = parse_case({"id": "t", "sex": "male", **findings}, VOCABULARY)
    run = threshold_triage.engine.run(case.findings(VOCABULARY))
    assert {rule for rule in run if rule.startswith("test.")} == fired


LINTED = [
    ([{"finding": "labs.psa", "is": "elevated"}, {"finding": "labs.psa", "at_least": 100}], []),
    ([{"finding": "labs.psa", "is": "normal"}, {"finding": "labs.psa", "below": 2}], []),
    ([{"finding": "prior_cancer", "is": "breast"}, {"finding": "prior_cancer", "is": "lung"}], []),
    (
        [{"finding": "labs.psa", "is": "normal"}, {"finding": "labs.psa", "at_least": 100}],
        ["can never fire: no answer of labs.psa meets all its conditions"],
    ),
    (
        [{"finding": "labs.psa", "at_least": 10}, {"finding": "labs.psa", "below": 5}],
        ["can never fire: no answer of labs.psa meets all its conditions"],
    ),
]


@pytest.mark.parametrize(("when", "errors"), LINTED)
def test_the_lint_knows_which_threshold_rules_can_fire(kb, when, errors):
    rule = {
        "id": "test.lint",
        "kind": "serum_marker",
        "when": when,
        "lr": {"lung": 2.0},
        "rationale": "A test rule of the version-2 condition syntax.",
        "source": "tests/test_vocabulary_v2.py",
    }
    files = {
        "priors.yaml": kb.files["priors.yaml"],
        "t.yaml": RulesFile.model_validate({"description": "test rules", "rules": [rule]}),
    }
    found = [p.message for p in lint(KnowledgeBase(kb.vocabulary, files)) if p.severity == "error"]
    assert found == errors


def test_a_threshold_on_a_test_without_a_unit_is_a_knowledge_error(kb):
    rule = {
        "id": "test.unitless",
        "kind": "serum_marker",
        "when": [{"finding": "labs.liver_enzymes", "at_least": 3}],
        "lr": {"liver": 2.0},
        "rationale": "A test rule of the version-2 condition syntax.",
        "source": "tests/test_vocabulary_v2.py",
    }
    files = {
        "priors.yaml": kb.files["priors.yaml"],
        "t.yaml": RulesFile.model_validate({"description": "test rules", "rules": [rule]}),
    }
    with pytest.raises(KnowledgeError, match="labs.liver_enzymes has no measured value"):
        KnowledgeBase(kb.vocabulary, files)


def test_the_vocab_command_lists_the_units_a_transcriber_may_use():
    result = CliRunner().invoke(cli, ["vocab", "labs"])
    assert result.exit_code == 0
    assert (
        "labs.calcium: serum calcium — elevated | normal | a value "
        "(mmol/L, mg/dL, mEq/L; upper limit 2.6 mmol/L)" in result.output
    )
    rows = json.loads(CliRunner().invoke(cli, ["vocab", "molecular", "--json"]).output)
    assert {"key": "molecular.hpv", "label": "high-risk HPV in the tumour"}.items() <= rows[
        8
    ].items()
    wrong = CliRunner().invoke(cli, ["vocab", "lab"])
    assert wrong.exit_code == 2
    assert wrong.output.strip() == "Error: unknown section 'lab' (did you mean 'labs'?)"
