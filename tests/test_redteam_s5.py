"""Attacks of the session-5 red team on outputs, calibration what-ifs, batches and reports:
each test is one attack, and passes when the attack fails."""

import re

import pytest
from click.testing import CliRunner

from cup_triage.cli import cli

from .conftest import CASES


def _run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def _replace(path, old, new, count=1):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


# ------------------------------------------------------------ NaN and infinity never printed
@pytest.mark.parametrize(
    ("file", "old", "new", "field"),
    [
        (
            "vocabulary.yaml",
            "burden: 1,",
            "burden: .inf,",
            "steps.history.burden: Input should be a finite number",
        ),
        (
            "calibration.yaml",
            "never_found_and_not_assignable: 0.02",
            "never_found_and_not_assignable: .nan",
            "calibration.other_primary.components.never_found_and_not_assignable: Input should "
            "be a finite number",
        ),
    ],
)
def test_a_knowledge_base_number_that_is_nan_or_infinite_is_refused_at_load(
    rules, file, old, new, field
):
    folder, _ = rules
    _replace(folder / file, old, new)
    result = _run("--rules-dir", folder, "rank", "--json", CASES / "example.yaml")
    assert result.exit_code == 3
    assert field in result.output
    assert "NaN" not in result.output and "Infinity" not in result.output


def test_json_output_refuses_nan_rather_than_printing_invalid_json():
    from cup_triage.io.render import to_json

    assert to_json({"p": 0.5}) == '{"p":0.5}'
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            to_json({"p": bad})


def test_an_assessment_cannot_carry_a_probability_that_is_not_a_number(assess):
    from pydantic import ValidationError

    candidate = assess({"sex": "male", "sites": ["bone"]}).candidates[0]
    with pytest.raises(ValidationError):
        type(candidate).model_validate({**candidate.model_dump(), "probability": float("nan")})


# ------------------------------------------------------------------ calibration what-ifs
@pytest.mark.parametrize(
    ("temperature", "weight", "field"),
    [
        (0.0, None, "what-if temperature"),
        (float("nan"), None, "what-if temperature"),
        (1.5, None, "what-if temperature"),
        (None, 2.0, "what-if prior_weighting.weight"),
        (None, float("inf"), "what-if prior_weighting.weight"),
        (None, 0.0, "what-if prior_weighting.weight"),
    ],
)
def test_a_what_if_calibration_is_checked_like_the_calibration_file(
    triage, temperature, weight, field
):
    from cup_triage.io.evaluation_report import with_calibration
    from cup_triage.reasoning.errors import InputError

    with pytest.raises(InputError) as raised:
        with_calibration(triage, temperature, weight)
    assert str(raised.value).startswith(field + ":")


def test_a_valid_what_if_changes_only_the_copy(triage):
    from cup_triage.io.evaluation_report import with_calibration

    before = triage.kb.calibration
    changed = with_calibration(triage, 0.7, 0.3).kb.calibration
    assert (changed.temperature, changed.prior_weight) == (0.7, 0.3)
    assert changed.rationale == before.rationale
    assert triage.kb.calibration is before


def test_an_empty_prior_weighting_is_refused_not_read_as_weight_one(rules):
    folder, _ = rules
    path = folder / "calibration.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"  prior_weighting:\n(    .*\n|      .*\n)+", "  prior_weighting: ~\n", text)
    path.write_text(text, encoding="utf-8")
    result = _run("--rules-dir", folder, "rules", "check")
    assert result.exit_code == 3
    (line,) = result.output.strip().splitlines()
    assert "calibration.yaml › calibration.prior_weighting: empty (~)" in line
    assert "leave the key out for a prior weight of 1" in line


# ------------------------------------------------------------- evaluate: unreadable cases
@pytest.mark.parametrize("grid", [(), ("--temperature", "0.7", "--temperature", "0.9")])
def test_evaluate_names_every_unreadable_case_once_in_every_mode(tmp_path, grid):
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("breast.yaml", "prostate.yaml"):
        (folder / name).write_bytes((CASES / "examples" / name).read_bytes())
    (folder / "zz-bad.yaml").write_text("id: bad1\nsex: sometimes\nconfirmed_primary: lung\n")
    result = CliRunner().invoke(cli, ["evaluate", str(folder), *grid], catch_exceptions=False)
    assert result.exit_code == 0
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped:")]
    assert skipped == [
        f"skipped: {folder / 'zz-bad.yaml'} › case bad1 › sex: expected female | male, "
        "got 'sometimes'"
    ]
    if grid:
        rows = [line.split() for line in result.stdout.splitlines()[1:]]
        assert len(rows) == 2 and all(row[-1] == "1" for row in rows)  # unreadable column
    else:
        assert "1 unreadable" in result.stdout


# ------------------------------------------------------ --resume after another run's setup
def _interrupted(tmp_path):
    """An interrupted run's OUT.partial: a whole run's rows, as a run killed after its last
    row would leave them."""
    output = tmp_path / "rows.jsonl"
    assert _run("score", CASES / "examples", "-o", output, "--jobs", "1").exit_code == 0
    output.rename(tmp_path / "rows.jsonl.partial")
    return output


@pytest.mark.parametrize("change", ["rules", "top-k"])
def test_resume_after_another_knowledge_base_or_top_k_says_so_and_keeps_no_stale_row(
    tmp_path, rules, change
):
    folder, _ = rules
    output = _interrupted(tmp_path)
    if change == "rules":
        calibration = folder / "calibration.yaml"
        tuned = re.search(r"^  temperature: .*\n", calibration.read_text(encoding="utf-8"), re.M)
        assert tuned, "calibration.yaml states no temperature"
        _replace(calibration, tuned.group(0), "  temperature: 0.55\n")
        options, clean_options = ["--rules-dir", folder], ["--rules-dir", folder]
        said = "resume: the knowledge base is not the interrupted run's (hash "
    else:
        options, clean_options = [], []
        said = "resume: --top-k is not the interrupted run's (3 → 4); scored again from there"
    top_k = ["--top-k", "4"] if change == "top-k" else []
    result = _run(*options, "score", CASES / "examples", "-o", output, "--resume", *top_k)
    assert result.exit_code == 0
    assert said in result.stderr
    assert "read back from the interrupted run" not in result.stderr
    clean = tmp_path / "clean.jsonl"
    _run(*clean_options, "score", CASES / "examples", "-o", clean, *top_k)
    assert output.read_bytes() == clean.read_bytes()


# ----------------------------------------------------------------- outputs that must not be
def test_score_refuses_an_output_that_is_a_case_file_inside_an_input_folder(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    case = folder / "c1.json"
    case.write_text('{"id": "c1", "sex": "male", "sites": ["bone"]}\n')
    before = case.read_bytes()
    result = _run("score", folder, "-o", case)
    assert result.exit_code == 2
    assert f"{case}: the output would overwrite a case file in the input folder {folder}" in (
        result.output
    )
    assert case.read_bytes() == before
    assert not (folder / "c1.json.partial").exists()


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_score_into_its_input_folder_again_replaces_its_own_earlier_output(tmp_path, suffix):
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "c1.yaml").write_text("id: c1\nsex: male\nsites: [bone]\n")
    output = folder / f"rows{suffix}"
    assert _run("score", folder, "-o", output).exit_code == 0
    first = output.read_bytes()
    again = _run("score", folder, "-o", output)
    assert again.exit_code == 0, again.output
    assert output.read_bytes() == first


def test_evaluate_html_never_replaces_a_case_file_or_writes_through_a_link(tmp_path):
    case = tmp_path / "c1.yaml"
    case.write_bytes((CASES / "example.yaml").read_bytes())
    result = _run("evaluate", case, "--html", case)
    assert result.exit_code == 2
    assert f"{case}: an HTML report ends in .html" in result.output
    assert case.read_bytes() == (CASES / "example.yaml").read_bytes()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "report.html"
    link.symlink_to(victim)
    result = _run("evaluate", case, "--html", link)
    assert result.exit_code == 73
    assert "is a symbolic link" in result.output
    assert victim.read_text() == "keep me"


def test_a_full_disk_mid_batch_says_the_rows_so_far_are_kept_for_resume(tmp_path, monkeypatch):
    import errno

    from cup_triage.io import partial

    real, calls = partial.write_all, []

    def fills_up(fd, data):
        calls.append(1)
        if len(calls) > 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(partial, "write_all", fills_up)
    output = tmp_path / "rows.jsonl"
    result = _run("score", CASES / "examples", "-o", output, "--jobs", "1")
    assert result.exit_code == 74
    assert "No space left on device" in result.output
    assert "run the same command with --resume" in result.output
    assert not output.exists()
    monkeypatch.undo()
    assert _run("score", CASES / "examples", "-o", output, "--resume").exit_code == 0
    clean = tmp_path / "clean.jsonl"
    _run("score", CASES / "examples", "-o", clean)
    assert output.read_bytes() == clean.read_bytes()


# ------------------------------------------------- standard output full or closed by its reader
def _installed(*args, stdout):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("cup-triage")
    return subprocess.run(
        [str(script), *map(str, args)], stdout=stdout, stderr=subprocess.PIPE, timeout=120
    )


@pytest.mark.parametrize(
    "args",
    [("--version",), ("schema", "row"), ("rank", "--json", CASES / "example.yaml")],
)
def test_a_full_standard_output_is_a_write_error_not_a_bug(args):
    import os

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        done = _installed(*args, stdout=full)
    assert done.returncode == 74
    (line,) = done.stderr.decode().strip().splitlines()
    assert line.startswith("Error: standard output: cannot write: No space left on device")


def test_a_reader_that_stops_early_ends_the_batch_quietly_with_no_worker_left(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    cases = [{"id": f"p{n:04d}", "sex": "male", "sites": ["bone"]} for n in range(3000)]
    source = tmp_path / "cases.yaml"
    source.write_text(yaml.safe_dump(cases))
    script = Path(sys.executable).with_name("cup-triage")
    process = subprocess.Popen(
        [str(script), "score", str(source), "-o", "-", "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout.readline().startswith(b'{"case_id":"p0000"')
    process.stdout.close()
    assert process.wait(timeout=60) == 141
    assert process.stderr.read() == b""
    assert _processes_naming(source) == []


def _processes_naming(path):
    """Processes whose command line names `path` (forked workers keep their parent's)."""
    import os
    import time
    from pathlib import Path

    for _ in range(50):
        found = []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
        found = [pid for pid in found if pid != os.getpid()]
        if not found:
            return []
        time.sleep(0.1)
    return found


# ------------------------------------------------------------------------- hostile input
def test_a_megabyte_case_id_is_refused_not_copied_into_every_row_and_error(tmp_path):
    source = tmp_path / "cases.yaml"
    source.write_text(f'- id: "{"C" * 1_000_000}"\n  sex: male\n- id: ok\n  sex: male\n')
    output = tmp_path / "rows.csv"
    result = _run("score", source, "-o", output)
    assert result.exit_code == 1
    (skipped,) = [line for line in result.stderr.splitlines() if line.startswith("skipped:")]
    assert "id: a case id is at most 200 characters, got 1,000,000" in skipped
    assert len(skipped) < 400
    assert output.stat().st_size < 2000


def test_markup_in_case_ids_and_set_names_is_escaped_in_the_html_report(tmp_path):
    folder = tmp_path / "<img src=x onerror=alert(2)>"
    folder.mkdir()
    (folder / "c.yaml").write_text(
        '- id: "<script>alert(1)</script>"\n  sex: male\n  age: 70\n  sites: [bone]\n'
        '  imaging: {blastic_bone_lesions: "yes"}\n  labs: {psa: 900}\n'
        "  markers: {psa: positive, nkx3_1: positive}\n  confirmed_primary: lung\n"
    )
    report = tmp_path / "report.html"
    assert _run("evaluate", folder, "--html", report).exit_code == 0
    html = report.read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ---------------------------------------------------------- the interview as a person sees it
YOUNG_MAN_NODES = {
    "id": "rt-nodes",
    "sex": "male",
    "age": 34,
    "sites": [
        "cervical_nodes",
        "axillary_nodes",
        "inguinal_nodes",
        "mediastinal_nodes",
        "retroperitoneal_nodes",
    ],
    "histology": "poorly_differentiated_carcinoma",
    "imaging": {"midline_distribution": "yes", "generalised_lymphadenopathy": "yes"},
    "history": {"testicular_mass": "no", "night_sweats_fever": "no"},
    "prior_cancer": "none",
}


def test_the_node_pattern_is_asked_with_the_sites_and_the_midline_subset_is_not_missed(tmp_path):
    """A young man with nodes above and below the diaphragm: whether the disease is midline
    (the extragonadal germ-cell syndrome, a curable subset) was asked only at the imaging
    stage, after every stain, so an interview stopped early never raised the subset."""
    from .test_ask_jsonl import drive

    events = drive({"id": "rt-nodes"}, YOUNG_MAN_NODES, tmp_path)
    asked = [e["finding"] for e in events if e["event"] == "question"]
    assert asked[:6] == [
        "sex",
        "age",
        "sites",
        "imaging.midline_distribution",
        "imaging.generalised_lymphadenopathy",
        "histology",
    ]
    assert asked.index("history.testicular_mass") < min(
        i for i, finding in enumerate(asked) if finding.startswith(("labs.", "markers."))
    )
    result = events[-1]["document"]["assessments"][0]["assessment"]
    assert "midline_germ_cell_like" in {s["id"] for s in result["subsets"]}


def test_the_node_pattern_is_not_asked_when_no_involved_node_makes_it_a_question(tmp_path):
    from .test_ask_jsonl import AXILLARY_WOMAN, drive

    referral = {k: AXILLARY_WOMAN[k] for k in ("id", "sex", "age", "histology", "sites")}
    events = drive(referral, AXILLARY_WOMAN, tmp_path)
    asked = [e["finding"] for e in events if e["event"] == "question"]
    assert "imaging.midline_distribution" not in asked


def test_the_html_report_states_the_prior_weight_and_counts_unreadable_cases_up_front(tmp_path, kb):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "breast.yaml").write_bytes((CASES / "examples" / "breast.yaml").read_bytes())
    (folder / "zz-bad.yaml").write_text("id: bad1\nsex: sometimes\nconfirmed_primary: lung\n")
    report = tmp_path / "report.html"
    assert _run("evaluate", folder, "--html", report).exit_code == 0
    html = report.read_text(encoding="utf-8")
    calibration = kb.calibration
    stated = f"temperature {calibration.temperature:g},\nprior weight {calibration.prior_weight:g}"
    assert f"{stated}, tuned on" in html
    assert "<th>unreadable</th>" in html
    assert '<td class="bad">1</td></tr>' in html.split("</table>")[0]
