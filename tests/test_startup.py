"""Start-up: a command imports only what it needs, and no engine is built where none runs."""

import json
import subprocess
import sys

from .conftest import CASES

HEAVY = ("rich", "jinja2", "experta", "pydantic", "yaml")

PROBE = f"""
import json, sys
from click.testing import CliRunner
from cup_triage.cli import cli
result = CliRunner().invoke(cli, sys.argv[1:])
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"exit": result.exit_code, "loaded": loaded}}))
"""


def _loaded_by(*args):
    """The heavy packages a fresh interpreter has imported after running the command."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["exit"] == 0
    return set(result["loaded"])


def test_version_imports_none_of_the_reasoning():
    assert _loaded_by("--version") == set()


def test_a_batch_scored_by_the_evaluator_never_imports_experta_nor_rich(tmp_path):
    loaded = _loaded_by("score", CASES / "example.yaml", "-o", tmp_path / "out.jsonl")
    assert "experta" not in loaded and "rich" not in loaded and "jinja2" not in loaded


def test_rank_imports_experta_for_its_trace_but_not_the_teaching_templates():
    loaded = _loaded_by("rank", CASES / "example.yaml")
    assert "experta" in loaded and "jinja2" not in loaded


def test_the_version_shown_is_the_installed_and_the_declared_one():
    # `--version` and every output's software_version read the package's constant, not the
    # installed metadata (which costs an import and a scan of the environment at start-up).
    import importlib.metadata
    import tomllib
    from pathlib import Path

    import cup_triage

    pyproject = Path(cup_triage.__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():  # a checkout, not only an installed wheel
        declared = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
        assert cup_triage.__version__ == declared
    assert cup_triage.__version__ == importlib.metadata.version("cup-triage")
    shown = subprocess.run(
        [sys.executable, "-c", "from cup_triage.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.endswith(f", version {cup_triage.__version__}\n")
