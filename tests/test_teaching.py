"""Teaching mode as a teacher and students use it: library, quiz, what-if, step-through, handout."""

import json

import pytest
from click.testing import CliRunner

from cup_triage.cli import cli
from cup_triage.io.load import iter_cases
from cup_triage.reasoning.errors import CaseError
from cup_triage.sessions.teaching import parse_differential

from .conftest import CASES

TEACHING = CASES / "teaching"


def _teaching_cases(kb):
    loaded = list(iter_cases([TEACHING], kb.vocabulary))
    assert all(item.error is None for item in loaded), [str(i.error) for i in loaded if i.error]
    return [item.case for item in loaded]


def test_the_library_is_written_as_a_teacher_would(kb):
    cases = _teaching_cases(kb)
    assert len(cases) >= 20
    themes = set()
    for case in cases:
        assert case.confirmed_primary, case.id
        notes = case.notes
        assert notes["title"] and len(notes["vignette"]) > 80, case.id
        assert 2 <= len(notes["teaching_points"]) <= 3, case.id
        themes.add(notes["theme"])
    assert {"favourable_subset", "history_clue", "immunohistochemistry", "discordant"} <= themes
    assert len({c.confirmed_primary for c in cases}) >= 16


def test_every_teaching_case_ranks_its_confirmed_primary_in_the_top_three(kb, triage):
    misses = []
    for case in _teaching_cases(kb):
        rank = triage.assess(case, suggest=False).rank_of(case.confirmed_primary)
        if rank > 3:
            misses.append((case.id, rank))
    assert misses == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("lung, breast, pancreas", ("lung", "breast", "pancreas")),
        ("colorectl; stomach", ("colorectal", "stomach")),
        ("Head and neck, germ cell", ("head_and_neck", "germ_cell")),
        ("kidney bladder", ("kidney", "bladder")),
    ],
)
def test_a_learner_may_type_ids_labels_or_typos(kb, typed, expected):
    assert parse_differential(typed, kb.vocabulary) == expected


def test_an_unrecognised_primary_gets_a_hint(kb):
    with pytest.raises(CaseError, match="not a primary"):
        parse_differential("lung, spleen", kb.vocabulary)


def test_a_quiz_unfolds_in_stages_scores_each_and_logs_the_session(tmp_path):
    log = tmp_path / "log.json"
    case = TEACHING / "27-discordant-haemoptysis-colorectal.yaml"
    answers = (
        "lung, head and neck\nlung, pancreas\nsplen\nlung, colorectal, stomach\nlung, colorectal\n"
    )
    result = CliRunner().invoke(
        cli, ["teach", "quiz", str(case), "--learner", "amira", "--log", str(log)], input=answers
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("Brier score") == 4
    assert "Not understood" in result.output
    assert "Against your first choice" in result.output
    session = json.loads(log.read_text())["sessions"][0]
    assert session["learner"] == "amira"
    assert [s["stage"] for s in session["stages"]] == [
        "presentation",
        "examination",
        "histology",
        "pathology",
    ]
    assert session["stages"][-1]["true_rank_learner"] == 2
    assert session["stages"][-1]["brier_learner"] > session["stages"][-1]["brier_engine"]
    assert session["stages"][0]["true_rank_learner"] is None


def test_what_if_removing_the_colorectal_stains_flips_the_leader(tmp_path):
    case = TEACHING / "27-discordant-haemoptysis-colorectal.yaml"
    args = ["teach", "whatif", str(case), "--json"]
    for marker in ("cdx2", "ck20", "satb2", "ck7"):
        args += ["--unset", f"markers.{marker}"]
    payload = json.loads(CliRunner().invoke(cli, args).output)
    assert payload["leader_changed"] is True
    assert payload["before"][0][0] == "colorectal" and payload["after"][0][0] == "lung"
    assert "ihc.cdx2_satb2.both_positive" in payload["disappeared"]


def test_step_through_shows_seed_and_soil_beside_anatomical_drainage():
    result = CliRunner().invoke(cli, ["teach", "steps", str(TEACHING / "10-haemoptysis-lung.yaml")])
    assert result.exit_code == 0
    assert "organotropism (" in result.output and "anatomical drainage (" in result.output
    assert "  1. [" in result.output


def test_the_html_handout_is_self_contained_with_a_chart_per_stage(tmp_path):
    out = tmp_path / "handout.html"
    result = CliRunner().invoke(
        cli, ["teach", "handout", str(TEACHING / "01-axillary-breast.yaml"), "-o", str(out)]
    )
    assert result.exit_code == 0
    html = out.read_text()
    assert "<script" not in html and "http" not in html and "<link" not in html
    assert html.count('class="stage"') >= 3 and "width:" in html
    assert "not a diagnosis" in html


def test_the_markdown_handout_lists_stages_and_teaching_points(tmp_path):
    out = tmp_path / "handout.md"
    CliRunner().invoke(
        cli, ["teach", "handout", str(TEACHING / "01-axillary-breast.yaml"), "-o", str(out)]
    )
    text = out.read_text()
    assert "## How the differential moved" in text and "## Teaching points" in text
