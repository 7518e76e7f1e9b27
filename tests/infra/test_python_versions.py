"""requirements.txt installs on every Python the code supports, and CI runs the newest of them.

azure-functions 1.x requires Python < 3.13 and 2.x requires >= 3.13, so requirements.txt chooses by
environment marker; a gap or an overlap would break `pip install` (or a Flex remote build) on one
version. The newest version gets its own venv and test run in `.ci/run`.
"""

from __future__ import annotations

import re

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from tests.infra.bicep_model import REPO_ROOT

SUPPORTED = ["3.11", "3.12", "3.13"]


def requirements(name: str) -> list[Requirement]:
    lines = [line.split("#", 1)[0].strip() for line in (REPO_ROOT / name).read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("-r")]


def pins_for(python: str) -> dict[str, str]:
    environment = {**default_environment(), "python_version": python, "python_full_version": f"{python}.0"}
    chosen: dict[str, str] = {}
    for req in requirements("requirements.txt"):
        if req.marker is None or req.marker.evaluate(environment):
            assert req.name not in chosen, f"two pins of {req.name} apply on Python {python}"
            (spec,) = req.specifier
            chosen[req.name] = spec.version
    return chosen


@pytest.mark.parametrize("python", SUPPORTED)
def test_exactly_one_pin_of_each_package_applies_on_every_supported_python(python: str) -> None:
    pins = pins_for(python)
    assert set(pins) == {req.name for req in requirements("requirements.txt")}


def test_azure_functions_switches_major_version_at_python_3_13() -> None:
    majors = {python: int(pins_for(python)["azure-functions"].split(".")[0]) for python in SUPPORTED}
    assert majors == {"3.11": 1, "3.12": 1, "3.13": 2}


def test_the_newest_python_suite_installs_the_main_suites_test_pins() -> None:
    # One list of test pins: the main venv takes requirements-test.txt whole, so they cannot drift.
    dev = (REPO_ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements-test.txt" in dev
    assert requirements("requirements-test.txt"), "requirements-test.txt pins nothing"


def test_ci_runs_the_unit_and_integration_suites_on_the_newest_python() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^ci: test pytest-newest$", makefile, re.MULTILINE)
    recipe = makefile.split("\npytest-newest:", 1)[1].split("\n\n", 1)[0]
    assert "$(NEWEST_VENV)/bin/python -m pytest tests/unit tests/integration" in recipe
    assert re.search(r"^NEWEST_VENV := \.venv-\$\(NEWEST_PYTHON\)$", makefile, re.MULTILINE)
    assert "make ci" in (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(r'requires-python = ">=3\.11"', (REPO_ROOT / "pyproject.toml").read_text())
