"""The release package is the app Core Tools would publish, complete enough to index on its own.

scripts/package_app.py zips the repository minus .funcignore; the infra workflow attaches the zip to
each release for `az functionapp deployment source config-zip --build-remote true` (docs/deploy.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from cartracker.localhost.index import app_index
from tests.infra.bicep_model import REPO_ROOT

PACKAGER = REPO_ROOT / "scripts" / "package_app.py"


def build(output: Path) -> list[str]:
    subprocess.run([sys.executable, str(PACKAGER), str(output)], check=True, capture_output=True, timeout=60)
    with zipfile.ZipFile(output) as archive:
        return archive.namelist()


def test_the_package_holds_the_app_and_none_of_the_development_files(tmp_path: Path) -> None:
    names = build(tmp_path / "app.zip")
    assert {"function_app.py", "host.json", "requirements.txt"} <= set(names)
    assert "cartracker/functions/car_list.py" in names
    assert "cartracker/ui/static/index.html" in names
    top_level = {name.split("/")[0] for name in names}
    for excluded in ("tests", "infra", "docs", "scripts", ".venv", "node_modules", "local.settings.json"):
        assert excluded not in top_level, excluded
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in names if name.startswith("requirements-")]


def test_the_same_tree_gives_the_same_package(tmp_path: Path) -> None:
    build(tmp_path / "one.zip")
    build(tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


def test_the_unpacked_package_indexes_every_function_without_the_repository(tmp_path: Path) -> None:
    build(tmp_path / "app.zip")
    with zipfile.ZipFile(tmp_path / "app.zip") as archive:
        archive.extractall(tmp_path / "wwwroot")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    script = "import function_app; print(len(function_app.app.get_functions()))"
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path / "wwwroot",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert int(completed.stdout) == len(app_index().functions)
