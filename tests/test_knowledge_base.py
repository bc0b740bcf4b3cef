"""The knowledge base is data: every rule explained and sourced, no clinical fact in Python."""

import ast
from pathlib import Path

from cup_triage.reasoning.lint import lint

PACKAGE = Path(__file__).resolve().parent.parent / "cup_triage"


def test_lint_finds_no_errors(kb):
    errors = [str(p) for p in lint(kb) if p.severity == "error"]
    assert errors == []


def test_every_rule_has_a_rationale_a_source_and_a_kind(kb):
    for rule in kb.rules:
        assert len(rule.rationale.split()) >= 5, rule.id
        assert rule.source.strip(), rule.id
        assert rule.kind, rule.id


def test_every_finding_of_the_vocabulary_is_reasoned_about(kb):
    tested = set(kb.rules_testing)
    untested = [
        k
        for k, f in kb.vocabulary.findings.items()
        if f.section not in ("derived",) and k not in tested
    ]
    # Version 2 of the vocabulary (docs/case-format.md) added ids ahead of the rules that read
    # them; this allowance only goes down, to 0, as the sourced rules arrive.
    assert len(untested) <= PENDING_VERSION_2_IDS, untested


PENDING_VERSION_2_IDS = 77


def test_no_python_module_names_a_primary_or_a_finding(kb):
    """Clinical facts live in rules/: no string literal in the package is a clinical id."""
    ids = set(kb.vocabulary.primaries) | set(kb.vocabulary.histologies)
    for section in kb.vocabulary.sections:
        ids |= set(kb.vocabulary.ids_in(section))
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ids:
                offenders.append(f"{path.name}:{node.lineno} {node.value!r}")
    assert offenders == []


def test_rules_carry_likelihood_ratios_for_every_kind_of_reasoning(kb):
    kinds = {rule.kind.value for rule in kb.rules}
    assert kinds >= {
        "history",
        "organotropism",
        "anatomical_drainage",
        "histology",
        "immunohistochemistry",
        "serum_marker",
        "favourable_subset",
        "prior_cancer",
        "workup_advice",
        "red_flag",
        "demographics",
    }
    assert 250 <= len(kb.rules) <= 900
