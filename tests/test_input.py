"""Input that is easy to get right: synonyms, a listing of the ids, every error at once."""

import json

import pytest
from click.testing import CliRunner

import cup_triage
from cup_triage.cli import cli
from cup_triage.reasoning.problems import MAX_PROBLEMS


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ({"prior_cancer": "gastric"}, {"prior_cancer": "stomach"}),
        ({"confirmed_primary": "colon"}, {"confirmed_primary": "colorectal"}),
        ({"sex": "F"}, {"sex": "female"}),
        ({"sex": "M"}, {"sex": "male"}),
        ({"histology": "SCC"}, {"histology": "squamous_cell_carcinoma"}),
        (
            {"markers": {"TTF-1": "pos", "CK 7": "+"}},
            {"markers": {"ttf1": "positive", "ck7": "positive"}},
        ),
        (
            {"markers": {"ck20": "neg", "cdx2": "−"}},
            {"markers": {"ck20": "negative", "cdx2": "negative"}},
        ),
        (
            {"labs": {"CA-125": "raised", "cea": "high"}},
            {"labs": {"ca125": "elevated", "cea": "elevated"}},
        ),
        (
            {"molecular": {"egfr": "mutated", "kras": "wild type"}},
            {"molecular": {"egfr": "detected", "kras": "not_detected"}},
        ),
        ({"history": {"haemoptysis": "y"}}, {"history": {"hemoptysis": "yes"}}),
    ],
)
def test_synonyms_are_read_as_the_ids_they_stand_for(written, read):
    case = cup_triage.parse_case(
        {"id": "s", "sex": "male", **written} if "sex" not in written else {"id": "s", **written}
    )
    for field, value in read.items():
        assert getattr(case, field) == value


@pytest.mark.parametrize("site", ["neck nodes", "neck_nodes", "Neck Nodes"])
def test_neck_nodes_are_the_cervical_nodes(site):
    case = cup_triage.parse_case({"id": "n", "sites": [site, "liver"]})
    assert {s for s, a in case.sites.items() if a == "yes"} == {"cervical_nodes", "liver"}


def test_a_synonym_never_hides_a_real_mistake_and_a_misspelt_one_is_suggested(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("id: c1\nprior_cancer: gastrc\n")
    result = run("rank", path)
    assert result.exit_code == 2 and "did you mean 'stomach'?" in result.output
    path.write_text('id: c1\nsex: "ma\\"le"\n')
    assert run("rank", path).exit_code == 2


def test_every_problem_of_a_file_is_reported_at_once_each_on_its_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "- {id: b1, markers: {ck7: maybe, gata99: positive}, histology: adenocarcinom}\n"
        "- {id: b2, sex: female, labs: {psa: 5}}\n"
        "- {id: b3, sex: male}\n"
    )
    result = run("rank", path)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith(f"Error: {path}")
    for expected in (
        "case b1 › markers.ck7",
        "case b1 › markers.gata99",
        "case b1 › histology",
        "case b2 › labs.psa",
    ):
        assert sum(expected in line for line in lines) == 1, expected


def test_at_most_a_screenful_of_problems_is_reported(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text("".join(f"- {{id: c{i}, sex: nobody}}\n" for i in range(40)))
    lines = run("rank", path).output.strip().splitlines()
    assert len(lines) == MAX_PROBLEMS + 1 and "20 more problem(s)" in lines[-1]


def test_a_batch_row_stays_one_line_and_says_how_many_more_problems_there_are(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("id: b1\nmarkers: {ck7: maybe, ttf1: perhaps}\n")
    result = run("score", path, "-o", "-")
    row = json.loads(result.stdout.splitlines()[0])
    assert "\n" not in row["error"] and "1 more problem(s)" in row["error"]


def test_vocab_lists_ids_labels_answers_units_and_the_synonyms_accepted():
    result = run("vocab", "labs")
    assert result.exit_code == 0
    psa = next(line for line in result.output.splitlines() if line.startswith("labs.psa:"))
    assert "elevated | normal" in psa and "ng/mL" in psa
    rows = {row["key"]: row for row in json.loads(run("vocab", "--json").output)}
    assert "neck nodes" in rows["sites.cervical_nodes"]["synonyms"]
    assert "pancytokeratin" in rows["markers.pan_ck"]["synonyms"]
    assert "neck nodes" in run("vocab", "sites").output


def test_a_semicolon_separated_csv_gets_a_hint(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("id;sex;age\nr1;male;61\n")
    result = run("score", path, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 1 and "looks separated by ';'" in result.output


def test_csv_headers_are_read_without_case_and_every_unknown_column_is_named(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("ID,Sex,Markers.TTF-1,Sites\nr1,M,pos,liver;neck nodes\n")
    result = run("score", path, "-o", "-")
    assert result.exit_code == 0, result.output
    path.write_text("id,colour,flavour\nr1,red,sweet\n")
    result = run("score", path, "-o", "-")
    assert "unknown columns 'colour', 'flavour'" in result.output


def _records(records):
    return [
        (type(r).__name__, str(r), getattr(r, "line", None), getattr(r, "case", None))
        if isinstance(r, Exception)
        else r
        for r in records
    ]


TRICKY_YAML = [
    "- id: a\n  age: 61\n- id: b\n  markers: {ck7: positive}\n",
    "- id: a\n  age: 010\n- id: b\n- id: c\n  age: 1_000\n- id: d\n",  # refused numbers, read on
    "- id: a\n- id: a2\n  sex: female\n  sex: male\n- id: b\n",  # a duplicate key in item 2
    "- &x {id: a}\n- *x\n- id: c\n",  # anchors and aliases
    "- id: a\n  <<: {sex: male}\n- id: b\n",  # a merge key
    "- id: !!str 12\n- id: b\n  age: !!int '5'\n",  # explicit tags
    "- id: 2024-01-31\n- id: yes\n- id: ~\n- id: 1.5e3\n- id: '7'\n",  # what YAML 1.1 reads
    "- id: a\n  notes: [1, [2, [3, {x: null}]]]\n- [not, a, mapping]\n- 5\n",
    "- id: a\n- id: b\n  sites: [liver\n",  # a syntax error after a good item
    "id: one\nsex: male\n",  # one document
    "id: one\n---\nid: two\n",  # two documents
    "- {? [complex]: key}\n- id: b\n",  # a key that is not text
    "- id: a\n  x: =\n",  # the YAML 'value' tag
    "[" * 40 + "]" * 40,  # nested too deep
    "",
    "# only a comment\n",
    "- id: a\n  age: 12345678901234567890123456789\n",
]


@pytest.mark.parametrize("text", TRICKY_YAML)
def test_plain_yaml_records_read_quickly_are_the_records_the_careful_way_reads(text):
    from cup_triage.io import formats

    careful = formats._yaml_records(text, True, formats.MAX_NODES, fast=False)
    assert _records(formats.yaml_records(text)) == _records(careful)


def _bundled_yaml_files():
    from cup_triage.io.load import bundled_cases_dir, bundled_rules_dir

    files = [
        *sorted(bundled_cases_dir().rglob("*.yaml")),
        *sorted(bundled_rules_dir().glob("*.yaml")),
    ]
    assert len(files) > 20
    return files


def test_a_sample_of_the_bundled_yaml_files_reads_the_same_quickly_and_carefully():
    _reads_the_same_quickly_and_carefully(_bundled_yaml_files()[::5])


# Every file read twice by both parsers takes seconds: CI runs it.
@pytest.mark.slow
def test_every_bundled_yaml_file_reads_the_same_quickly_and_carefully():
    _reads_the_same_quickly_and_carefully(_bundled_yaml_files())


def _reads_the_same_quickly_and_carefully(files):
    from cup_triage.io import formats

    for path in files:
        text = path.read_text(encoding="utf-8")
        for split in (True, False):
            limit = formats.MAX_NODES if split else 2_000_000
            careful = formats._yaml_records(text, split, limit, fast=False)
            quick = formats.yaml_records(text, split_list=split, limit=limit)
            assert _records(quick) == _records(careful), path
