"""Attacks on the knowledge-base cache, the YAML fast path and worker-side validation (the
session-3 red team): each test is one attack, and passes when the attack fails."""

import os
import pickle
import shutil

import pytest

from cup_triage.io import files
from cup_triage.io.load import load_knowledge_base


def _entry(cache):
    (entry,) = sorted(cache.glob("*.pickle"))
    return entry


def _fresh(folder, monkeypatch):
    with monkeypatch.context() as m:
        m.setenv("CUP_TRIAGE_CACHE", "off")
        return load_knowledge_base(folder)


class _Planted:
    """A pickle that, when read, leaves a mark: proof that a planted cache file was run."""

    def __init__(self, mark):
        self.mark = str(mark)

    def __reduce__(self):
        return (exec, (f"open({self.mark!r}, 'w').write('ran')",))


def _plant(entry, mark):
    """Keep the entry's header (its digest: the planted file is 'for' these rules) and put a
    pickle that runs code after it."""
    data = entry.read_bytes()
    header = b"\n".join(data.split(b"\n", 2)[:2]) + b"\n"
    entry.write_bytes(header + pickle.dumps(_Planted(mark)))


def test_content_edited_with_the_old_mtime_is_loaded_again(rules, monkeypatch):
    folder, _ = rules
    before = load_knowledge_base(folder)
    priors = folder / "priors.yaml"
    status = priors.stat()
    text = priors.read_text(encoding="utf-8")
    # Same length, same mtime: only the bytes differ.
    edited = text.replace("Which primaries", "WHICH primaries", 1)
    assert edited != text and len(edited) == len(text)
    priors.write_text(edited, encoding="utf-8")
    os.utime(priors, ns=(status.st_atime_ns, status.st_mtime_ns))
    after = load_knowledge_base(folder)
    assert after is not before
    assert after.priors.model_dump() == _fresh(folder, monkeypatch).priors.model_dump()
    assert after.priors.model_dump() != before.priors.model_dump()


def test_a_touched_rules_file_with_the_same_content_is_the_same_knowledge_base(rules):
    folder, cache = rules
    before = load_knowledge_base(folder)
    os.utime(folder / "priors.yaml", (1, 1))
    assert load_knowledge_base(folder).fingerprint == before.fingerprint
    assert len(list(cache.glob("*.pickle"))) == 1


@pytest.mark.parametrize("how", ["link", "other-user", "group-writable", "world-writable"])
def test_a_planted_cache_file_is_never_run(rules, tmp_path, how):
    folder, cache = rules
    kb = load_knowledge_base(folder)
    entry = _entry(cache)
    mark = tmp_path / "ran"
    if how == "link":
        elsewhere = tmp_path / "planted.pickle"
        shutil.copy(entry, elsewhere)
        _plant(elsewhere, mark)
        elsewhere.chmod(0o600)
        entry.unlink()
        entry.symlink_to(elsewhere)
    else:
        _plant(entry, mark)
        if how == "other-user":
            if os.getuid() != 0:
                pytest.skip("giving a file to another user needs root")
            os.chown(entry, 65534, 65534)
        else:
            entry.chmod(0o620 if how == "group-writable" else 0o602)
    assert load_knowledge_base(folder).fingerprint == kb.fingerprint
    assert not mark.exists()


def test_a_cache_folder_another_user_could_write_is_not_used(rules, tmp_path):
    folder, cache = rules
    load_knowledge_base(folder)
    mark = tmp_path / "ran"
    _plant(_entry(cache), mark)
    cache.chmod(0o777)
    assert load_knowledge_base(folder).rules
    assert not mark.exists()


def test_a_cache_folder_that_is_a_link_is_not_used(rules, tmp_path, monkeypatch):
    folder, cache = rules
    load_knowledge_base(folder)
    mark = tmp_path / "ran"
    _plant(_entry(cache), mark)
    link = tmp_path / "link"
    link.symlink_to(cache)
    monkeypatch.setenv("CUP_TRIAGE_CACHE", str(link))
    assert load_knowledge_base(folder).rules
    assert not mark.exists()


def test_a_full_disk_while_caching_leaves_no_file_and_loads_all_the_same(rules, monkeypatch):
    folder, cache = rules

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "write_all", full)
    assert load_knowledge_base(folder).rules
    assert list(cache.iterdir()) == []  # neither an entry nor a temporary file


def test_a_cache_that_cannot_be_created_is_not_an_error(rules, monkeypatch):
    folder, _ = rules
    monkeypatch.setenv("CUP_TRIAGE_CACHE", "/proc/self/no-such-cache")
    assert load_knowledge_base(folder).rules


def test_a_rules_file_edited_while_it_is_loaded_is_not_cached_under_the_old_content(
    rules, monkeypatch
):
    """The digest is of the files before the load; an edit saved during the load must not be
    stored as the knowledge base of the old content (back at the old content, e.g. after
    `git checkout`, the edited rules would be served)."""
    folder, cache = rules
    from cup_triage.io import load

    priors = folder / "priors.yaml"
    original = priors.read_text(encoding="utf-8")
    real = load._load_knowledge_base

    def edited_during_the_load(where):
        priors.write_text(original.replace("Which primaries", "WHICH primaries"), encoding="utf-8")
        return real(where)

    monkeypatch.setattr(load, "_load_knowledge_base", edited_during_the_load)
    load_knowledge_base(folder)
    monkeypatch.setattr(load, "_load_knowledge_base", real)
    priors.write_text(original, encoding="utf-8")
    served = load_knowledge_base(folder).priors.model_dump()
    assert served == _fresh(folder, monkeypatch).priors.model_dump()


def test_a_relative_cache_home_is_ignored(rules, tmp_path, monkeypatch):
    """XDG: a relative $XDG_CACHE_HOME is invalid; a cache must not appear in the current
    folder (a case folder, a shared checkout)."""
    folder, _ = rules
    monkeypatch.delenv("CUP_TRIAGE_CACHE")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative-cache")
    load_knowledge_base(folder)
    assert list(work.iterdir()) == []


def test_a_rules_file_added_while_the_folder_is_loaded_is_not_cached_for_the_folder_without_it(
    rules, monkeypatch
):
    folder, _ = rules
    from cup_triage.io import load

    real = load._load_knowledge_base
    extra = folder / "zz-added.yaml"

    def added_during_the_load(where):
        extra.write_text("description: a rules file saved while the folder was loaded\n")
        return real(where)

    monkeypatch.setattr(load, "_load_knowledge_base", added_during_the_load)
    assert "zz-added.yaml" in load_knowledge_base(folder).files
    monkeypatch.setattr(load, "_load_knowledge_base", real)
    extra.unlink()
    assert "zz-added.yaml" not in load_knowledge_base(folder).files


def test_a_temporary_file_left_by_a_killed_writer_does_not_stay_forever(rules):
    folder, cache = rules
    cache.mkdir(mode=0o700)
    abandoned = cache / ".0123.pickle.deadbeef.tmp"
    abandoned.write_bytes(b"x" * 1000)
    os.utime(abandoned, (1, 1))
    current = cache / ".4567.pickle.cafebabe.tmp"  # another process writing right now
    current.write_bytes(b"y")
    load_knowledge_base(folder)
    assert not abandoned.exists()
    assert current.exists()


@pytest.mark.parametrize("block", ["priors", "calibration"])
def test_a_second_priors_or_calibration_file_is_named(rules, monkeypatch, block):
    from cup_triage.reasoning.errors import KnowledgeError

    folder, _ = rules
    source = "priors.yaml" if block == "priors" else "calibration.yaml"
    shutil.copy(folder / source, folder / "zz-copy.yaml")
    with pytest.raises(KnowledgeError) as raised:
        load_knowledge_base(folder)
    line = str(raised.value)
    assert f"zz-copy.yaml › {block}" in line and source in line


@pytest.mark.slow
def test_bad_and_duplicate_cases_checked_in_workers_give_the_rows_one_process_gives(
    tmp_path, triage
):
    """Validation moved into the workers: an invalid case in the middle, a duplicate in the
    same chunk as its first, one across a chunk boundary, and an id whose first case was
    invalid (so the second is no duplicate) must give the same rows, in the same order."""
    import yaml

    from cup_triage.io.batch import CHUNK, WORKERS_WORTH_IT, BatchSummary, score_rows
    from cup_triage.io.load import iter_records

    count = WORKERS_WORTH_IT + 3 * CHUNK
    cases = [
        {"id": f"w{n:04d}", "sex": "female", "sites": ["liver", "bone"][: 1 + n % 2]}
        for n in range(count)
    ]
    cases[3]["id"] = "w0001"  # same chunk as its first
    cases[CHUNK + 1]["id"] = "w0002"  # the next chunk
    cases[200]["markers"] = {"ck7": "maybe"}  # invalid, mid-batch
    cases[201]["id"] = "w0200"  # the id of an invalid case: not a duplicate
    cases[-1]["sex"] = "sometimes"
    source = tmp_path / "cases.yaml"
    source.write_text(yaml.safe_dump(cases))
    rows = {}
    for jobs in (1, 2):
        summary = BatchSummary()
        records = iter_records([source], triage.kb.vocabulary)
        rows[jobs] = list(score_rows(records, triage, 3, summary, jobs=jobs))
        assert summary.failed == 4
    assert rows[1] == rows[2]
    errors = [r["case_id"] for r in rows[1] if r["status"] != "ok"]
    assert errors == ["w0001", "w0002", "w0200", f"w{count - 1:04d}"]


def _bundle(tmp_path, name, change):
    import json

    from .conftest import CASES

    bundle = json.loads((CASES / "fhir" / "bone-psa.json").read_text(encoding="utf-8"))
    change(bundle)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def test_a_fhir_finding_about_another_patient_is_refused_naming_the_resource(tmp_path):
    from click.testing import CliRunner

    from cup_triage.cli import cli

    def other(bundle):
        bundle["entry"][1]["resource"]["subject"]["reference"] = "Patient/someone-else"

    def by_url(bundle):  # the patient named by its entry's fullUrl: the same patient
        for entry in bundle["entry"][1:]:
            entry["resource"].get("subject", {})["reference"] = bundle["entry"][0]["fullUrl"]

    result = CliRunner().invoke(cli, ["score", str(_bundle(tmp_path, "o", other)), "-o", "-"])
    assert result.exit_code == 1
    assert (
        "Condition/met-bone › subject: the subject is 'Patient/someone-else', "
        "not this Bundle's patient (Patient/p2)" in result.output
    )
    result = CliRunner().invoke(cli, ["score", str(_bundle(tmp_path, "u", by_url)), "-o", "-"])
    assert result.exit_code == 0, result.output


def _psa(bundle):
    return next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "psa")


def test_a_fhir_lab_given_as_a_bound_or_twice_is_refused_not_read_as_another_value(tmp_path):
    import copy

    from click.testing import CliRunner

    from cup_triage.cli import cli

    def bound(bundle):
        _psa(bundle)["valueQuantity"].update(comparator="<", value=400)

    def bound_interpreted(bundle):
        bound(bundle)
        _psa(bundle)["interpretation"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "N",
                    }
                ]
            }
        ]

    def twice(bundle):
        second = copy.deepcopy(next(e for e in bundle["entry"] if e["resource"] is _psa(bundle)))
        second["fullUrl"] += "-again"
        second["resource"].update(id="psa-again", valueQuantity={"value": 1.0, "unit": "ng/mL"})
        bundle["entry"].append(second)

    def score(change):
        path = _bundle(tmp_path, change.__name__, change)
        return CliRunner().invoke(cli, ["score", str(path), "-o", "-"])

    result = score(bound)
    assert result.exit_code == 1
    assert "Observation/psa › valueQuantity: the value is a bound (< 400 ng/mL)" in result.output
    result = score(twice)
    assert result.exit_code == 1
    assert "Observation/psa-again › value: labs.psa is '1.0 ng/mL' here but '212 ng/mL'" in (
        result.output
    )
    result = score(bound_interpreted)
    assert result.exit_code == 0, result.output
    assert '"status":"ok"' in result.output.replace(" ", "")


YAML_ATTACKS = [
    "\ufeff- id: a\n",  # a byte-order mark
    "- id: a\n\t- x\n",  # tabs
    "- id:\ta\n",
    "- {id: a, id: b}\n",  # a duplicate key in flow style
    "- id: a\n  sex: on\n  x: off\n  y: No\n  z: NULL\n",  # YAML 1.1 booleans and null
    "- id: 0o17\n- id: +1\n- id: 0x1F\n- id: 1:30\n- id: 1_0.5\n",  # numbers 1.1 would coerce
    "- id: .inf\n- id: -.NaN\n",
    "- id: !!binary aGVsbG8=\n",  # tags
    "- id: !custom x\n",
    "- !!map {id: a}\n",
    "- ! {id: a}\n",
    "- id: a\n  x: ! 12\n",
    "- id: a\n  x: !!float 1\n",
    "%TAG !e! tag:example.com,2000:\n---\n- !e!x a\n",
    "- ? id\n  : a\n",  # an explicit key
    "- id: a\n  ? [x]\n  : y\n",  # a key that is a list
    "- {1: a}\n- {~: a}\n- {true: a}\n",  # keys that are not text
    "- id: 2024-02-31\n- id: a\n  n: 2001-12-14t21:59:43.10-05:00\n",  # dates
    '- id: "\\x00"\n',
    "[" * 32 + "]" * 32,  # nesting at and past the bound
    "- " + "[" * 31 + "]" * 31 + "\n",
    "- " + "[" * 32 + "]" * 32 + "\n",
    "- id: a\n- id: b\n- &a x\n",  # an anchor after plain records
    "- 1\n- 2\n- x: *y\n",  # an alias naming no anchor
    "&top\n- id: a\n",  # an anchored top-level list
    "!!seq\n- id: a\n",
    "- id: a\n  <<: *nope\n",  # merge keys
    "- {<<: {id: a}}\n",
    "- =: a\n",  # the value tag
    "- id: a\n  sex: male\n---\n",  # documents
    "- id: a\n...\n--- x\n",
    "- id: a\r\n  sex: male\r\n",
    "- id: 1" + "0" * 5000 + "\n",  # an integer no Python int reads from text
    "- id: " + "x" * 300_000 + "\n",  # a huge scalar
]


@pytest.mark.parametrize("text", YAML_ATTACKS)
@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("limit", [3, 200_000])
def test_hostile_yaml_reads_the_same_quickly_and_carefully(text, split, limit):
    from cup_triage.io import formats

    def read(records):
        return [
            (type(r).__name__, str(r), r.line, r.case) if isinstance(r, Exception) else repr(r)
            for r in records
        ]

    careful = formats._yaml_records(text, split, limit, fast=False)
    assert read(formats.yaml_records(text, split_list=split, limit=limit)) == read(careful)
