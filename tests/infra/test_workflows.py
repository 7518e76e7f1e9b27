"""The GitHub Actions workflows lint clean and do what the deployment guide says they do.

GitHub runs them, not this test suite: actionlint (with shellcheck for `run:` scripts) is the check
available here. Both binaries come from requirements-workflows.txt, which `make setup-test` installs
into the venv; a missing binary fails the test, it never skips it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.infra.bicep_model import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent


def tool(name: str) -> Path:
    path = BIN / name
    assert path.is_file(), f"{name} is not installed in {BIN}: run `make setup-test`"
    return path


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [str(tool("actionlint")), "-no-color", "-oneline", "-shellcheck", str(tool("shellcheck"))]
    # No Python runs inside a workflow step, so pyflakes (not installed) is switched off explicitly.
    command += ["-pyflakes=", *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)


def workflow(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean true.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def run_lines(doc: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for job in doc["jobs"].values() for step in job["steps"])


def uses(doc: dict[str, Any]) -> list[str]:
    return [
        step["uses"].split("@")[0] for job in doc["jobs"].values() for step in job["steps"] if "uses" in step
    ]


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    steps = "    steps:\n      - run: echo ${{ github.nope }}\n"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n" + steps)
    result = actionlint(broken)
    assert result.returncode != 0
    assert "nope" in result.stdout


def test_every_workflow_is_actionlint_clean() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {path.name for path in files} == {"ci.yml", "infra.yml", "azure-dev.yml"}
    result = actionlint(*files)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_ci_runs_the_repositorys_test_command_with_both_pythons() -> None:
    doc = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(doc["on"])
    (job,) = doc["jobs"].values()
    (step,) = [step for step in job["steps"] if step.get("run") == "bash .ci/run"]
    assert set(step["env"]) == {"PYTHON", "PYTHON313"}


def test_infra_compiles_and_lints_with_the_real_bicep_cli_and_attaches_both_files_to_releases() -> None:
    doc = workflow("infra.yml")
    assert doc["on"]["release"] == {"types": ["published"]}
    build = run_lines({"jobs": {"build": doc["jobs"]["build"]}})
    assert "az bicep lint --file infra/main.bicep" in build
    assert "az bicep build --file infra/main.bicep --outfile dist/azuredeploy.json" in build
    assert "python scripts/package_app.py dist/cartracker-app.zip" in build
    assert "actions/upload-artifact" in uses({"jobs": {"build": doc["jobs"]["build"]}})
    release = doc["jobs"]["release"]
    assert release["if"] == "github.event_name == 'release'"
    assert release["permissions"] == {"contents": "write"}
    upload = run_lines({"jobs": {"release": release}})
    assert "gh release upload" in upload
    assert "dist/azuredeploy.json" in upload
    assert "dist/cartracker-app.zip" in upload
    assert doc["permissions"] == {"contents": "read"}, "only the release job may write"


def test_azd_pipeline_signs_in_with_a_federated_credential_and_no_secret() -> None:
    doc = workflow("azure-dev.yml")
    assert doc["permissions"] == {"id-token": "write", "contents": "read"}
    (job,) = doc["jobs"].values()
    assert set(job["env"]) == {
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_ENV_NAME",
        "AZURE_LOCATION",
    }
    assert all(value.startswith("${{ vars.") for value in job["env"].values())
    assert "secrets." not in (WORKFLOWS / "azure-dev.yml").read_text()
    commands = run_lines(doc)
    assert "azd auth login --client-id" in commands
    assert "--federated-credential-provider github" in commands
    assert "azd provision --no-prompt" in commands
    assert "azd deploy --no-prompt" in commands
    assert "Azure/setup-azd" in uses(doc)
