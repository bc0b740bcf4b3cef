"""Attacks of the session-6 red team: each test is one attack (or one family of them), and
passes when the attack fails. The table at the end (ATTACKS) records every attack tried,
what was expected, what was observed and whether it was fixed, including those that found
nothing to fix."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cup_triage.cli import cli

from .conftest import CASES, sampled_by_default

SCRIPT = Path(sys.executable).with_name("cup-triage")


def _run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def _installed(*args, **kwargs):
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([str(SCRIPT), *map(str, args)], timeout=120, check=False, **kwargs)


# ------------------------------------------------------- a reader that closed standard output
@pytest.mark.parametrize(
    "args",
    [
        ("rank", CASES / "example.yaml"),
        ("rank", "--json", CASES / "example.yaml"),
        ("rank", "--theories", CASES / "example.yaml"),
        ("score", CASES / "example.yaml", "-o", "-"),
        ("vocab",),
        ("evaluate", CASES / "examples"),
    ],
)
def test_every_command_ends_quietly_with_141_when_its_reader_is_gone(args):
    """`rank case.yaml | head -1` exited 1 (rich's own closed-pipe exit) where `rank --json`
    and `score -o -` exit 141: the text report now ends as they do."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte: every write fails
    try:
        done = _installed(*args, stdout=write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, b"")


# ------------------------------------------------------------------ a hang-up mid-batch
@pytest.fixture(scope="module")
def big_batch(tmp_path_factory):
    """3,000 small cases and the bytes an uninterrupted run writes for them."""
    folder = tmp_path_factory.mktemp("big")
    source = folder / "cases.yaml"
    cases = [{"id": f"p{n:04d}", "sex": "male", "sites": ["bone"]} for n in range(3000)]
    source.write_text(yaml.safe_dump(cases))
    clean = folder / "clean.jsonl"
    assert _installed("score", source, "-o", clean, "--jobs", "1").returncode == 0
    return source, clean.read_bytes()


def _lines(path):
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _stopped_midway(source, output, jobs, signum, group):
    process = subprocess.Popen(
        [str(SCRIPT), "score", str(source), "-o", str(output), "--jobs", str(jobs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    partial = output.with_name(output.name + ".partial")
    deadline = time.monotonic() + 120
    while _lines(partial) < 50 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    (os.killpg if group else os.kill)(process.pid, signum)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr.decode()


@pytest.mark.parametrize(
    ("jobs", "group"), [(1, False), pytest.param(2, True, marks=pytest.mark.slow)]
)
def test_a_hang_up_mid_batch_says_where_the_rows_are_and_resumes_to_the_same_bytes(
    big_batch, tmp_path, jobs, group
):
    """SIGHUP (the terminal closed, an ssh session dropped) ended `score` with 129 and no
    word about OUT.partial, where SIGTERM and Ctrl-C say it is kept for --resume; with
    workers, a hang-up to the whole group must not print a worker's traceback."""
    source, clean = big_batch
    output = tmp_path / "rows.jsonl"
    code, stderr = _stopped_midway(source, output, jobs, signal.SIGHUP, group)
    assert code == 129, stderr
    assert "hung up: the rows scored so far are in" in stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not output.exists()
    assert _installed("score", source, "-o", output, "--resume").returncode == 0
    assert output.read_bytes() == clean


# ------------------------------------------------------------------------ CSV on stdin
EXPORT = "id,sex,sites\r\nc1,male,bone\r\nc2,female,liver|ovary\r\n"


def test_a_csv_export_on_standard_input_is_read_as_csv_when_asked_and_named_when_not():
    """`score -` read standard input as YAML only: a piped CSV export became one error row
    ('got str') without a word on what to do."""
    result = _run("score", "-", "-o", "-", "--stdin-format", "csv", input="\ufeff" + EXPORT)
    assert result.exit_code == 0, result.output
    assert [r.split(",")[0] for r in result.stdout.splitlines()] == [
        '{"case_id":"c1"',
        '{"case_id":"c2"',
    ]
    alone = _run("score", "-", "-o", "-", input=EXPORT)
    assert alone.exit_code == 1
    assert "(CSV on standard input needs --stdin-format csv)" in alone.stderr
    ranked = _run("rank", "--json", "--stdin-format", "csv", "-", input=EXPORT)
    assert ranked.exit_code == 0 and ranked.stdout.count('"condition"') == 2


def test_an_explicit_stdin_format_is_kept_to_and_a_bad_csv_column_is_named():
    yaml_case = "id: c1\nsex: male\nsites: [bone]\n"
    assert _run("score", "-", "-o", "-", "--stdin-format", "yaml", input=yaml_case).exit_code == 0
    as_json = _run("score", "-", "-o", "-", "--stdin-format", "json", input=yaml_case)
    assert as_json.exit_code == 1 and "<stdin>:1: invalid JSON" in as_json.stderr
    typo = _run("score", "-", "-o", "-", "--stdin-format", "csv", input="id,sexx\nc1,male\n")
    assert "skipped: <stdin> › sexx: unknown column 'sexx'" in typo.stderr
    assert "--stdin-format" in _run("score", "--help").output


# ------------------------------------------------------- words read as ids, in list fields
@pytest.mark.parametrize(
    ("given", "read"),
    [
        ({"prior_cancer": "gastric"}, {"prior_cancer": "stomach"}),
        ({"prior_cancer": ["gastric", "Colon"]}, {"prior_cancer": ("colorectal", "stomach")}),
        ({"pathology_favours": ["colon"]}, {"pathology_favours": "colorectal"}),
        ({"sites": ["neck nodes"]}, {"sites.cervical_nodes": "yes", "sites.liver": "no"}),
        ({"features": ["signet ring"]}, {"features.signet_ring": "yes"}),
    ],
)
def test_synonyms_are_read_in_every_field_that_may_be_a_list(kb, given, read):
    """synonyms.LIST_FIELDS listed prior_cancer, but only sections were tested against it:
    the entry did nothing (earlier cancers are read as primaries, one or a list, with the
    other primary fields). The sections that may be lists are now named once, in
    vocabulary.LIST_SECTIONS; this pins that every list field reads its words."""
    from cup_triage.reasoning.case import parse_case

    case = parse_case({"id": "c", "sex": "female", **given}, kb.vocabulary)
    for field, value in read.items():
        section, _, finding = field.partition(".")
        got = getattr(case, section)
        assert (got[finding] if finding else got) == value


# ------------------------------------------- standard output and error closed, or a reader gone
@pytest.mark.parametrize("args", [("--version",), ("--help",)])
def test_help_and_version_into_a_closed_pipe_end_quietly_with_141_too(args):
    """`--help` and `--version` write while click parses the options, before any command
    runs, and click ended a closed pipe there with exit 1 (main's own handler never saw it)."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = _installed(*args, stdout=write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, b"")


def _closing(fd):
    return lambda: os.close(fd)


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("rank", CASES / "example.yaml"),
        ("rank", "--json", CASES / "example.yaml"),
        ("score", CASES / "example.yaml", "-o", "-"),
    ],
)
def test_a_closed_standard_output_is_one_line_and_exit_74_not_a_traceback(args):
    """`cup-triage rank case.yaml >&-` printed a traceback (sys.stdout is None: the final
    flush failed), exit 1; `score -o -` called it an internal error."""
    done = _installed(*args, stdout=None, preexec_fn=_closing(1))
    assert done.returncode == 74
    assert done.stderr.decode().splitlines() == [
        "Error: standard output: cannot write: it is closed (run the command with standard "
        "output open (a file, a pipe or /dev/null))"
    ]


def test_a_closed_standard_error_does_not_turn_success_into_exit_1(tmp_path):
    """With `2>&-` every command, however well it went, exited 1: the flush of the missing
    standard error raised at exit (and its traceback went nowhere)."""
    output = tmp_path / "rows.csv"
    ok = _installed("score", CASES / "example.yaml", "-o", output, preexec_fn=_closing(2))
    assert ok.returncode == 0 and output.read_text().startswith("case_id,")
    bad = _installed("rank", tmp_path / "missing.yaml", preexec_fn=_closing(2))
    assert bad.returncode == 2


def test_a_batch_started_with_standard_output_closed_never_writes_rows_into_descriptor_1(
    tmp_path,
):
    """The first file a process opens takes the lowest free descriptor: with 1 closed, that
    was OUT.partial, so anything written to descriptor 1 would land among the rows."""
    output = tmp_path / "rows.jsonl"
    _installed("score", CASES / "examples", "-o", output, stdout=None, preexec_fn=_closing(1))
    clean = tmp_path / "clean.jsonl"
    assert _installed("score", CASES / "examples", "-o", clean).returncode == 0
    assert output.read_bytes() == clean.read_bytes()


def test_reading_a_closed_standard_input_is_an_empty_file_not_a_bug():
    done = _installed("rank", "-", stdout=subprocess.DEVNULL, preexec_fn=_closing(0))
    assert done.returncode == 2
    assert b"<stdin>: empty file" in done.stderr


# ---------------------------------------------------------------- the interview of a young man
def _young_man(sites, histology):
    return {"id": "rt-man", "sex": "male", "age": 28, "sites": sites, "histology": histology}


def _questions(case, triage):
    """The questions of an interview up to its blood tests, started from the referral and
    answered 'not known', as path -> question."""
    from cup_triage.io.load import load_questionnaire
    from cup_triage.reasoning.case import parse_case
    from cup_triage.sessions.interview import UNKNOWN, Interview

    vocabulary = triage.kb.vocabulary
    interview = Interview(triage, parse_case(case, vocabulary), load_questionnaire(vocabulary))
    asked = {}
    while (question := interview.next_question()) is not None and len(asked) < 200:
        if question.stage not in ("referral", "history", "blood_tests"):
            break
        asked[question.path] = question
        interview.answer(question.path, UNKNOWN)
    return asked


def test_no_question_is_asked_for_a_subset_the_answers_already_rule_out(triage):
    """A man with liver metastases only was asked for serum PSA because it 'could show a
    favourable subset (Man with bone metastases and raised serum PSA ...)': the subset's
    blastic bone lesions were counted as still open although no bone metastases imply none
    (rules/implications.yaml). The implied answers now close such a subset."""
    asked = _questions(_young_man(["liver"], "adenocarcinoma"), triage)
    assert "bone metastases" not in asked["labs.psa"].reason
    assert all("bone metastases" not in q.reason for q in asked.values())


@pytest.mark.parametrize(
    ("sites", "histology", "psa_asked"),
    [
        (["cervical_nodes"], "squamous_cell_carcinoma", False),
        (["bone"], "squamous_cell_carcinoma", True),
        (["liver"], "adenocarcinoma", True),
    ],
)
def test_serum_psa_is_asked_of_a_man_with_bone_metastases_or_an_adenocarcinoma(
    triage, sites, histology, psa_asked
):
    """A 28-year-old man with squamous carcinoma in the neck nodes was asked for his serum
    PSA. ESMO asks for PSA in men with bone metastases or an adenocarcinoma: the
    questionnaire says so as data (a dependency with its reason), not the code. A breast
    lump stays a question for a man where it can change the leader (male breast cancer is
    rare, and the priors say so, but axillary nodes make it one)."""
    asked = _questions(_young_man(sites, histology), triage)
    assert ("labs.psa" in asked) is psa_asked


# ------------------------------------------------------------- --resume with another run's rows
@pytest.fixture(scope="module")
def examples_rows(tmp_path_factory):
    """The rows of an uninterrupted run over the examples, as .jsonl and .csv (--top-k 3 and 4)."""
    folder = tmp_path_factory.mktemp("rows")
    rows = {}
    for name, top_k in (("rows.jsonl", "3"), ("rows.csv", "3"), ("rows4.csv", "4")):
        assert (
            _run("score", CASES / "examples", "-o", folder / name, "--top-k", top_k).exit_code == 0
        )
        rows[name] = (folder / name).read_bytes()
    return rows


@pytest.mark.parametrize(
    ("partial", "top_k", "said"),
    [
        ("rows.csv", "4", "(--top-k is not the interrupted run's (3 → 4))"),
        ("rows.jsonl", "3", "(not a CSV output of cup-triage score)"),
    ],
)
def test_a_csv_resume_that_keeps_no_row_says_why(tmp_path, examples_rows, partial, top_k, said):
    """A CSV --resume after a run with another --top-k, or from a JSON Lines partial file,
    threw every row away without a word (its header differs, so nothing was read back);
    JSON Lines said it. Now the CSV run says so too, and the output is a clean run's."""
    output = tmp_path / "out.csv"
    (tmp_path / "out.csv.partial").write_bytes(examples_rows[partial])
    result = _run("score", CASES / "examples", "-o", output, "--resume", "--top-k", top_k)
    assert result.exit_code == 0
    assert f"resume: out.csv.partial does not begin with this run's header {said}" in (
        result.stderr
    )
    assert output.read_bytes() == examples_rows["rows4.csv" if top_k == "4" else "rows.csv"]


def test_resume_from_rows_in_another_order_names_both_cases_not_a_changed_case(
    tmp_path, examples_rows
):
    """Rows of the same cases in another order (a partial file of another run, or inputs
    given in another order) were reported as 'case X changed since the interrupted run'."""
    first, second, *_ = examples_rows["rows.jsonl"].splitlines(keepends=True)
    output = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.partial").write_bytes(second + first)
    result = _run("score", CASES / "examples", "-o", output, "--resume")
    assert result.exit_code == 0
    assert "resume: the interrupted run's next row is case ex-anal-1 of " in result.stderr
    assert "(other inputs, or in another order)" in result.stderr
    assert output.read_bytes() == examples_rows["rows.jsonl"]


# ------------------------------------------------------------ a quiz stopped at any prompt
QUIZ_ANSWERS = ["lung", "", "stomach 60, lung 40", "markers.cdx2", "oesophagus", ""]


@pytest.mark.parametrize("at", sampled_by_default(range(len(QUIZ_ANSWERS)), 3))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_quiz_stopped_at_any_prompt_logs_what_was_answered_and_gives_nothing_away(
    tmp_path, monkeypatch, at, signum
):
    """Ctrl-C in `teach quiz` ended with 'interrupted (an interrupted score run continues
    with --resume)' and no session log; SIGTERM and SIGHUP killed it without a word. Now
    every stop logs the stages answered (not completed), reveals nothing and exits 128 + N."""
    import json

    from cup_triage.cli import common, teach

    answers = iter(QUIZ_ANSWERS[:at])

    def read_line(prompt):
        for answer in answers:
            return answer
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise common.Stopped(signum)

    monkeypatch.setattr(teach, "read_line", read_line)
    logs = tmp_path / "logs"
    result = _run("teach", "quiz", "t12", "--learner", "rt", "--log-dir", logs)
    assert result.exit_code == common.STOP_EXIT[signum], result.output
    (log,) = logs.iterdir()
    record = json.loads(log.read_text())
    assert record["completed"] is False and len(record["stages"]) == at // 2
    assert f"interrupted: the stages answered are logged to {log}" in result.stderr
    assert "confirmed primary" not in result.output.lower()
    assert "Oesophagus" not in result.stdout.replace("oesophagus", "")


def test_ctrl_c_outside_score_does_not_speak_of_resume(monkeypatch):
    from cup_triage.cli import rank

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rank, "load_case", interrupted)
    result = _run("rank", CASES / "example.yaml")
    assert result.exit_code == 130
    assert result.stderr.strip() == "interrupted"


# ------------------------------------------------------------------- hostile FHIR Bundles
def _patient_changed(tmp_path, **changes):
    import json

    bundle = json.loads((CASES / "fhir" / "bone-psa.json").read_text())
    (patient,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    patient.update(changes)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    return _run("score", path, "-o", "-")


def test_a_patient_gender_outside_the_fhir_value_set_is_refused_not_dropped(tmp_path):
    """Patient.gender '<script>…' (or 'M', 'Male ') left the sex unknown without a word:
    only female and male were read, anything else ignored. other and unknown still leave it
    unknown, as the value set means."""
    result = _patient_changed(tmp_path, gender="<script>alert(1)</script>")
    assert result.exit_code == 1
    assert (
        "Bundle bone-psa › Patient/p2 › gender: expected female | male | other | unknown, "
        "got '<script>alert(1)</script>'"
    ) in result.stderr
    assert _patient_changed(tmp_path, gender="unknown").exit_code == 0


def test_a_birth_date_after_the_assessment_is_named_on_the_patient(tmp_path):
    """A birthDate in the future gave 'case bone-psa › age: Input should be greater than or
    equal to 0, got -965': a field the Bundle does not have."""
    result = _patient_changed(tmp_path, birthDate="2990-01-01")
    assert result.exit_code == 1
    assert "Patient/p2 › birthDate: born 2990-01-01, after the assessment date 2025-" in (
        result.stderr
    )


# ------------------------------------------------------------------ outputs that are case files
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("other.json", '{"id": "c9", "sex": "male", "sites": ["bone"]}\n'),
        ("export.csv", "id,sex,sites\nc9,male,bone\n"),
    ],
)
def test_score_never_replaces_a_case_file_that_is_not_one_of_its_inputs(tmp_path, name, text):
    """`score a.json -o b.json` (b.jsonl meant) replaced the case file b.json without a
    word: only a case file inside an input folder was protected. An earlier score output
    (and an empty file) may still be replaced."""
    victim = tmp_path / name
    victim.write_text(text)
    result = _run("score", CASES / "example.yaml", "-o", victim)
    assert result.exit_code == 2
    assert f"{victim}: the output would overwrite a file that is not an earlier score output" in (
        result.output
    )
    assert victim.read_text() == text
    victim.write_text("")
    assert _run("score", CASES / "example.yaml", "-o", victim).exit_code == 0
    assert _run("score", CASES / "example.yaml", "-o", victim).exit_code == 0


# ------------------------------------------------------------------------------ alias bombs
def test_one_anchor_named_by_every_case_is_bounded_for_the_whole_file(tmp_path):
    """Each case stayed under the 200,000-value bound, but an anchor of 150,000 values named
    by 2,000 cases (a 370 kB file) built 300 million values: `score` ran for minutes. What
    aliases add is now bounded for the whole file; the cases before the bound are scored."""
    lines = ["- id: c0", "  sex: male", "  notes: &a [" + ",".join(["x"] * 150_000) + "]"]
    for n in range(1, 2000):
        lines += [f"- id: c{n}", "  sex: male", "  notes: *a"]
    source = tmp_path / "cases.yaml"
    source.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    result = _run("score", source, "-o", tmp_path / "rows.jsonl", "--jobs", "1")
    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    assert (
        "skipped: " + str(source) + ":9 › case #3: invalid YAML: aliases add more than "
        "200,000 values in this file (an alias bomb?)"
    ) in result.stderr
    assert "2 of 3 cases scored, 1 failed" in result.stdout


def test_a_number_python_will_not_read_is_named_without_python_advice(tmp_path):
    """A 5,000-digit age in a JSON case was refused with Python's own advice, 'use
    sys.set_int_max_str_digits() to increase the limit': not the user's to act on."""
    source = tmp_path / "case.json"
    source.write_text('{"id": "c1", "age": ' + "9" * 5000 + "}")
    result = _run("score", source, "-o", "-")
    assert result.exit_code == 1
    assert "invalid value: Exceeds the limit (4300 digits) for integer string conversion" in (
        result.stderr
    )
    assert "sys.set_int_max_str_digits" not in result.output


# ------------------------------------------------------------------------ the record of attacks
# (attack, expected, observed, fixed by): "fixed by" names the test above that now holds it,
# "held" that nothing broke, "left: why" what was seen and not changed.
ATTACKS = [
    (
        "rank CASE | head -1",
        "141, quiet, as score -o - | head",
        "exit 1 (rich's own closed-pipe exit)",
        "test_every_command_ends_quietly_with_141_when_its_reader_is_gone",
    ),
    (
        "--help / --version into a closed pipe",
        "141, quiet",
        "exit 1 (click handles EPIPE while parsing)",
        "test_help_and_version_into_a_closed_pipe_end_quietly_with_141_too",
    ),
    (
        "any command with standard output closed (>&-)",
        "one line, exit 74",
        "traceback, exit 1",
        "test_a_closed_standard_output_is_one_line_and_exit_74_not_a_traceback",
    ),
    (
        "any command with standard error closed (2>&-)",
        "the command's exit code",
        "exit 1 even on success",
        "test_a_closed_standard_error_does_not_turn_success_into_exit_1",
    ),
    (
        "score with descriptor 1 closed: OUT.partial opened as descriptor 1",
        "rows only in the output",
        "nothing wrote to it, but the slot was free",
        "test_a_batch_started_with_standard_output_closed_never_writes_rows_into_descriptor_1",
    ),
    (
        "rank - with standard input closed (<&-)",
        "one line, exit 2",
        "internal error (sys.stdin is None)",
        "test_reading_a_closed_standard_input_is_an_empty_file_not_a_bug",
    ),
    (
        "SIGHUP mid-score, one process and with workers (whole group)",
        "129, says OUT.partial is kept; resume gives the same bytes",
        "129 without a word",
        "test_a_hang_up_mid_batch_says_where_the_rows_are_and_resumes_to_the_same_bytes",
    ),
    (
        "a CSV export piped to score -",
        "read as CSV, or told how",
        "one error row 'got str'",
        "test_a_csv_export_on_standard_input_is_read_as_csv_when_asked_and_named_when_not",
    ),
    (
        "--stdin-format json given YAML; a misspelt CSV column on stdin",
        "one located line each",
        "(new option)",
        "test_an_explicit_stdin_format_is_kept_to_and_a_bad_csv_column_is_named",
    ),
    (
        "synonyms in prior_cancer (one, list), pathology_favours, sites, features",
        "read as ids",
        "read, but synonyms.LIST_FIELDS named prior_cancer to no effect",
        "test_synonyms_are_read_in_every_field_that_may_be_a_list",
    ),
    (
        "ask: a man with liver metastases only",
        "no question for a subset his answers rule out",
        "serum PSA asked to 'show' the bone-PSA subset",
        "test_no_question_is_asked_for_a_subset_the_answers_already_rule_out",
    ),
    (
        "ask: a 28-year-old man with squamous neck nodes",
        "no serum PSA (ESMO: men with bone or adenocarcinoma)",
        "asked for his PSA",
        "test_serum_psa_is_asked_of_a_man_with_bone_metastases_or_an_adenocarcinoma",
    ),
    (
        "ask: a young man with axillary adenocarcinoma or bone metastases",
        "breast lump asked only where it can change the leader",
        "asked (breast at 9% of the differential, male breast cancer in the sex prior)",
        "left: sensible, data-driven already",
    ),
    (
        "--resume, CSV partial of another --top-k or a JSON Lines partial",
        "says why nothing is kept",
        "every row thrown away without a word",
        "test_a_csv_resume_that_keeps_no_row_says_why",
    ),
    (
        "--resume, rows of the same cases in another order",
        "rescored, message names both cases",
        "'case X changed since the interrupted run'",
        "test_resume_from_rows_in_another_order_names_both_cases_not_a_changed_case",
    ),
    (
        "--resume, a duplicated row, an empty, truncated or .json partial",
        "same bytes as a clean run",
        "same bytes",
        "held",
    ),
    (
        "--resume, a hand-edited row (top1_probability 0.99)",
        "rescored from that row",
        "rescored; message said the case changed",
        "held (message now 'case X, or its row, changed')",
    ),
    (
        "--resume, a partial of binary bytes without a line break",
        "rescored",
        "rescored without a word (read as one torn line)",
        "left: a torn last line is dropped by design; there was no whole row to keep",
    ),
    (
        "quiz: Ctrl-C, SIGTERM, SIGHUP at every prompt",
        "stages logged, nothing revealed, 130/143/129",
        "Ctrl-C: score's --resume note, no log; SIGTERM/SIGHUP: killed, no log",
        "test_a_quiz_stopped_at_any_prompt_logs_what_was_answered_and_gives_nothing_away",
    ),
    (
        "Ctrl-C in rank, ask while loading",
        "'interrupted', 130",
        "'(an interrupted score run continues with --resume)'",
        "test_ctrl_c_outside_score_does_not_speak_of_resume",
    ),
    (
        "ask and quiz: end of input at every prompt",
        "exit 0, saved or logged, no traceback",
        "as expected",
        "held",
    ),
    ("ask: Ctrl-C at every prompt once started", "saved, 130", "saved, 130", "held"),
    (
        "quiz: 'why', 'rank', 'help', 'confirmed_primary', a primary's name as the next question",
        "not understood, nothing revealed",
        "'Not understood', nothing revealed",
        "held",
    ),
    (
        "quiz --learner '<script>…/../../etc'",
        "a safe log name",
        "t12-script-alert-1-script-etc-….json",
        "held",
    ),
    (
        "teach handout (teacher, student, .md) with markup and {{ 7*7 }} in title, theme, "
        "vignette, points, source",
        "escaped, not evaluated",
        "escaped; the template text stays literal",
        "held",
    ),
    (
        "teach handout .md with a markdown link in the vignette",
        "inert text",
        "kept as markdown",
        "left: a Markdown renderer's job; HTML is escaped",
    ),
    ("teach summary: markup in learner, case id and title", "escaped", "escaped", "held"),
    (
        "teach summary: one log that is not a quiz log in the folder",
        "that log named",
        "the whole summary refused, one line",
        "left: one clear line, nothing silently dropped",
    ),
    (
        "evaluate --html: markup in case ids, folder names; SVG content",
        "escaped",
        "escaped; the SVG holds numbers only",
        "held",
    ),
    (
        "FHIR: Patient.gender '<script>…'",
        "refused, naming Patient › gender",
        "sex left unknown without a word",
        "test_a_patient_gender_outside_the_fhir_value_set_is_refused_not_dropped",
    ),
    (
        "FHIR: birthDate in the future",
        "named on the Patient",
        "'case › age: … got -965'",
        "test_a_birth_date_after_the_assessment_is_named_on_the_patient",
    ),
    (
        "FHIR: two Patients, a Bundle in a Bundle, an entry without or with a text resource, "
        "entry not a list, an unknown resource, a bare Patient, id with markup or 100,000 "
        "characters, NaN, 40-deep extensions, a duplicate key, 20,000 repeated Observations",
        "one located line each, no traceback",
        "as expected",
        "held",
    ),
    (
        "FHIR: a Bundle with no Patient",
        "scored with sex and age unknown",
        "scored",
        "left: a Bundle may hold findings only",
    ),
    (
        "YAML: one 150,000-value anchor named by 2,000 cases (370 kB)",
        "bounded, quickly",
        "minutes of CPU",
        "test_one_anchor_named_by_every_case_is_bounded_for_the_whole_file",
    ),
    (
        "JSON: 100,000-deep nesting; a 5,000-digit number",
        "one line each",
        "held; Python's set_int_max_str_digits advice shown",
        "test_a_number_python_will_not_read_is_named_without_python_advice",
    ),
    (
        "lone surrogates in a JSON id, note, source, lab unit; YAML \\uD800",
        "one line, or kept escaped",
        "as expected",
        "held",
    ),
    (
        "BOM in JSON, two BOMs, a BOM inside a value; CRLF and CR-only YAML; U+2028 in an id; "
        "a NEL byte",
        "read, or one line naming it",
        "as expected",
        "held",
    ),
    (
        "CSV: a column twice (also by case or synonym), CR-only lines, UTF-16, a quoted line "
        "break, blank ids, too many or few cells, blank lines before the header, CRLF with a BOM",
        "one located line each",
        "as expected",
        "held",
    ),
    (
        "labs.psa 1e308 ng/mL",
        "refused as implausible",
        "accepted as a raised PSA",
        "left: a plausibility bound per test is knowledge that needs a source",
    ),
    (
        "the same case file twice, or through a link",
        "duplicate-id error rows",
        "as expected",
        "held",
    ),
    (
        "two score runs writing one output at once",
        "the second refused, exit 75; the first whole",
        "as expected",
        "held",
    ),
    ("-o a folder, a FIFO, a link to a victim", "refused, nothing written", "as expected", "held"),
    (
        "-o an existing case file (.json) or registry export (.csv) not among the inputs",
        "refused",
        "replaced without a word",
        "test_score_never_replaces_a_case_file_that_is_not_one_of_its_inputs",
    ),
    (
        "-o in a read-only folder, or onto a 0444 file",
        "exit 73 / kept",
        "root ignores permissions here",
        "left: not testable as root; a 0444 OUT is replaced with its mode, as documented",
    ),
    (
        "-o a name holding a line break",
        "escaped in messages",
        "printed raw in the summary line",
        "left: the user typed it; control characters from inputs are escaped",
    ),
]


def test_every_attack_is_recorded_with_a_test_or_a_reason():
    names = set(globals())
    assert len(ATTACKS) >= 30
    for attack, expected, observed, fixed in ATTACKS:
        assert attack and expected and observed
        assert fixed.startswith(("held", "left: ")) or fixed in names, fixed
