"""Bad input of every kind gets one clear line naming the file (and the case and field where
there is one) and a non-zero exit, and never costs the good cases around it."""

import contextlib
import csv
import fcntl
import importlib
import io
import json
import math
import os
import random
import shutil
import stat
import string
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cup_triage.cli import cli
from cup_triage.io.batch import BatchSummary, score_rows
from cup_triage.io.load import MAX_FILE_BYTES, bundled_rules_dir, iter_cases, load_case
from cup_triage.io.partial import cell_read, spreadsheet_safe
from cup_triage.reasoning.errors import CupTriageError
from cup_triage.reasoning.ranking import normalise

from .conftest import CASES
from .strategies import VOCABULARY, case_data, examples

GOOD_BEFORE = "id: good-before\nsex: female\nsites: [axillary_nodes]\nhistology: adenocarcinoma\n"
GOOD_AFTER = '[{"id": "good-after", "sex": "male", "sites": ["bone"]}]'

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
)


def _huge(path):
    with path.open("wb") as handle:  # sparse: the size is what is refused, not the content
        handle.truncate(MAX_FILE_BYTES + 1)


BAD_FILES = [
    # (name, content, what the error line must say)
    ("malformed.yaml", "id: [unclosed\n", ["malformed.yaml:2", "invalid YAML"]),
    ("malformed.json", '{"id": "j1", "sex": }', ["malformed.json:1", "invalid JSON"]),
    ("truncated.json", '[{"id": "t1"}, {"id": "t2", "se', ["truncated.json", "invalid JSON"]),
    ("quote.csv", 'id,sex\nq1,"male\n', ["quote.csv", "invalid CSV"]),
    ("wrong-type.yaml", "id: w1\nage: old\n", ["case w1 › age", "whole number of years", "'old'"]),
    (
        "sites-type.yaml",
        "id: w2\nsites: 42\n",
        ["case w2 › sites", "expected a list of ids or a mapping"],
    ),
    (
        "unknown-marker.yaml",
        "id: u1\nmarkers: {ck77: positive}\n",
        ["case u1 › markers.ck77", "did you mean 'ck7'?"],
    ),
    ("unknown-field.yaml", "id: u2\ndiagnosis: lung\n", ["case u2 › diagnosis", "unknown field"]),
    (
        "unknown-primary.json",
        '{"id": "u3", "confirmed_primary": "lungs"}',
        ["case u3 › confirmed_primary", "did you mean 'lung'?"],
    ),
    ("bad-answer.yaml", "id: b1\nlabs: {psa: odd}\n", ["case b1 › labs.psa", "elevated | normal"]),
    ("duplicate-id.yaml", "- {id: good-before}\n", ["case good-before › id", "duplicate case id"]),
    (
        "duplicate-key.yaml",
        "id: k1\nsex: male\nsex: female\n",
        ["duplicate-key.yaml:3", "duplicate key 'sex'"],
    ),
    (
        "male-ovary.yaml",
        "id: c1\nsex: male\nsites: [liver, ovary]\n",
        ["case c1 › sites.ovary", "metastases to the ovary in a male patient"],
    ),
    (
        "female-psa.yaml",
        "id: c2\nsex: female\nmarkers: {psa: positive}\n",
        ["case c2 › markers.psa", "female patient"],
    ),
    (
        "female-serum-psa.csv",
        "id,sex,labs.psa\nc3,female,elevated\n",
        ["case c3 › labs.psa", "female patient"],
    ),
    (
        "male-bleeding.yaml",
        "id: c4\nsex: male\nhistory: {postmenopausal_bleeding: yes}\n",
        ["case c4 › history.postmenopausal_bleeding", "male patient"],
    ),
    (
        "female-testis.yaml",
        "id: c5\nsex: female\nhistory: {testicular_mass: yes}\n",
        ["case c5 › history.testicular_mass", "female patient"],
    ),
    (
        "female-prostate.yaml",
        "id: c6\nsex: female\nconfirmed_primary: prostate\n",
        ["case c6 › confirmed_primary", "Prostate primary in a female patient"],
    ),
    (
        "male-prior-ovary.yaml",
        "id: c7\nsex: male\nprior_cancer: ovary\n",
        ["case c7 › prior_cancer", "male patient"],
    ),
    (
        "no-sex-contradiction.yaml",
        "id: c8\nsites: [ovary]\nmarkers: {nkx3_1: positive}\n",
        ["case c8 › markers.nkx3_1", "contradicts sites.ovary"],
    ),
    ("long-line.csv", "id,sex\n" + "x" * 2**21, ["long-line.csv:2", "longer than 1 MB"]),
    ("empty.yaml", "", ["empty.yaml", "empty file"]),
    ("comments-only.yaml", "# nothing yet\n", ["comments-only.yaml", "empty file"]),
    ("empty.json", "  \n", ["empty.json", "empty file"]),
    ("empty.csv", "", ["empty.csv", "empty file"]),
    (
        "scalar.yaml",
        "42\n",
        ["scalar.yaml", "expected a case (a mapping) or a list of cases, got int"],
    ),
    ("binary.yaml", bytes(range(256)) * 4, ["binary.yaml", "not a text case file"]),
    (
        "image.json",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        ["image.json", "not a text case file"],
    ),
    (
        "spreadsheet.csv",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
        ["spreadsheet.csv", "not a text case file"],
    ),
    (
        "latin1.yaml",
        "id: l1\nnotes: biopsie réalisée\n".encode("latin-1"),
        ["latin1.yaml:2", "not UTF-8 text", "save the file as UTF-8"],
    ),
    ("latin1.csv", "id,notes\nl2,réalisée\n".encode("latin-1"), ["latin1.csv", "not UTF-8 text"]),
    ("utf16.yaml", "id: u16\n".encode("utf-16"), ["utf16.yaml", "UTF-16"]),
    ("huge.yaml", _huge, ["huge.yaml", "file too large", "50 MB"]),
    ("billion-laughs.yaml", BILLION_LAUGHS, ["billion-laughs.yaml", "alias bomb"]),
    ("recursive.yaml", "id: r1\nnotes: &loop [*loop]\n", ["recursive.yaml:2", "recursive"]),
    (
        "deep.yaml",
        "id: d1\nnotes: " + "[" * 5000 + "]" * 5000 + "\n",
        ["deep.yaml", "nested deeper"],
    ),
    (
        "deep.json",
        '{"id": "d2", "notes": ' + "[" * 50000 + "]" * 50000 + "}",
        ["deep.json", "nested deeper"],
    ),
    (
        "python-tag.yaml",
        "!!python/object/apply:os.system ['echo pwned']\n",
        ["python-tag.yaml:1", "could not determine a constructor"],
    ),
    ("number-key.yaml", "id: n1\n1: one\n", ["number-key.yaml:2", "a key must be text, got 1"]),
    (
        "list-with-text.yaml",
        "- {id: li1}\n- just text\n",
        ["list-with-text.yaml:2 › case #2", "a case is a mapping"],
    ),
    ("two-documents.yaml", "id: t1\n---\nid: t2\n", ["two-documents.yaml:2", "one YAML document"]),
    (
        "unknown-column.csv",
        "id,sex,diagnosis\nx1,male,lung\n",
        ["unknown-column.csv › diagnosis", "unknown column"],
    ),
    ("misspelt-column.csv", "id,markers.ck77\nx2,positive\n", ["did you mean 'markers.ck7'?"]),
    ("no-id-column.csv", "sex,age\nmale,61\n", ["no-id-column.csv", "no 'id' column"]),
    (
        "extra-cell.csv",
        "id,sex\nx3,male,surplus\n",
        ["extra-cell.csv:2 › case x3", "row 1 has 3 cells"],
    ),
    ("id-with-newline.yaml", 'id: "two\\nlines"\n', ["case two\\nlines › id", "one line"]),
    ("octal-id.yaml", "id: 010\n", ["octal-id.yaml:1", "'010' is read by YAML as the number 8"]),
    ("bool-age.yaml", "id: a1\nage: true\n", ["case a1 › age", "the yes/no value true"]),
    (
        "duplicate-key.json",
        '{"id": "k2", "sex": "male", "sex": "female"}',
        ["duplicate-key.json:1", "duplicate key 'sex'"],
    ),
    ("nan.json", '{"id": "n2", "age": NaN}', ["nan.json:1", "NaN is not a JSON number"]),
    ("escape-id.yaml", 'id: "a\\e[2Jb"\n', ["case a\\x1b[2Jb › id", "printable"]),
    ("fifo.yaml", os.mkfifo, ["fifo.yaml", "not a regular file: a FIFO"]),
    (
        "dangling.yaml",
        lambda path: path.symlink_to(path.parent / "nowhere"),
        ["broken symbolic link"],
    ),
    (
        "latin1-row.csv",
        b"id,sex\nl3,m\xe9le\n",
        ["latin1-row.csv:2 › case l3", "not UTF-8 text (byte 0xe9)"],
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_gets_one_line_and_the_good_cases_around_it_are_scored(
    tmp_path, name, content, expected
):
    (tmp_path / "a-good.yaml").write_text(GOOD_BEFORE)
    bad = tmp_path / name
    if callable(content):
        content(bad)
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content, encoding="utf-8")
    (tmp_path / "z-good.json").write_text(GOOD_AFTER)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(tmp_path / "a-good.yaml"),
            str(bad),
            str(tmp_path / "z-good.json"),
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert all(line.isprintable() for line in result.stderr.splitlines()), result.stderr
    assert all(line.isprintable() for line in out.read_text().splitlines())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    scored = [row["case_id"] for row in rows if row["status"] == "ok"]
    assert scored[0] == "good-before" and scored[-1] == "good-after"
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped: ")]
    assert len(skipped) == 1, result.stderr
    assert skipped[0].startswith(f"skipped: {bad}")
    for text in expected:
        assert text in skipped[0]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [b for b in BAD_FILES if b[0] != "duplicate-id.yaml"],
    ids=[b[0] for b in BAD_FILES if b[0] != "duplicate-id.yaml"],
)
def test_rank_of_a_bad_file_is_one_error_line_and_exit_2(tmp_path, name, content, expected):
    bad = tmp_path / name
    if callable(content):
        content(bad)
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(cli, ["rank", str(bad)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {bad}"), result.stderr
    assert expected[-1] in lines[0]


def test_a_rules_file_with_a_bad_condition_is_rejected_naming_the_rule(tmp_path, kb):
    from cup_triage.io.load import bundled_rules_dir

    for path in bundled_rules_dir().glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    history = yaml.safe_load((tmp_path / "history.yaml").read_text())
    rule = history["rules"][0]
    rule["when"][0] = {
        "finding": rule["when"][0].get("finding", "sex"),
        "is": "yes",
        "is_not": "no",
    }
    (tmp_path / "history.yaml").write_text(yaml.safe_dump(history, sort_keys=False))
    result = CliRunner().invoke(cli, ["--rules-dir", str(tmp_path), "rules", "check"])
    assert result.exit_code == 3, result.output
    line = result.stderr.strip()
    assert "history.yaml" in line and f"rule {rule['id']} › when[0]" in line
    assert "exactly one test" in line


def test_a_malformed_rules_file_is_a_knowledge_base_error(tmp_path):
    from cup_triage.io.load import bundled_rules_dir

    for path in bundled_rules_dir().glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "imaging.yaml").write_text("rules: [unclosed\n")
    result = CliRunner().invoke(cli, ["--rules-dir", str(tmp_path), "rules", "check"])
    assert result.exit_code == 3
    assert result.stderr.strip().startswith(f"Error: {tmp_path / 'imaging.yaml'}:2: invalid YAML")


def test_an_unexpected_exception_is_one_line_without_debug_and_a_traceback_with_it(
    monkeypatch, tmp_path
):
    rank_module = importlib.import_module("cup_triage.cli.rank")  # not the command `cli.rank`

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(rank_module, "load_case", broken)
    case = tmp_path / "c.yaml"
    case.write_text("id: c\n")
    result = CliRunner().invoke(cli, ["rank", str(case)])
    assert result.exit_code == 70
    assert result.stderr.strip().splitlines() == [
        "Error: internal error: ZeroDivisionError: a bug (run with --debug for the traceback, "
        "and please report it)"
    ]
    result = CliRunner().invoke(cli, ["--debug", "rank", str(case)])
    assert isinstance(result.exception, ZeroDivisionError)


# --- fuzzing: whatever the bytes, the loaders raise nothing but CupTriageError -------------

YAML_TOKENS = [
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "&a ",
    "*a ",
    "&b ",
    "*b ",
    "!!str ",
    "!x ",
    "!!python/name:os.system ",
    "\n",
    "\n  ",
    "  ",
    "id",
    "sex",
    "male",
    "female",
    "markers",
    "ck7",
    "psa",
    "positive",
    "sites",
    "ovary",
    "liver",
    "yes",
    "no",
    "~",
    "'",
    '"',
    "# c",
    "<<",
    "---",
    "...",
    "%YAML 1.1\n",
    "? ",
    "|",
    ">",
    "1",
    "-1.5e3",
    "0x1F",
    "2024-02-30",
    "\t",
    "9" * 5000,
    "\\",
    "\u00e9",
    "\x00",
    "\x85",
]


@st.composite
def yamlish(draw):
    return "".join(draw(st.lists(st.sampled_from(YAML_TOKENS), max_size=60)))


def _json_values():
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=30,
    )


CSV_CELLS = [
    "id",
    "sex",
    "age",
    "sites",
    "markers.ck7",
    "labs.psa",
    "history.smoking",
    "x",
    "male",
    "female",
    "61",
    "²",
    "liver;bone",
    "positive",
    "elevated",
    "yes",
    "",
    '"',
    "a,b",
    "\n",
    "\r",
    "\x00",
    "é",
]


@st.composite
def csvish(draw):
    rows = draw(
        st.lists(st.lists(st.sampled_from(CSV_CELLS) | st.text(max_size=5), max_size=6), max_size=6)
    )
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    text = buffer.getvalue()
    if draw(st.booleans()):  # and some damage
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(['"', "\n", ",", "\x00", ""])) + text[cut:]
    return text


FUZZ = settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _only_located_errors(path):
    """Read a file as `score` does; every problem must be a one-line CupTriageError value."""
    for item in iter_cases([path], VOCABULARY):
        assert (item.case is None) != (item.error is None)
        if item.error is not None:
            assert isinstance(item.error, CupTriageError)
            assert str(path) in str(item.error) and "\n" not in str(item.error)
    with contextlib.suppress(CupTriageError):
        load_case(path, VOCABULARY)


@FUZZ
@given(content=st.binary(max_size=3000), suffix=st.sampled_from([".yaml", ".json", ".csv"]))
def test_fuzz_random_bytes(tmp_path_factory, content, suffix):
    path = tmp_path_factory.getbasetemp() / f"fuzz{suffix}"
    path.write_bytes(content)
    _only_located_errors(path)


@pytest.mark.slow
@FUZZ
@given(text=yamlish())
def test_fuzz_yaml_like_text(tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _only_located_errors(path)


@pytest.mark.slow
@FUZZ
@given(value=_json_values() | st.lists(_json_values(), max_size=5), cut=st.integers(0, 200))
def test_fuzz_json_structures(tmp_path_factory, value, cut):
    path = tmp_path_factory.getbasetemp() / "fuzz.json"
    text = json.dumps(value)
    path.write_text(text if cut > len(text) else text[:cut])
    _only_located_errors(path)


@pytest.mark.slow
@FUZZ
@given(text=csvish())
def test_fuzz_csv(tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    _only_located_errors(path)


@pytest.mark.slow
@FUZZ
@given(data=case_data(), seed=st.integers(0, 2**32 - 1))
def test_fuzz_mutated_valid_cases(tmp_path_factory, data, seed):
    rng = random.Random(seed)
    text = yaml.safe_dump(data, sort_keys=False)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(string.printable + "&*!{}[]") + text[at + rng.randint(0, 3) :]
    path = tmp_path_factory.getbasetemp() / "mutated.yaml"
    path.write_text(text)
    _only_located_errors(path)


# --- a batch does not depend on the order of its files ----------------------------------------


@pytest.mark.slow
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    cases=st.lists(case_data(), min_size=2, max_size=5, unique_by=lambda c: c["id"]),
    seed=st.integers(0, 1000),
)
def test_rows_do_not_depend_on_the_order_of_files(tmp_path_factory, triage, cases, seed):
    folder = tmp_path_factory.mktemp("batch")
    files = []
    for number, case in enumerate(cases):
        path = folder / f"case-{number}.yaml"
        path.write_text(yaml.safe_dump(case))
        files.append(path)
    shuffled = random.Random(seed).sample(files, len(files))

    def rows(paths):
        found = score_rows(iter_cases(paths, VOCABULARY), triage, 3, BatchSummary())
        return {row["case_id"]: row for row in found}

    assert rows(files) == rows(shuffled)


PARSE_SAMPLES = [
    "",
    "id: a\nsex: male\n",
    "- {id: 1}\n- 3\n- {x: [1,2}\n- {id: 4}",
    "- {1: a}\n- {a: 1, a: 2}\n- {id: ok}\n- {d: 2024-02-31}\n- {id: last}",
    "- &b {sex: male}\n- {<<: *b, id: a}\n",
    "x: &a [*a]",
    "---\na: 1\n---\nb: 2\n",
    "[" * 100 + "]" * 100,
    "\x01abc",
    "id: x\n\tsex: y",
    "a: *nope",
    BILLION_LAUGHS,
]

PARSE_SCRIPT = """
import json, sys
if sys.argv[1] == "pure-python":
    sys.modules["yaml._yaml"] = None  # as if PyYAML had been built without libyaml
from cup_triage.io.formats import Record, yaml_records
for text in json.loads(sys.stdin.read()):
    print(json.dumps([[r.index, r.data] if isinstance(r, Record) else "error"
                      for r in yaml_records(text)], default=str))
"""


def test_without_libyaml_the_pure_python_parser_reads_the_same_records():
    def parsed(parser):
        finished = subprocess.run(
            [sys.executable, "-c", PARSE_SCRIPT, parser],
            input=json.dumps(PARSE_SAMPLES),
            capture_output=True,
            text=True,
            check=True,
        )
        return finished.stdout

    assert parsed("pure-python") == parsed("libyaml")


# --- nothing silently changed: a batch of hostile ids, one row each ---------------------------

# (a case as a YAML flow mapping, the row's status, text its case_id or error must hold)
HOSTILE_CASES = [
    ("{id: 010}", "error", "'010' is read by YAML as the number 8 (a leading 0 means octal)"),
    ("{id: 0x1F}", "error", "'0x1F' is read by YAML as the number 31 (hexadecimal)"),
    ("{id: 1:30}", "error", "'1:30' is read by YAML as the number 90 (base 60)"),
    ("{id: 1_000}", "error", "'1_000' is read by YAML as the number 1000"),
    ("{id: !!binary aGVsbG8=}", "error", "a case id is text, got binary data"),
    ("{id: yes}", "error", "got the yes/no value true (quote it"),
    ("{id: 1.50}", "error", "got the number 1.5 (quote it"),
    ("{id: 2024-01-05}", "ok", "2024-01-05"),  # a date-like id is kept as written
    ("{id: '8'}", "ok", "8"),
    ("{id: 8}", "error", "duplicate case id"),  # a whole number is its own text: the same id
    ("{id: a1, age: true}", "error", "a1 › age: expected a whole number of years, got the yes/no"),
    ("{id: a2, age: 2024-01-05}", "error", "a2 › age: expected a whole number of years, got '2024"),
    ("{id: a3, age: 010}", "error", "'010' is read by YAML as the number 8"),
    ("{id: a4, history: {smoking: on}}", "error", "'on' is read by YAML as true: write yes or no"),
    ("{id: a5, history: {smoking: Off}}", "error", "'Off' is read by YAML as false"),
    ("{id: '  '}", "error", "a case id cannot be blank"),
    ("{id: ' cup1'}", "error", "a case id has no leading or trailing spaces"),
    ("{id: cup1}", "ok", "cup1"),
    ("{id: ｃｕｐ１}", "error", "duplicate case id: the same as 'cup1' once width, case"),
    ("{id: CUP1}", "error", "duplicate case id: the same as 'cup1'"),
    ('{id: "cup\\e[2J1"}', "error", "cup\\x1b[2J1"),
    ('{id: "cup\\u202E1"}', "error", "cup\\u202e1"),
    ("{id: '=HYPERLINK(\"http://x\")'}", "ok", '=HYPERLINK("http://x")'),
    ("{id: '+1'}", "ok", "+1"),
    ("{id: '-1'}", "ok", "-1"),
    ("{id: '@SUM(1)'}", "ok", "@SUM(1)"),
]


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    """One `score` run over a folder of hostile input, to CSV (where formulas matter)."""
    folder = tmp_path_factory.mktemp("hostile")
    lines = "".join(f"- {case}\n" for case, _, _ in HOSTILE_CASES)
    (folder / "a-ids.yaml").write_text(lines, encoding="utf-8")
    (folder / "b-linked").symlink_to(tmp_path_factory.mktemp("elsewhere"))
    (folder / "c-gone.yaml").symlink_to(folder / "nowhere.yaml")
    os.mkfifo(folder / "d-pipe.yaml")
    output = folder / "out.csv"
    result = CliRunner().invoke(cli, ["score", str(folder), "-o", str(output), "--jobs", "1"])
    with output.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    again = CliRunner().invoke(cli, ["score", str(folder), "-o", str(output), "--jobs", "1"])
    return folder, result, rows, again


@pytest.mark.parametrize(
    ("number", "case", "status", "expected"),
    [(n, *c) for n, c in enumerate(HOSTILE_CASES)],
    ids=[c[0] for c in HOSTILE_CASES],
)
def test_a_hostile_id_is_refused_or_kept_exactly_as_written(
    hostile_batch, number, case, status, expected
):
    _, result, rows, _ = hostile_batch
    row = [row for row in rows if row["file"].endswith("a-ids.yaml")][number]
    assert row["status"] == status, row
    if status == "ok":
        assert row["case_id"].removeprefix("'") == expected
    else:
        assert expected in row["error"]
        assert f"skipped: {row['error']}" in result.stderr


def test_nothing_in_a_hostile_batch_reaches_a_terminal_or_a_spreadsheet_raw(hostile_batch):
    _, result, rows, _ = hostile_batch
    assert "Traceback" not in result.output
    assert all(line.isprintable() for line in result.output.splitlines())
    for row in rows:
        for column, cell in row.items():
            assert cell.isprintable(), (column, cell)
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)


def test_file_names_that_start_like_a_formula_are_escaped_in_csv(tmp_path):
    for name in ("=cmd|' calc'!A0.yaml", "-2+3.yaml", "@SUM(A1).yaml"):
        (tmp_path / name).write_text(f"id: {name[:3]!r}\nsex: [male]\n")
    with contextlib.chdir(tmp_path):
        names = sorted(p.name for p in tmp_path.iterdir())
        arguments = ["score", "-o", "out.csv", "--jobs", "1", "--", *names]
        result = CliRunner().invoke(cli, arguments)
        text = Path("out.csv").read_text()
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["file"] for row in rows] == [f"'{name}" for name in names]
    assert all(row["error"].startswith("'") and row["case_id"].startswith("'") for row in rows)


def test_links_fifos_and_the_output_itself_are_never_silently_left_out_or_read(hostile_batch):
    folder, result, rows, again = hostile_batch
    problems = {Path(row["file"].removeprefix("'")).name: row["error"] for row in rows}
    assert "a link to a folder is not followed" in problems["b-linked"]
    assert "broken symbolic link" in problems["c-gone.yaml"]
    assert "not a regular file: a FIFO" in problems["d-pipe.yaml"]
    assert all(name not in problems for name in ("out.csv", "out.csv.partial"))
    # The second run sees the first one's out.csv in the folder and does not read it.
    assert again.stdout.splitlines()[0] == result.stdout.splitlines()[0]
    assert f"{len(HOSTILE_CASES) + 3} cases" in result.stdout


def test_an_unreadable_sub_folder_is_an_error_row(tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text("id: a\n")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.yaml").write_text("id: b\n")
    real_scandir = os.scandir

    def scandir(path):  # chmod 000 does not stop root, who runs these tests in CI
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    output = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["score", str(tmp_path), "-o", str(output)])
    assert result.exit_code == 1
    assert f"skipped: {tmp_path / 'locked'}: cannot read the folder: Permission denied" in (
        result.stderr
    )


# --- a bad CSV row costs only that row ---------------------------------------------------------

CSV_DAMAGE = {
    "a Latin-1 byte": (b"d1,m\xe9le,61", "not UTF-8 text (byte 0xe9)"),
    "a cell over the csv module's 128 kB": (b"d1,male," + b"7" * 200_000, "whole number"),
    "a line over 1 MB": (b"d1,male," + b"7" * (2**20 + 10), "longer than 1 MB"),
    "a quote never closed": (b'd1,"male,61', "a quoted cell is never closed"),
    "a stray quote": (b'd1,ma"le",61', "expected female | male, got 'ma\"le\"'"),
    "an extra cell": (b"d1,male,61,surplus", "has 4 cells"),
    "a NUL byte": (b"d1,ma\x00le,61", "expected female | male"),
}


def test_a_csv_export_over_1_mb_of_short_rows_loses_none():
    # The 1 MB bound is a row's: it once counted every line read since the start of the
    # file, and lost the row at each megabyte of a long export (3,194 of 20,000 bench cases).
    from cup_triage.io.formats import Header, Record, csv_records

    lines = ["id,sex,age\n", *(f"{n:0>100},male,61\n" for n in range(12_000))]
    assert sum(map(len, lines)) > 2**20
    read = list(csv_records(lines))
    assert [type(item) for item in read] == [Header] + [Record] * 12_000


@pytest.mark.parametrize("damage", CSV_DAMAGE, ids=list(CSV_DAMAGE))
def test_a_damaged_csv_row_costs_that_row_only_and_names_its_line(tmp_path, damage):
    bad, message = CSV_DAMAGE[damage]
    rows = [b"id,sex,age", b"r1,male,61", b"r2,female,62", bad, b"r4,male,63", b"r5,female,64"]
    path = tmp_path / "export.csv"
    path.write_bytes(b"\n".join(rows) + b"\n")
    loaded = list(iter_cases([path], VOCABULARY))
    assert [item.case.id for item in loaded if item.case] == ["r1", "r2", "r4", "r5"]
    (error,) = [item.error for item in loaded if item.error]
    assert f"{path}:4 ›" in str(error) and message in str(error)


@settings(max_examples=examples(60), deadline=None)
@given(
    cases=st.integers(1, 12),
    damaged=st.dictionaries(st.integers(0, 11), st.sampled_from(list(CSV_DAMAGE)), max_size=3),
)
def test_every_row_of_a_damaged_csv_is_counted_and_every_good_row_is_scored(cases, damaged):
    damaged = {row: kind for row, kind in damaged.items() if row < cases}
    lines = [b"id,sex,age"]
    for number in range(cases):
        bad = CSV_DAMAGE[damaged[number]][0] if number in damaged else None
        # a quote never closed eats the rows after it only until they are read again
        lines.append(bad.replace(b"d1", b"d%d" % number) if bad else b"r%d,male,60" % number)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        path.write_bytes(b"\n".join(lines) + b"\n")
        loaded = list(iter_cases([path], VOCABULARY))
    good = [f"r{n}" for n in range(cases) if n not in damaged]
    assert [item.case.id for item in loaded if item.case] == good
    assert len(loaded) == cases


# --- output that cannot be turned against its reader ---------------------------------------------


@settings(max_examples=examples(200), deadline=None)
@given(cell=st.text())
@example(cell='\uff1dHYPERLINK("http://x")')
@example(cell="'\uff20SUM(A1)")
def test_a_csv_cell_never_starts_like_a_formula_and_reads_back_as_written(cell):
    safe = spreadsheet_safe(cell)
    assert not safe.startswith(
        ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
    )
    assert cell_read(safe) == cell


def test_the_handouts_escape_what_a_case_file_says(tmp_path):
    case = yaml.safe_load((CASES / "teaching" / "t01-axillary-node-woman.yaml").read_text())
    case["id"] = "<img src=x onerror=alert(1)>"
    case["notes"]["title"] = "<script>alert('title')</script>"
    case["notes"]["vignette"] = "A </p><script>alert(1)</script> vignette"
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(case))
    for suffix in ("html", "md"):
        out = tmp_path / f"handout.{suffix}"
        result = CliRunner().invoke(cli, ["teach", "handout", str(path), "-o", str(out)])
        assert result.exit_code == 0, result.output
        text = out.read_text()
        assert "<script>" not in text and "<img" not in text
        assert "&lt;script&gt;" in text


def test_an_id_that_looks_like_markup_is_printed_as_written(tmp_path):
    path = tmp_path / "case.yaml"
    path.write_text('id: "[/x][bold]"\nsex: male\n')
    result = CliRunner().invoke(cli, ["rank", str(path)])
    assert result.exit_code == 0, result.output
    assert "case [/x][bold]" in result.output


def _score(*args):
    return CliRunner().invoke(cli, ["score", *map(str, args), "--jobs", "1"])


def test_a_partial_planted_as_a_link_or_a_hard_link_is_refused_and_its_target_untouched(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("id,sex\nv1,male\n")
    before = export.read_bytes()
    output = tmp_path / "out.csv"
    partial = tmp_path / "out.csv.partial"
    for plant in (partial.symlink_to, partial.hardlink_to):
        plant(export)
        for resume in ([], ["--resume"]):
            result = _score(export, "-o", output, *resume)
            assert result.exit_code == 73, result.output
            assert str(partial) in result.stderr
        assert export.read_bytes() == before and not output.exists()
        partial.unlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_an_output_that_is_a_device_a_folder_or_a_link_is_refused(tmp_path):
    case = tmp_path / "c.yaml"
    case.write_text("id: c\n")
    os.mknod(tmp_path / "full.csv", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    for name, code, why in (
        ("full.csv", 73, "is a character device"),
        ("folder.csv", 2, "is a directory"),  # click's usage error
        ("link.csv", 73, "is a symbolic link"),
        ("missing/out.csv", 73, "no such folder"),
    ):
        result = _score(case, "-o", tmp_path / name)
        assert result.exit_code == code and why in result.stderr, (name, result.output)
    assert stat.S_ISCHR(os.lstat(tmp_path / "full.csv").st_mode)
    assert not (tmp_path / "elsewhere.csv").exists()


def test_a_replaced_output_keeps_its_permissions(tmp_path):
    case = tmp_path / "c.yaml"
    case.write_text("id: c\n")
    output = tmp_path / "out.jsonl"
    output.write_text("old\n")
    output.chmod(0o640)
    assert _score(case, "-o", output).exit_code == 0
    assert stat.S_IMODE(output.stat().st_mode) == 0o640 and output.read_text() != "old\n"


def test_a_second_run_on_the_same_output_refuses_while_the_first_holds_it(tmp_path):
    case = tmp_path / "c.yaml"
    case.write_text("id: c\n")
    output = tmp_path / "out.csv"
    partial = tmp_path / "out.csv.partial"
    partial.write_text("rows of the run in progress\n")
    with partial.open("r+") as first_run:
        fcntl.flock(first_run, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for resume in ([], ["--resume"]):
            result = _score(case, "-o", output, *resume)
            assert result.exit_code == 75, result.output
            assert result.stderr.strip().splitlines() == [
                f"Error: {partial}: another cup-triage run is writing this output "
                "(wait for it to finish, or choose another output)"
            ]
    assert partial.read_text() == "rows of the run in progress\n" and not output.exists()


def test_writes_that_cannot_happen_are_one_line_naming_the_file(tmp_path):
    case = tmp_path / "c.yaml"
    case.write_text("id: c\n")
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0 and _mount(folder, "tmpfs", "ro,size=64k"):
        expected = "Read-only file system"
    elif os.geteuid() != 0:
        folder.chmod(0o555)
        expected = "Permission denied"
    else:
        pytest.skip("cannot make a read-only folder here")
    try:
        for args in (
            ["score", str(case), "-o", str(folder / "o.csv")],
            [
                "teach",
                "handout",
                str(CASES / "teaching" / "t01-axillary-node-woman.yaml"),
                "-o",
                str(folder / "h.html"),
            ],
        ):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 73, result.output
            (line,) = result.stderr.strip().splitlines()
            assert str(folder) in line and expected in line
    finally:
        if expected == "Read-only file system":
            subprocess.run(["umount", str(folder)], check=True)


def _mount(folder, kind, options):
    finished = subprocess.run(
        ["mount", "-t", kind, "-o", options, kind, str(folder)], capture_output=True
    )
    return finished.returncode == 0


# --- the knowledge base's numbers ------------------------------------------------------------


def _rules_copy(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(bundled_rules_dir(), rules)
    return rules


def _edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _first_rule_lr(value, key="lung"):
    def change(data):
        data["rules"][0]["lr"][key] = value

    return change


BAD_NUMBERS = [
    ("history.yaml", _first_rule_lr(float("inf")), "rule hist.smoking.yes › lr.lung", "finite"),
    ("history.yaml", _first_rule_lr(float("nan")), "rule hist.smoking.yes › lr.lung", "finite"),
    ("history.yaml", _first_rule_lr(-2.0), "rule hist.smoking.yes › lr.lung", "greater than"),
    (
        "history.yaml",
        lambda data: data["rules"][0].__setitem__("lr_others", float("inf")),
        "rule hist.smoking.yes › lr_others",
        "finite",
    ),
    (
        "priors.yaml",
        lambda data: data["priors"]["probabilities"].__setitem__("lung", float("inf")),
        "priors.probabilities.lung",
        "finite",
    ),
    (
        "priors.yaml",
        lambda data: data["priors"]["probabilities"].__setitem__("lung", float("nan")),
        "priors.probabilities.lung",
        "finite",
    ),
    (
        "priors.yaml",
        lambda data: data["priors"]["probabilities"].__setitem__("lung", -0.1),
        "priors.probabilities.lung",
        "greater than",
    ),
    (
        "priors.yaml",
        lambda data: data["priors"].__setitem__(
            "probabilities", dict.fromkeys(data["priors"]["probabilities"], 0)
        ),
        "priors",
        "add up to a positive, finite number",
    ),
]


@pytest.mark.parametrize(
    ("file", "change", "where", "message"),
    BAD_NUMBERS,
    ids=[
        "lr inf",
        "lr nan",
        "lr negative",
        "lr_others inf",
        "prior inf",
        "prior nan",
        "prior negative",
        "priors all zero",
    ],
)
def test_a_number_that_is_not_a_finite_weight_is_refused_at_load(
    tmp_path, file, change, where, message
):
    rules = _rules_copy(tmp_path)
    _edit(rules / file, change)
    case = tmp_path / "c.yaml"
    case.write_text("id: c\nsex: male\n")
    for command in (["rules", "check"], ["rank", str(case)]):
        result = CliRunner().invoke(cli, ["--rules-dir", str(rules), *command])
        assert result.exit_code == 3, result.output
        (line,) = result.stderr.strip().splitlines()
        assert f"{rules / file} › {where}" in line and message in line, line


@settings(max_examples=examples(300), deadline=None)
@given(
    scores=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
        | st.just(-math.inf),
        min_size=1,
        max_size=25,
    )
)
def test_posteriors_are_finite_and_sum_to_one_whatever_the_evidence(scores):
    posteriors = normalise(scores)
    assert all(math.isfinite(p) and 0 <= p <= 1 for p in posteriors)
    assert math.isclose(sum(posteriors), 1.0, rel_tol=1e-9)


@pytest.mark.slow
def test_a_fifo_in_the_rules_folder_is_refused_without_waiting(tmp_path):
    rules = _rules_copy(tmp_path)
    os.mkfifo(rules / "waiting.yaml")
    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cup_triage.cli import main; main()",
            "--rules-dir",
            str(rules),
            "rules",
            "check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 3
    assert f"{rules / 'waiting.yaml'}: not a regular file: a FIFO" in finished.stderr


def test_a_yml_rules_file_is_read(tmp_path):
    rules = _rules_copy(tmp_path)
    (rules / "extra.yml").write_text("description: x\nrules: [{id: Bad Id}]\n")
    result = CliRunner().invoke(cli, ["--rules-dir", str(rules), "rules", "check"])
    assert result.exit_code == 3 and str(rules / "extra.yml") in result.stderr


@pytest.mark.parametrize(
    ("finding", "message"),
    [("ck__7", "cannot contain '__'"), ("ck.7", "read alike once '.' is '_'")],
)
def test_finding_ids_the_engine_would_misread_are_refused(tmp_path, finding, message):
    rules = _rules_copy(tmp_path)
    text = (rules / "vocabulary.yaml").read_text()
    added = f'      - {{id: "{finding}", label: "X", question: "X?", prevalence: 0.5}}\n'
    if finding == "ck.7":  # collides with a finding ck_7 added beside it
        added += '      - {id: ck_7, label: "Y", question: "Y?", prevalence: 0.5}\n'
    anchor = '      - {id: ck7, label: "CK7"'
    (rules / "vocabulary.yaml").write_text(text.replace(anchor, added + anchor, 1))
    result = CliRunner().invoke(cli, ["--rules-dir", str(rules), "rules", "check"])
    assert result.exit_code == 3, result.output
    assert message in result.stderr


def test_the_lint_finds_rules_that_conclude_facts_in_a_cycle(tmp_path):
    rules = _rules_copy(tmp_path)
    cycle = [
        {
            "id": f"cycle.{a}",
            "kind": "history",
            "when": [{"fact": f"loop_{b}", "is": "yes"}],
            "concludes": {f"loop_{a}": "yes"},
            "rationale": "A rule written to test that the lint sees a cycle.",
            "source": "this test",
        }
        for a, b in (("a", "b"), ("b", "a"))
    ]
    (rules / "cycle.yaml").write_text(yaml.safe_dump({"description": "cycle", "rules": cycle}))
    result = CliRunner().invoke(cli, ["--rules-dir", str(rules), "rules", "check"])
    assert result.exit_code == 1, result.output
    assert "cycle.yaml › rule cycle.a: rules conclude facts in a cycle" in result.output
    case = tmp_path / "c.yaml"
    case.write_text("id: c\n")
    engine = CliRunner().invoke(cli, ["--rules-dir", str(rules), "rank", str(case)])
    assert engine.exit_code == 3 and "cycle" in engine.stderr
