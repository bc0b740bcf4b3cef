"""The architecture as checked facts: knowledge lives in rules/, layers stay visible."""

import ast
import tomllib
from pathlib import Path

from cup_triage.reasoning.vocabulary import NUMERIC_FINDINGS, SECTIONS

from .conftest import ROOT

PACKAGE = ROOT / "cup_triage"

# Case-file field names are the format's structure, not clinical knowledge: a Python module may
# name them. Some coincide with a step id ("history", "imaging" are both).
FORMAT_FIELDS = {
    *SECTIONS,
    *NUMERIC_FINDINGS,
    *("sex", "age", "histology", "prior_cancer", "tissue_of_origin", "pathology_favours"),
}


def _clinical_ids(kb):
    vocabulary = kb.vocabulary
    ids = set(vocabulary.primaries) | set(vocabulary.steps) | set(vocabulary.histologies)
    for key in vocabulary.findings:
        ids |= {key, key.rsplit(".", 1)[-1]}
    return ids - FORMAT_FIELDS


def _string_literals(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # Enum members name the schema's kinds of reasoning ("examination" is one), not findings.
    enum_lines = {
        line
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(getattr(base, "id", "") == "StrEnum" for base in node.bases)
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if is_text and node.lineno not in enum_lines:
            yield node.lineno, node.value


def test_no_primary_finding_or_step_id_is_written_in_the_package_python(kb):
    ids = _clinical_ids(kb)
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, value in _string_literals(path)
        if value in ids
    ]
    assert not found, "clinical ids belong in rules/:\n" + "\n".join(found)


def test_the_literal_check_would_catch_an_id():
    # The check above is only worth something if it sees literals: prove it on a sample.
    sample = ROOT / "tests" / "_sample_literal.py"
    sample.write_text('LEAD = "lung"\n', encoding="utf-8")
    try:
        assert "lung" in {value for _, value in _string_literals(sample)}
    finally:
        sample.unlink()


def test_every_layer_has_a_folder_and_says_what_it_holds():
    for layer in ("reasoning", "sessions", "io", "cli"):
        init = PACKAGE / layer / "__init__.py"
        assert init.is_file(), layer
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), layer


def test_every_command_module_is_under_the_independence_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    independent = next(c for c in contracts if c["type"] == "independence")["modules"]
    commands = {
        f"cup_triage.cli.{p.stem}"
        for p in (PACKAGE / "cli").glob("*.py")
        if p.stem not in {"__init__", "common"}
    }
    assert set(independent) == commands


def test_the_package_exports_exactly_the_library_facade():
    """`import cup_triage` offers what `cup_triage.api` declares (its lazy loader lists the
    names a second time), and every exported name resolves."""
    import cup_triage
    from cup_triage import api

    type_only = {"CaseLike"}  # a typing alias, documented in api, not a function
    assert set(cup_triage._API) == set(api.__all__) - type_only
    for name in cup_triage.__all__:
        assert getattr(cup_triage, name) is not None, name
