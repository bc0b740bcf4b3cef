"""The interview as a clinician (or a script) drives it: history first, answers piped in order."""

import json

import yaml
from click.testing import CliRunner

from cup_triage.cli import cli
from cup_triage.io.load import bundled_knowledge_base

QUESTION_PREFIXES = tuple(
    f"[{step.label}]" for step in bundled_knowledge_base().vocabulary.steps.values()
)


def _ask(tmp_path, start, answers, *extra):
    start_file = tmp_path / "start.yaml"
    start_file.write_text(yaml.safe_dump(start))
    saved = tmp_path / "session.yaml"
    result = CliRunner().invoke(
        cli,
        ["ask", str(start_file), "--save", str(saved), *extra],
        input="".join(f"{a}\n" for a in answers),
    )
    questions = [line for line in result.output.splitlines() if line.startswith(QUESTION_PREFIXES)]
    return result, questions, saved


def test_the_first_questions_are_history_and_examination(tmp_path):
    start = {
        "id": "q1",
        "sex": "male",
        "age": 60,
        "sites": ["liver", "bone"],
        "histology": "adenocarcinoma",
    }
    result, questions, _ = _ask(tmp_path, start, ["?"] * 6)
    assert result.exit_code == 0, result.output
    assert len(questions) >= 6
    assert all(
        q.startswith(("[history question]", "[physical examination]")) for q in questions[:5]
    )


def test_a_smoker_with_liver_metastases_who_coughs_blood_reaches_lung_in_a_few_questions(tmp_path):
    start = {
        "id": "q2",
        "sex": "male",
        "age": 66,
        "sites": ["liver"],
        "histology": "adenocarcinoma",
        "history": {"smoking": "yes"},
    }
    answers = []
    result = None
    # Answer 'no' to everything until the haemoptysis question, then 'yes'.
    for _ in range(8):
        result, questions, saved = _ask(tmp_path, start, [*answers, "quit"])
        if "coughed up blood" in questions[-1]:
            answers.append("yes")
            break
        answers.append("no")
    assert "coughed up blood" in questions[-1] and len(answers) <= 6
    result, _, saved = _ask(tmp_path, start, [*answers, "quit"])
    ranked = json.loads(CliRunner().invoke(cli, ["rank", str(saved), "--json"]).output)
    assert ranked["candidates"][0]["primary"] == "lung"


def test_a_woman_with_isolated_axillary_adenocarcinoma_is_asked_about_her_breasts_early(tmp_path):
    start = {
        "id": "q3",
        "sex": "female",
        "age": 52,
        "sites": ["axillary_nodes"],
        "histology": "adenocarcinoma",
    }
    _, questions, _ = _ask(tmp_path, start, ["?"] * 3)
    assert any("breast" in q.lower() for q in questions[:2])


def test_why_back_and_typos_never_break_the_session(tmp_path):
    start = {"id": "q4", "sex": "male", "age": 60, "sites": ["liver"]}
    result, _, saved = _ask(
        tmp_path, start, ["why", "yes", "back", "maybee", "how", "rank", "n", "quit"]
    )
    assert result.exit_code == 0
    assert "It feeds" in result.output and "Undone." in result.output
    assert "Not understood: expected yes | no" in result.output
    assert "Traceback" not in result.output
    history = yaml.safe_load(saved.read_text())["history"]
    assert list(history.values()) == ["no"]


def test_end_of_input_saves_a_case_that_rank_accepts_and_resume_continues(tmp_path):
    start = {"id": "q5", "sex": "female", "age": 70, "sites": ["peritoneum"]}
    result, _, saved = _ask(tmp_path, start, ["yes"])
    assert result.exit_code == 0 and saved.exists()
    assert CliRunner().invoke(cli, ["rank", str(saved)]).exit_code == 0
    first = yaml.safe_load(saved.read_text())
    resumed = CliRunner().invoke(cli, ["ask", "--resume", str(saved)], input="no\n")
    assert resumed.exit_code == 0
    second = yaml.safe_load(saved.read_text())
    assert len(second.get("history", {})) == len(first.get("history", {})) + 1


def test_piped_answers_give_the_same_session_as_the_same_answers_again(tmp_path):
    start = {"id": "q6", "sex": "male", "age": 55, "sites": ["bone"]}
    answers = ["no", "yes", "?", "no"]
    first, q1, saved = _ask(tmp_path, start, answers)
    text = saved.read_text()
    second, q2, saved = _ask(tmp_path, start, answers)
    assert q1 == q2 and saved.read_text() == text


def test_a_woman_is_never_asked_a_question_only_a_man_can_answer_yes(tmp_path):
    start = {
        "id": "q7",
        "sex": "female",
        "age": 68,
        "sites": ["bone"],
        "histology": "adenocarcinoma",
    }
    result, questions, _ = _ask(tmp_path, start, ["?"] * 40)
    assert result.exit_code == 0
    asked = " ".join(questions).lower()
    assert "psa" not in asked and "testicular" not in asked and "nkx3.1" not in asked
    assert len(questions) >= 20
