"""The Makefile's set-up explains itself: one line for a wrong Python, a lean `make run`, a narrow reset.

`make -n` expands a recipe without running it, so the Python check (which runs while make expands
the venv's recipe) is exercised here against a venv path that does not exist, with a stand-in
interpreter that only reports its version.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.bicep_model import REPO_ROOT


def a_python(tmp_path: Path, version: str) -> Path:
    """An executable that answers like a Python of `version` to what the check asks."""
    python = tmp_path / f"python{version}"
    python.write_text(f"#!/bin/sh\necho {version}\n")
    python.chmod(0o755)
    return python


def make(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("goal", ["run", "test", "demo"])
def test_an_unsupported_python_stops_make_in_one_line_that_says_what_to_run(
    goal: str, tmp_path: Path
) -> None:
    python = a_python(tmp_path, "3.10")
    done = make("-n", goal, f"PYTHON={python}", f"VENV={tmp_path / 'venv'}")
    assert done.returncode != 0
    [line] = (done.stdout + done.stderr).splitlines()
    assert f"Python 3.10 found ({python}); CarTracker needs 3.11-3.13: " in line
    assert f"make {goal} PYTHON=" in line
    assert "pip" not in line


def test_a_missing_python_is_one_line_too(tmp_path: Path) -> None:
    done = make("-n", "run", "PYTHON=python3.99-nowhere", f"VENV={tmp_path / 'venv'}")
    [line] = (done.stdout + done.stderr).splitlines()
    assert "python3.99-nowhere not found; CarTracker needs Python 3.11-3.13: " in line


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_a_supported_python_passes_the_check(version: str, tmp_path: Path) -> None:
    python = a_python(tmp_path, version)
    done = subprocess.run(
        ["bash", "scripts/check-python.sh", str(python), "run"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout == ""


def test_make_run_installs_what_serving_needs_and_make_test_the_rest_into_the_same_venv(
    tmp_path: Path,
) -> None:
    python = a_python(tmp_path, "3.12")
    venv = tmp_path / "venv"
    serve = make("-n", "run", f"PYTHON={python}", f"VENV={venv}").stdout
    assert "-r requirements-serve.txt" in serve
    assert "requirements-dev.txt" not in serve
    full = make("-n", "setup", f"PYTHON={python}", f"VENV={venv}").stdout
    assert "-r requirements-dev.txt" in full
    assert f"touch {venv}/.installed {venv}/.serve-installed" in full  # `make run` then has all it needs
    lines = [
        line.split("#", 1)[0].strip()
        for line in (REPO_ROOT / "requirements-serve.txt").read_text().splitlines()
    ]
    # The runtime, and h11 at the version the tests pin (a constraints file: no test tool comes along).
    assert [line for line in lines if line] == ["-r requirements.txt", "-c requirements-test.txt", "h11"]
    assert "h11==" in (REPO_ROOT / "requirements-test.txt").read_text()


def test_reset_deletes_the_local_data_and_leaves_the_venvs(tmp_path: Path) -> None:
    shutil.copy(REPO_ROOT / "Makefile", tmp_path / "Makefile")
    for name in (".data/cartracker.sqlite3", ".venv/bin/python", ".venv-3.13/bin/python", "node_modules/x"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert make("reset", cwd=tmp_path).returncode == 0
    assert not (tmp_path / ".data").exists()
    assert all((tmp_path / name).exists() for name in (".venv", ".venv-3.13", "node_modules"))
