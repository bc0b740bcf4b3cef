"""The interview as a clinician (or a script) drives it: clinical order, stopping, clinical
words, safe saving; and an oracle over the held-out cases that answers from the full case."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cup_triage.cli import cli
from cup_triage.io.load import bundled_knowledge_base, load_case, load_questionnaire
from cup_triage.reasoning.case import parse_case
from cup_triage.reasoning.vocabulary import SECTIONS
from cup_triage.sessions.interview import UNKNOWN, Interview

ROOT = Path(__file__).resolve().parent.parent
KB = bundled_knowledge_base()
VOCABULARY = KB.vocabulary
QUESTIONNAIRE = load_questionnaire(VOCABULARY)
QUESTION_PREFIXES = tuple(f"[{step.label}]" for step in VOCABULARY.steps.values()) + tuple(
    f"[{stage.label}]" for stage in QUESTIONNAIRE.stages
)


@pytest.fixture(scope="module")
def start(triage):
    def begin(data: dict) -> Interview:
        return Interview(triage, parse_case({"id": "t", **data}, VOCABULARY), QUESTIONNAIRE)

    return begin


def oracle(case, path: str) -> str:
    """The answer the full case holds, or unknown."""
    if path in SECTIONS:
        answers = getattr(case, path)
        if not answers:
            return UNKNOWN
        yes = VOCABULARY.answers_of(path)[0]
        return ",".join(i for i, a in answers.items() if a == yes) or "none"
    value = case.findings(VOCABULARY).get(path)
    return UNKNOWN if value is None else str(value)


def run_to_the_end(interview: Interview, full) -> list[str]:
    asked = []
    while (question := interview.next_question()) is not None:
        asked.append(question.path)
        interview.answer(question.path, oracle(full, question.path))
        assert len(asked) < 200
    return asked


# ---------------------------------------------------------------- clinical order
def test_an_empty_start_asks_the_referral_first_sites_as_one_question(start):
    interview = start({})
    asked = []
    for answer in ["male", "64", "liver, bone", "adenocarcinoma"]:
        question = interview.next_question()
        asked.append(question.path)
        interview.answer(question.path, answer)
    assert asked == ["sex", "age", "sites", "histology"]
    assert interview.case.sites["liver"] == "yes" and interview.case.sites["lung"] == "no"


def test_history_and_examination_come_before_blood_tests_stains_and_imaging(start):
    interview = start(
        {"sex": "male", "age": 60, "sites": ["liver", "bone"], "histology": "adenocarcinoma"}
    )
    stages = []
    while (question := interview.next_question()) is not None and len(stages) < 60:
        stages.append(question.stage)
        interview.answer(question.path, "?")
    order = [s.id for s in QUESTIONNAIRE.stages]
    first_seen = [order.index(s) for s in dict.fromkeys(stages)]
    assert first_seen == sorted(first_seen)
    assert stages[0] == "history"


def test_stains_open_with_ck7_and_ck20(start):
    interview = start(
        {"sex": "female", "age": 66, "sites": ["liver"], "histology": "adenocarcinoma"}
    )
    stains = []
    # The first two stains are the point: the rest of the interview is left unasked.
    while len(stains) < 2 and (question := interview.next_question()) is not None:
        if question.path.startswith("markers."):
            stains.append(question.path)
        interview.answer(question.path, "?")
    assert stains[:2] == ["markers.ck7", "markers.ck20"]


def test_no_question_about_bone_lesions_after_no_bone_metastases(start):
    interview = start({"sex": "male", "age": 70, "sites": ["liver", "lung"]})
    asked = run_to_the_end(interview, parse_case({"id": "x"}, VOCABULARY))
    assert not [p for p in asked if "bone_lesions" in p]


def test_what_an_answer_implies_is_never_asked(start):
    """Blastic bone lesions are bone metastases (rules/implications.yaml): the sites question
    does not offer bone again, and the implied answer is not asked on its own either."""
    interview = start({"sex": "male", "age": 70, "imaging": {"blastic_bone_lesions": "yes"}})
    assert interview.implied == {"sites.bone": "yes"}
    asked = []
    while (question := interview.next_question()) is not None and len(asked) < 200:
        asked.append(question.path)
        if question.path == "sites":
            assert "bone" not in question.answers and "bone" in question.text
            interview.answer(question.path, "liver")
            # Listing the other sites keeps the implied bone metastases, no data conflict.
            assert interview.case.sites["bone"] == "yes" and "sites.bone" not in interview.implied
            continue
        interview.answer(question.path, "?")
    assert "sites" in asked and "sites.bone" not in asked


@pytest.mark.parametrize(
    ("sex", "forbidden"),
    [
        ("female", ("history.testicular_mass", "labs.psa", "markers.psa", "markers.nkx3_1")),
        ("male", ("history.postmenopausal_bleeding", "sites.ovary")),
    ],
)
def test_sex_specific_questions_only_when_the_sex_allows(start, sex, forbidden):
    interview = start({"sex": sex, "age": 68, "sites": ["bone"], "histology": "adenocarcinoma"})
    asked = run_to_the_end(interview, parse_case({"id": "x"}, VOCABULARY))
    assert not set(asked) & set(forbidden)


# ---------------------------------------------------------------- stopping
def test_the_axillary_woman_gets_the_breast_subset_as_rank_does(start, triage):
    full = parse_case(
        {
            "id": "ax",
            "sex": "female",
            "age": 52,
            "sites": ["axillary_nodes"],
            "histology": "adenocarcinoma",
        },
        VOCABULARY,
    )
    interview = start(
        {
            "sex": "female",
            "age": 52,
            "histology": "adenocarcinoma",
            "sites": {"axillary_nodes": "yes"},
        }
    )
    asked = run_to_the_end(interview, full)
    assert asked[0] == "sites"  # the other sites are asked before anything else
    found = {s.id for s in interview.result().subsets}
    assert {s.id for s in triage.assess(full).subsets} <= found
    assert "axillary_adenocarcinoma_women" in found
    assert interview.stop_reason.startswith("No remaining answer could change the top three")


# ---------------------------------------------------------------- clinical words
def test_why_names_candidates_and_only_rules_that_can_apply(start):
    interview = start({"sex": "female", "age": 60, "histology": "adenocarcinoma"})
    why = interview.why("history.bone_pain")
    assert why.rules, "before imaging, bone pain stands for bone metastases"
    for reason in why.rules:
        assert "Prostate" not in reason.effect
        assert "bits" not in reason.effect and "history." not in reason.when
    assert any("times more likely" in r.effect for r in why.rules)
    assert all(r.source for r in why.rules)
    # Once the bone scan is known, the rules that read bone pain as a stand-in cannot apply.
    known = start({"sex": "female", "age": 60, "sites": ["bone"], "histology": "adenocarcinoma"})
    assert not any("times" in r.effect for r in known.why("history.bone_pain").rules)


def test_back_says_which_answer_it_undid_and_unknown_is_kept(start):
    interview = start({"sex": "male", "age": 60, "sites": ["liver"]})
    question = interview.next_question()
    interview.answer(question.path, "?")
    assert question.path in interview.unknown
    assert interview.next_question().path != question.path
    undone = interview.undo()
    assert undone.path == question.path and "not known" in undone.words
    assert interview.next_question().path == question.path


# ---------------------------------------------------------------- the terminal and saving
def _ask(folder: Path, start: dict, answers: list[str], *extra: str, name="start.yaml"):
    start_file = folder / name
    start_file.write_text(yaml.safe_dump(start))
    result = CliRunner().invoke(
        cli, ["ask", str(start_file), *extra], input="".join(f"{a}\n" for a in answers)
    )
    questions = [line for line in result.output.splitlines() if line.startswith(QUESTION_PREFIXES)]
    return result, questions


def test_a_session_reads_clinically_and_saves_unknowns_for_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = {
        "id": "q1",
        "sex": "male",
        "age": 66,
        "sites": ["liver"],
        "histology": "adenocarcinoma",
    }
    result, questions = _ask(tmp_path, start, ["none", "?", "why", "y", "back", "n", "how", "quit"])
    assert result.exit_code == 0, result.output
    assert "Undid:" in result.output and "times more likely" in result.output
    assert "Traceback" not in result.output
    saved = tmp_path / "q1.yaml"
    data = yaml.safe_load(saved.read_text())
    assert data["prior_cancer"] == "none" and UNKNOWN in data["history"].values()
    resumed = CliRunner().invoke(cli, ["ask", "--resume", str(saved)], input="quit\n")
    asked_again = [
        line for line in resumed.output.splitlines() if line.startswith(QUESTION_PREFIXES)
    ]
    skipped = next(k for k, v in data["history"].items() if v == UNKNOWN)
    assert VOCABULARY.findings[f"history.{skipped}"].question not in asked_again[0]


def test_the_input_and_existing_files_are_never_overwritten(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = {"id": "q2", "sex": "female", "age": 61, "sites": ["peritoneum"]}
    (tmp_path / "q2.yaml").write_text("precious: true\n")
    result, _ = _ask(tmp_path, start, ["n"], name="q2-input.yaml")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "q2.yaml").read_text() == "precious: true\n"
    assert yaml.safe_load((tmp_path / "q2-input.yaml").read_text()) == start
    assert (tmp_path / "q2-2.yaml").exists()
    # Run from the folder of its input, named after the case id: the input is left alone too.
    result, _ = _ask(tmp_path, {"id": "q3", "sex": "male"}, ["n"], name="q3.yaml")
    assert yaml.safe_load((tmp_path / "q3.yaml").read_text()) == {"id": "q3", "sex": "male"}


def test_an_id_with_a_path_never_writes_outside_the_folder(tmp_path, monkeypatch):
    inner = tmp_path / "work"
    inner.mkdir()
    (tmp_path / "x").mkdir()
    victim = tmp_path / "x" / "history"
    victim.write_text("keep")
    monkeypatch.chdir(inner)
    result, _ = _ask(inner, {"id": "../x/history", "sex": "male"}, ["quit"])
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "keep"
    assert [p.name for p in inner.iterdir() if p.name != "start.yaml"] == ["x-history.yaml"]


@pytest.mark.parametrize("form", ["several", "json", "csv"])
def test_a_resumed_multi_case_json_or_csv_file_is_never_rewritten(tmp_path, monkeypatch, form):
    monkeypatch.chdir(tmp_path)
    if form == "several":
        source = tmp_path / "cases.yaml"
        source.write_text(
            yaml.safe_dump([{"id": "a", "sex": "male"}, {"id": "b", "sex": "female"}])
        )
        extra = ["--case", "b"]
    elif form == "json":
        source = tmp_path / "case.json"
        source.write_text('{"id": "b", "sex": "female"}')
        extra = []
    else:
        source = tmp_path / "cases.csv"
        source.write_text("id,sex\nb,female\n")
        extra = []
    before = source.read_bytes()
    result = CliRunner().invoke(cli, ["ask", "--resume", str(source), *extra], input="60\nquit\n")
    assert result.exit_code == 0, result.output
    assert source.read_bytes() == before
    beside = tmp_path / f"{source.stem}.b.yaml"
    assert yaml.safe_load(beside.read_text())["age"] == 60


def test_an_unwritable_save_place_is_refused_before_the_first_question(tmp_path):
    start = tmp_path / "s.yaml"
    start.write_text(yaml.safe_dump({"id": "q5"}))
    result = CliRunner().invoke(
        cli, ["ask", str(start), "--save", str(tmp_path / "missing" / "x.yaml")], input="male\n"
    )
    assert result.exit_code == 73  # EX_CANTCREAT, as for every output that cannot be created
    assert "cannot save the session" in result.output and "What is the patient" not in result.output


def test_a_symbolic_link_is_never_written_through(tmp_path):
    start = tmp_path / "s.yaml"
    start.write_text(yaml.safe_dump({"id": "q7"}))
    target = tmp_path / "elsewhere.yaml"
    target.write_text("keep\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    result = CliRunner().invoke(cli, ["ask", str(start), "--save", str(link)], input="male\n")
    assert result.exit_code == 73 and "symbolic link" in result.output
    assert target.read_text() == "keep\n"


def test_saving_keeps_the_mode_of_a_file_named_by_save(tmp_path):
    start = tmp_path / "s.yaml"
    start.write_text(yaml.safe_dump({"id": "q6", "sex": "female"}))
    target = tmp_path / "mine.yaml"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    result = CliRunner().invoke(cli, ["ask", str(start), "--save", str(target)], input="70\nquit\n")
    assert result.exit_code == 0, result.output
    assert target.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(target.read_text())["age"] == 70


# ---------------------------------------------------------------- the oracle
def _referral(case) -> dict:
    start = {k: getattr(case, k) for k in ("sex", "age", "histology") if getattr(case, k)}
    if case.sites:
        start["sites"] = dict(case.sites)
    return start


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["holdout", "validation"])
def test_oracle_from_a_referral_start(start, triage, folder):
    """From sex, age, sites and histology, answering from the full case: the interview ends
    where `rank` on the full case ends, finds every subset it finds, in few questions."""
    counts, agree, subsets_ok, total = [], 0, 0, 0
    for path in sorted((ROOT / "cases" / folder).glob("*.yaml")):
        for case in load_case(path, VOCABULARY):
            interview = start(_referral(case))
            counts.append(len(run_to_the_end(interview, case)))
            result, full = interview.result(), triage.assess(case)
            agree += result.candidates[0].primary == full.candidates[0].primary
            subsets_ok += {s.id for s in full.subsets} <= {s.id for s in result.subsets}
            total += 1
    assert subsets_ok == total
    assert agree / total >= 0.9
    assert statistics.median(counts) <= 30
