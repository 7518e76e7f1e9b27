"""The VS Code files are the ones the Azure Functions extension writes for a Python v2 project,
pointed at this repository's layout: F5 starts `func host start` and attaches to the Python worker.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.infra.bicep_model import REPO_ROOT

VSCODE = REPO_ROOT / ".vscode"


def load(name: str) -> Any:
    return json.loads((VSCODE / name).read_text())


def test_f5_starts_the_functions_host_and_attaches_to_the_worker_on_port_9091() -> None:
    (config,) = load("launch.json")["configurations"]
    assert (config["type"], config["request"]) == ("debugpy", "attach")
    assert config["connect"] == {"host": "localhost", "port": 9091}
    tasks = {task["label"]: task for task in load("tasks.json")["tasks"]}
    host = tasks[config["preLaunchTask"]]
    assert (host["type"], host["command"], host["isBackground"]) == ("func", "host start", True)
    assert host["problemMatcher"] == "$func-python-watch"
    install = tasks[host["dependsOn"]]
    assert all(
        "-m pip install -r requirements.txt" in install[os]["command"] for os in ("linux", "osx", "windows")
    )


def test_the_extension_uses_the_makefiles_venv_and_the_v2_programming_model() -> None:
    settings = load("settings.json")
    venv = re.search(r"^VENV := (\S+)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert venv
    assert settings["azureFunctions.pythonVenv"] == venv.group(1)
    assert settings["python.defaultInterpreterPath"] == f"{venv.group(1)}/bin/python"
    assert settings["azureFunctions.projectLanguageModel"] == 2
    assert settings["azureFunctions.projectRuntime"] == "~4"
    assert {"ms-azuretools.vscode-azurefunctions", "ms-python.python"} <= set(
        load("extensions.json")["recommendations"]
    )
    assert ".vscode/" in (REPO_ROOT / ".funcignore").read_text().split()
