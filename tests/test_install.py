"""The package installs with plain pip into a fresh virtual environment and runs."""

import json
import os
import subprocess
import sys
import venv

from .conftest import CASES, ROOT


def test_pip_install_into_a_fresh_venv_gives_a_working_command(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", str(ROOT)], check=True, cwd=tmp_path
    )
    # Run outside the checkout, so the rules must come from the installed wheel.
    result = subprocess.run(
        [bin_dir / "cup-triage", "rank", str(CASES / "example.yaml"), "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert json.loads(result.stdout)["candidates"][0]["primary"] == "lung"
    pins = subprocess.run(
        [bin_dir / "python", "-m", "pip", "show", "frozendict"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert "Version:" in pins
    assert sys.version_info >= (3, 11)
