"""The interpreter running the tests has exactly the runtime packages requirements.txt pins for it.

CI runs this suite on the default python3 and again on the newest supported Python, so both ends
of the environment markers (azure-functions 1.x below 3.13, 2.x from 3.13) are installed and used.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def runtime_requirements() -> list[Requirement]:
    lines = [line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def test_each_runtime_package_is_installed_at_the_version_pinned_for_this_interpreter() -> None:
    applicable = [req for req in runtime_requirements() if req.marker is None or req.marker.evaluate()]
    names = [req.name for req in applicable]
    assert len(names) == len(set(names)), f"two pins apply to this interpreter: {names}"
    assert "azure-functions" in names
    for req in applicable:
        (spec,) = req.specifier
        assert spec.operator == "==", f"{req.name} is not pinned"
        assert version(req.name) == spec.version, req.name
