"""Teaching mode as a teacher and a class use it: a library that gives nothing away, a quiz
scored by proper rules, seed and soil beside Ewing, handouts for both sides of the room, and
a class summary."""

import json
import re
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cup_triage.cli import cli
from cup_triage.io.classroom import find_case, read_session_logs, write_session_log
from cup_triage.io.handout import Audience, handout
from cup_triage.io.load import iter_cases
from cup_triage.reasoning.errors import CaseError
from cup_triage.sessions.scoring import (
    RANK_SHARE,
    Differential,
    brier_score,
    learner_distribution,
    log_score,
    parse_differential,
)
from cup_triage.sessions.teaching import check_question, revealed_findings, stages, theories

from .conftest import CASES
from .strategies import examples

TEACHING = CASES / "teaching"

# Words a reader takes as naming a primary, beyond the vocabulary's ids and labels: the
# adjectives and eponyms a title or a handout could give the answer away with. ("cervical"
# is left out: cervical nodes are neck nodes.)
SYNONYMS = {
    "lung": ["pulmonary", "bronchial", "bronchogenic"],
    "breast": ["mammary", "lobular carcinoma", "ductal carcinoma"],
    "prostate": ["prostatic"],
    "colorectal": ["colon", "colonic", "rectal", "rectum", "bowel cancer", "sigmoid"],
    "pancreas": ["pancreatic"],
    "stomach": ["gastric", "krukenberg"],
    "esophagus": ["oesophagus", "oesophageal", "esophageal", "barrett"],
    "liver": ["hepatocellular", "hepatoma"],
    "biliary": ["bile duct", "cholangiocarcinoma", "gallbladder"],
    "kidney": ["renal"],
    "bladder": ["urothelial"],
    "ovary": ["ovarian", "fallopian"],
    "endometrium": ["endometrial", "uterine", "uterus"],
    "cervix": ["cervix"],
    "thyroid": ["thyroid"],
    "head_and_neck": ["oropharynx", "oropharyngeal", "larynx", "laryngeal", "tonsil"],
    "melanoma": ["melanoma"],
    "germ_cell": ["germ cell", "germ-cell", "testis", "testicular", "seminoma"],
    "neuroendocrine": ["neuroendocrine", "carcinoid"],
    "sarcoma": ["sarcoma"],
    "mesothelioma": ["mesothelioma"],
    "lymphoma": ["lymphoma"],
}


def _names(kb, primary):
    label = kb.vocabulary.primaries[primary].label
    names = {primary, primary.replace("_", " "), primary.replace("_", "-"), label}
    names |= {label.split(" (")[0], *SYNONYMS.get(primary, [])}
    return {n.lower() for n in names}


def _names_in(text, names):
    text = text.lower()
    return sorted(n for n in names if re.search(rf"(?<![a-z]){re.escape(n)}(?![a-z])", text))


def _without_findings(text, kb):
    """The text with every finding's key and label, and every histology, taken out
    ('history.breast_lump', 'breast lump', 'sites.lung', 'neuroendocrine_tumor')."""
    words = set()
    for key, finding in kb.vocabulary.findings.items():
        words |= {key, finding.label.lower()}
    for histology_id, histology in kb.vocabulary.histologies.items():
        words |= {histology_id, histology.label.lower()}  # 'histology = melanoma' is data too
    text = re.sub(r"prior_cancer = [a-z_]+", " ", text)  # the history the case states
    for word in sorted(words, key=len, reverse=True):
        text = re.sub(re.escape(word), " ", text, flags=re.I)
    return text


def _teaching_cases(kb):
    loaded = list(iter_cases([TEACHING], kb.vocabulary))
    assert all(item.error is None for item in loaded), [str(i.error) for i in loaded if i.error]
    return [(Path(item.file), item.case) for item in loaded]


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


# --- the library ---------------------------------------------------------------------------


def test_the_library_is_written_as_a_teacher_would(kb):
    cases = [case for _, case in _teaching_cases(kb)]
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
    for _, case in _teaching_cases(kb):
        rank = triage.assess(case, suggest=False).rank_of(case.confirmed_primary)
        if rank > 3:
            misses.append((case.id, rank))
    assert misses == []


def test_no_file_name_id_or_title_names_a_primary(kb):
    every_name = set().union(*(_names(kb, p) for p in kb.vocabulary.primaries))
    for path, case in _teaching_cases(kb):
        assert re.fullmatch(r"t\d\d", case.id), case.id
        assert path.stem.startswith(f"{case.id}-"), path
        for text in (path.stem.replace("-", " "), case.notes["title"]):
            assert _names_in(text, every_name) == [], (path.name, text)


def test_teach_list_shows_presentations_and_sites_only(kb):
    result = run("teach", "list", "--json")
    rows = json.loads(result.output)
    assert len(rows) == len(_teaching_cases(kb))
    site_labels = {f.label for k, f in kb.vocabulary.findings.items() if k.startswith("sites.")}
    every_name = set().union(*(_names(kb, p) for p in kb.vocabulary.primaries))
    for row in rows:
        assert set(row) == {"id", "file", "title", "sites"}
        assert set(row["sites"]) <= site_labels
        # A metastatic site may share a word with a primary ("liver", "lung"); nothing else may.
        assert _names_in(f"{row['id']} {row['file']} {row['title']}", every_name) == []
    by_id = {row["id"]: row for row in rows}
    assert by_id["t01"]["sites"] == ["axillary lymph nodes"]
    assert by_id["t12"]["sites"] == ["supraclavicular lymph nodes", "liver"]
    table = run("teach", "list").output
    assert "t01" in table and "axillary lymph nodes" in table and "theme" not in table


# --- no spoilers ---------------------------------------------------------------------------


class _Text(HTMLParser):
    """The visible text of a page, with the text of each finding item apart."""

    def __init__(self):
        super().__init__()
        self.outside, self.findings, self._depth = [], [], 0

    def handle_starttag(self, tag, attrs):
        if ("class", "finding") in attrs:
            self._depth, self._current = 1, []
        elif self._depth:
            self._depth += 1

    def handle_endtag(self, tag):
        if self._depth:
            self._depth -= 1
            if not self._depth:
                self.findings.append("".join(self._current).strip())

    def handle_data(self, data):
        (self._current if self._depth else self.outside).append(data)


# A handout a case takes CI's time: the default run checks every fourth case, CI the rest too.
@pytest.mark.parametrize("share", ["sample", pytest.param("rest", marks=pytest.mark.slow)])
@pytest.mark.parametrize("form", ["html", "md"])
def test_no_student_handout_names_its_confirmed_primary(kb, triage, form, share):
    cases = [case for _, case in _teaching_cases(kb)]
    for case in cases[::4] if share == "sample" else [c for n, c in enumerate(cases) if n % 4]:
        page = handout(triage, case, Audience.STUDENTS, markdown=form == "md")
        names = _names(kb, case.confirmed_primary)
        shown = [
            line
            for s in stages(case, kb.vocabulary)
            for line in revealed_findings(s, kb.vocabulary)
        ]
        if form == "html":
            parsed = _Text()
            parsed.feed(page)
            outside = "".join(parsed.outside)
            # The case's own findings ('breast lump: no') are the data the class reasons from.
            assert parsed.findings == shown, case.id
        else:
            outside = "\n".join(line for line in page.splitlines() if line[2:] not in shown)
        assert _names_in(outside, names) == [], case.id
        for engine_word in ("bits", "Discussion", "confirmed", "engine"):
            assert engine_word not in outside, (case.id, engine_word)


# All 32 cases through the CLI (about 20 s): CI runs it.
@pytest.mark.slow
def test_a_quiz_names_the_confirmed_primary_only_after_the_last_stage(kb, tmp_path):
    for path, case in _teaching_cases(kb):
        wrong = [p for p in ("kidney", "thyroid", "lymphoma") if p != case.confirmed_primary][:2]
        answers = f"{', '.join(wrong)}\nweight loss\n" * 4
        result = run("teach", "quiz", str(path), "--log-dir", str(tmp_path), input=answers)
        before, marker, after = result.output.partition("== The case is over")
        assert marker, case.id
        lines = [
            line
            for line in before.splitlines()
            if not line.startswith("  · ") and not line.startswith(("Your differential", "Next"))
        ]
        names = _names(kb, case.confirmed_primary)
        # Findings are the case's data, whatever words they share with a primary.
        shown = _without_findings("\n".join(lines), kb)
        assert _names_in(shown, names) == [], (
            case.id,
            _names_in(shown, names),
        )
        assert "Brier" not in before and "Brier" in after
        assert kb.vocabulary.primaries[case.confirmed_primary].label in after


# --- proper scoring ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "named", "stated"),
    [
        ("lung, breast, pancreas", ("lung", "breast", "pancreas"), None),
        ("colorectl; stomach", ("colorectal", "stomach"), None),
        ("Head and neck, germ cell", ("head_and_neck", "germ_cell"), None),
        ("kidney bladder", ("kidney", "bladder"), None),
        ("stomach 50, oesophagus 30, lung 20", ("stomach", "esophagus", "lung"), (0.5, 0.3, 0.2)),
        ("lung 20%, stomach: 50", ("stomach", "lung"), (0.5, 0.2)),
        ("Oesophagus 40 stomach 40", ("esophagus", "stomach"), (0.4, 0.4)),
    ],
)
def test_a_learner_may_type_ids_labels_typos_and_probabilities(kb, typed, named, stated):
    assert parse_differential(typed, kb.vocabulary) == Differential(named, stated)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("lung, spleen", "not a primary"),
        ("lung 70, breast 50", "add up to 120"),
        ("lung 70, breast", "some entries have a probability"),
        ("lung, Lung", "named twice"),
    ],
)
def test_a_differential_that_cannot_be_scored_is_explained(kb, typed, message):
    with pytest.raises(CaseError, match=message):
        parse_differential(typed, kb.vocabulary)


def _prior(kb):
    prior = kb.prior()
    return list(kb.vocabulary.primaries), [prior[p] for p in kb.vocabulary.primaries]


def test_a_short_ranked_list_is_no_more_confident_than_a_long_one(kb):
    primaries, prior = _prior(kb)
    one = learner_distribution(Differential(("lung",)), primaries, prior)
    five = learner_distribution(
        Differential(("lung", "pancreas", "stomach", "colorectal", "breast")), primaries, prior
    )
    lung = primaries.index("lung")
    assert one[lung] == five[lung] == RANK_SHARE
    # The old rule (1/rank within the list) scored a right one-item list Brier 0.003 and a
    # right five-item list 0.421; both now put the same probability on the truth.
    assert log_score(one, lung) == log_score(five, lung) == -1.0
    assert abs(brier_score(one, lung) - brier_score(five, lung)) < 0.1
    assert abs(sum(one) - 1) < 1e-9 and abs(sum(five) - 1) < 1e-9


PRIMARY_IDS = [
    "lung",
    "breast",
    "prostate",
    "colorectal",
    "pancreas",
    "stomach",
    "esophagus",
    "liver",
    "biliary",
    "kidney",
    "bladder",
    "ovary",
]


@settings(max_examples=examples(200), deadline=None)
@given(
    chosen=st.lists(st.sampled_from(PRIMARY_IDS), min_size=5, max_size=5, unique=True),
    truth_probability=st.floats(0.01, 0.99),
    shares=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4),
    stated=st.booleans(),
)
def test_a_right_five_item_differential_never_scores_worse_than_a_right_one_item_one(
    kb, chosen, truth_probability, shares, stated
):
    """Given the same probability on the true primary, naming four more plausible candidates
    costs nothing: the log score depends on the truth's probability alone (Good 1952)."""
    primaries, prior = _prior(kb)
    truth = chosen[0]
    if stated:
        rest = [s / (sum(shares) or 1) * (1 - truth_probability) * 0.999 for s in shares]
        five = Differential(tuple(chosen), (truth_probability, *rest))
        one = Differential((truth,), (truth_probability,))
    else:
        five, one = Differential(tuple(chosen)), Differential((truth,))
    t = primaries.index(truth)
    p_five = learner_distribution(five, primaries, prior)
    p_one = learner_distribution(one, primaries, prior)
    assert p_five[t] == pytest.approx(p_one[t])
    assert log_score(p_five, t) >= log_score(p_one, t) - 1e-12
    for p in (p_five, p_one):
        assert min(p) >= 0 and sum(p) == pytest.approx(1)


@settings(max_examples=examples(100), deadline=None)
@given(
    chosen=st.lists(st.sampled_from(PRIMARY_IDS), min_size=1, max_size=5, unique=True),
    truth=st.sampled_from(PRIMARY_IDS),
)
def test_naming_the_truth_never_lowers_its_probability(kb, chosen, truth):
    """Adding the true primary to the end of any list raises its probability: a learner is
    never better off leaving a plausible candidate out."""
    primaries, prior = _prior(kb)
    if truth in chosen:
        chosen.remove(truth)
    t = primaries.index(truth)
    without = learner_distribution(Differential(tuple(chosen)), primaries, prior)
    longer = learner_distribution(Differential((*chosen, truth)), primaries, prior)
    assert longer[t] >= without[t]


# --- the quiz and its logs -----------------------------------------------------------------


def test_a_quiz_compares_each_stage_with_the_engine_and_scores_at_the_end(kb, triage, tmp_path):
    first_stage = stages(find_case("t27", kb.vocabulary), kb.vocabulary)[0]
    best = check_question(triage, first_stage.case, "markers.ttf1").most_informative.finding
    answers = (
        f"lung, head and neck\n{best}\n"
        "lung 60, pancreas 20\nttf1\n"
        "splen\nlung, colorectal, stomach\nhaemoptysis\n"
        "lung, colorectal\n\n"
    )
    result = run(
        "teach", "quiz", "t27", "--learner", "amira", "--log-dir", str(tmp_path), input=answers
    )
    before, _, after = result.output.partition("== The case is over")
    assert before.count("Beside the engine") == 4 and "Agreement with the engine" in before
    assert "Not understood" in before
    assert "the most informative there is" in before  # the engine's best, asked first
    assert "already answered" in before  # haemoptysis, asked at the histology stage
    assert "Against your first choice" in after and "Missed:" in after
    (log,) = tmp_path.glob("*.json")
    session = json.loads(log.read_text())
    assert session["learner"] == "amira" and session["completed"] is True
    assert [s["stage"] for s in session["stages"]] == [
        "presentation",
        "examination",
        "histology",
        "pathology",
    ]
    first, second, *_, last = session["stages"]
    assert first["score"]["true_rank_learner"] is None
    assert second["stated"] is True and second["probabilities"]["lung"] == 0.6
    assert last["score"]["true_rank_learner"] == 2
    assert last["score"]["brier_learner"] > last["score"]["brier_engine"]
    assert first["question"]["was_most_informative"] is True


def test_concurrent_sessions_each_get_their_own_whole_log(tmp_path):
    session = {"learner": "a", "case_id": "t01", "stages": []}
    threads = [
        threading.Thread(target=write_session_log, args=(tmp_path, {**session, "learner": f"s{i}"}))
        for i in range(12)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logs = read_session_logs([tmp_path])
    assert sorted(s["learner"] for s in logs) == sorted(f"s{i}" for i in range(12))
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_a_class_summary_compares_the_class_with_the_engine(tmp_path):
    logs = tmp_path / "logs"
    for learner, answers in (
        ("amira", "lung\n\nlung\n\nlung, colorectal\n\ncolorectal, lung\n\n"),
        ("ben", "lung, pancreas\nttf1\nlung\nttf1\nlung\nttf1\nlung\n\n"),
        ("chen", "lung\n\nquit\n"),
    ):
        run("teach", "quiz", "t27", "--learner", learner, "--log-dir", str(logs), input=answers)
    out = tmp_path / "class.html"
    result = run("teach", "summary", str(logs), "-o", str(out))
    assert "3 session(s), 1 case(s)" in result.output
    page = out.read_text()
    assert "t27" in page and "A smoker coughing blood" in page
    assert page.count('class="bar class"') == 4 and page.count('class="bar engine"') == 4
    assert "(2 to the end)" in page
    assert "markers.cdx2 = positive; markers.satb2 = positive" in page  # a common miss
    assert "<script" not in page and "http" not in page


def test_a_summary_refuses_a_file_that_is_not_a_quiz_log(tmp_path):
    old_format = {"sessions": [{"case_id": "teach-27", "stages": [{"brier_learner": 0.4}]}]}
    for name, text in (("x.json", '{"rows": []}'), ("old.json", json.dumps(old_format))):
        bad = tmp_path / name
        bad.write_text(text)
        result = CliRunner().invoke(
            cli, ["teach", "summary", str(bad), "-o", str(tmp_path / "c.html")]
        )
        assert result.exit_code == 2 and "not a cup-triage teaching log" in result.output


# --- cases by id, a teacher's own file, several cases in one file ---------------------------


def test_cases_are_found_by_id_and_a_teachers_own_file_works_the_same(tmp_path):
    own = tmp_path / "my-case.yaml"
    data = yaml.safe_load((TEACHING / "t01-axillary-node-woman.yaml").read_text())
    own.write_text(yaml.safe_dump({**data, "id": "mine"}))
    for reference in ("t01", "t01-axillary-node-woman", str(own)):
        out = tmp_path / f"{Path(reference).stem}.html"
        assert run("teach", "handout", reference, "-o", str(out)).exit_code == 0
        assert "Seed and soil" in out.read_text()
    missing = CliRunner().invoke(cli, ["teach", "steps", "t99"])
    assert missing.exit_code == 2 and "no teaching case of that id" in missing.output


def test_a_file_of_several_cases_needs_case(tmp_path):
    several = tmp_path / "two.yaml"
    cases = [yaml.safe_load(p.read_text()) for p in sorted(TEACHING.glob("t2[78]-*.yaml"))]
    several.write_text(yaml.safe_dump(cases))
    refused = CliRunner().invoke(cli, ["teach", "whatif", str(several), "--unset", "markers.ck7"])
    assert refused.exit_code == 2
    assert "holds 2 cases; say which with --case" in refused.output and "t27, t28" in refused.output
    chosen = run("teach", "whatif", str(several), "--case", "t28", "--json")
    assert json.loads(chosen.output)["case_id"] == "t28"
    for command in ("steps", "quiz", "handout"):
        extra = ["-o", str(tmp_path / "x.html")] if command == "handout" else []
        result = CliRunner().invoke(cli, ["teach", command, str(several), *extra], input="")
        assert result.exit_code == 2 and "--case" in result.output, command


def test_what_if_removing_the_colorectal_stains_flips_the_leader():
    args = ["teach", "whatif", "t27", "--json"]
    for marker in ("cdx2", "ck20", "satb2", "ck7"):
        args += ["--unset", f"markers.{marker}"]
    payload = json.loads(run(*args).output)
    assert payload["leader_changed"] is True
    assert payload["before"][0][0] == "colorectal" and payload["after"][0][0] == "lung"
    assert "ihc.cdx2_satb2.both_positive" in payload["disappeared"]


# --- seed and soil beside Ewing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("case_id", "seed_and_soil_leader", "drainage_top3"),
    [
        # Axillary nodes, liver and lung: seed and soil favours lung, the axilla's lymphatic
        # drainage the breast (and the skin of the arm and trunk).
        ("t17", "lung", {"breast", "lung", "melanoma"}),
        # Liver alone: the portal route carries gut and pancreatobiliary tumours to it.
        ("t32", "pancreas", {"pancreas", "biliary", "colorectal"}),
        # Lung alone: the caval route, kidney and the sarcoma (the case's primary) before
        # the gut.
        ("t31", "lung", {"lung", "kidney", "sarcoma"}),
    ],
)
def test_each_theory_ranks_from_its_own_rules(
    kb, triage, case_id, seed_and_soil_leader, drainage_top3
):
    (path,) = TEACHING.glob(f"{case_id}-*.yaml")
    case = next(c for p, c in _teaching_cases(kb) if p == path)
    seed, drainage, combined = theories(triage, case)
    assert seed.kind == "organotropism" and drainage.kind == "anatomical_drainage"
    rules = kb.rules_by_id
    assert seed.evidence and {rules[e.rule_id].kind for e in seed.evidence} == {"organotropism"}
    assert {rules[e.rule_id].kind for e in drainage.evidence} == {"anatomical_drainage"}
    assert seed.ranking[0][0] == seed_and_soil_leader
    assert {p for p, _ in drainage.ranking[:3]} == drainage_top3
    assert seed.ranking != drainage.ranking
    assessment = triage.assess(case, suggest=False)
    assert [p for p, _ in combined.ranking] == [c.primary for c in assessment.candidates]
    for view in (seed, drainage, combined):
        # With the share of "a primary not on the list", each ranking sums to 1.
        assert 0.5 < sum(v for _, v in view.ranking) <= 1 + 1e-6


def test_steps_list_each_rule_once_with_the_theories_side_by_side():
    result = run("teach", "steps", "t10")
    fired = re.findall(r"^\s+\d+\. \[\w+\] (\S+):", result.output, flags=re.M)
    assert fired and len(fired) == len(set(fired))
    assert "organotropism (" in result.output and "anatomical drainage (" in result.output
    assert "Seed and soil (organotropism)" in result.output
    assert "Anatomical and venous drainage" in result.output
    header = next(line for line in result.output.splitlines() if "Seed and soil (Paget)" in line)
    assert "Drainage (Ewing)" in header  # one row: side by side
    payload = json.loads(run("teach", "steps", "t10", "--json").output)
    assert [t["kind"] for t in payload["theories"]] == [
        "organotropism",
        "anatomical_drainage",
        None,
    ]


def test_rank_shows_the_theories_on_request():
    case = str(TEACHING / "t32-abdominal-pain-weight-loss-woman.yaml")
    plain = run("rank", case).output
    assert "Seed and soil" not in plain
    shown = run("rank", case, "--theories").output
    assert "Seed and soil (organotropism)" in shown and "venous_route = portal" in shown
    payload = json.loads(run("rank", case, "--theories", "--json").output)["assessments"][0]
    assert [t["kind"] for t in payload["theories"]] == [
        "organotropism",
        "anatomical_drainage",
        None,
    ]


# --- handouts ------------------------------------------------------------------------------


def test_the_teachers_handout_is_self_contained_staged_and_shows_both_theories(tmp_path):
    out = tmp_path / "handout.html"
    assert run("teach", "handout", "t12", "-o", str(out)).exit_code == 0
    html = out.read_text()
    assert "<script" not in html and "http" not in html and "<link" not in html
    assert html.count('<details class="stage">') == 4 and "width:" in html
    assert html.count('class="theory"') == 3 and 'class="theories"' in html
    assert "Revealed at this stage" in html and "dysphagia: yes" in html
    assert "@media print" in html and "::details-content" in html
    # The answer waits for the discussion, after every stage and chart.
    assert html.index("Confirmed primary") > html.rindex("Stage 4")
    discussion = html.index("<summary>Discussion")
    assert 'class="bar-row truth"' in html[discussion:]
    assert 'class="bar-row truth"' not in html[:discussion]
    assert "not a diagnosis" in html


def test_the_markdown_handouts_follow_the_same_split(tmp_path):
    teacher, students = tmp_path / "t.md", tmp_path / "s.md"
    run("teach", "handout", "t12", "-o", str(teacher))
    run("teach", "handout", "t12", "--for", "students", "-o", str(students))
    assert "Seed and soil beside Ewing" in teacher.read_text()
    assert "Confirmed primary: **Oesophagus**" in teacher.read_text()
    text = students.read_text()
    assert "Next question or test" in text and "Oesophagus" not in text and "%" in text


def test_a_handout_escapes_what_a_case_file_says(tmp_path, kb, triage):
    data = yaml.safe_load((TEACHING / "t01-axillary-node-woman.yaml").read_text())
    data["notes"]["title"] = "<img src=x onerror=alert(1)>"
    case_file = tmp_path / "x.yaml"
    case_file.write_text(yaml.safe_dump(data))
    out = tmp_path / "x.html"
    for audience in ("teacher", "students"):
        run("teach", "handout", str(case_file), "--for", audience, "-o", str(out))
        assert "<img" not in out.read_text() and "&lt;img" in out.read_text()
