"""Bad input of every kind gets one clear line naming the file (and the case and field where
there is one) and a non-zero exit, and never costs the good cases around it."""

import contextlib
import csv
import importlib
import io
import json
import random
import string
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cup_triage.cli import cli
from cup_triage.io.batch import BatchSummary, score_rows
from cup_triage.io.load import MAX_FILE_BYTES, iter_cases, load_case
from cup_triage.reasoning.errors import CupTriageError

from .strategies import VOCABULARY, case_data

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
    ("wrong-type.yaml", "id: w1\nage: old\n", ["case w1 › age", "valid integer", "'old'"]),
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
    ("bad-answer.yaml", "id: b1\nlabs: {psa: high}\n", ["case b1 › labs.psa", "elevated | normal"]),
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
    max_examples=300,
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


@FUZZ
@given(text=yamlish())
def test_fuzz_yaml_like_text(tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _only_located_errors(path)


@FUZZ
@given(value=_json_values() | st.lists(_json_values(), max_size=5), cut=st.integers(0, 200))
def test_fuzz_json_structures(tmp_path_factory, value, cut):
    path = tmp_path_factory.getbasetemp() / "fuzz.json"
    text = json.dumps(value)
    path.write_text(text if cut > len(text) else text[:cut])
    _only_located_errors(path)


@FUZZ
@given(text=csvish())
def test_fuzz_csv(tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    _only_located_errors(path)


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
