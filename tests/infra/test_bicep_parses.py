"""Every Bicep file parses, and main.bicep reaches every module through a path that exists.

There is no Bicep compiler in the test environment, so pycep-parser stands in for `bicep build`:
a syntax error, or a module path that points nowhere, fails here instead of at `azd up`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.bicep_model import INFRA_DIR, MAIN_BICEP, bicep_files, parse


def test_infra_holds_main_and_its_modules() -> None:
    names = {path.relative_to(INFRA_DIR).as_posix() for path in bicep_files()}
    assert {"main.bicep", "app/cosmos.bicep", "app/function.bicep", "app/storage.bicep"} <= names


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: path.relative_to(INFRA_DIR).as_posix())
def test_bicep_file_parses(path: Path) -> None:
    doc = parse(path)
    assert doc.get("resources") or doc.get("modules"), f"{path.name} parsed to nothing"


def test_main_deploys_at_subscription_scope_and_every_module_exists() -> None:
    doc = parse(MAIN_BICEP)
    assert doc["globals"]["scope"]["value"] == "subscription"
    module_files = {(INFRA_DIR / module["detail"]["path"]).resolve() for module in doc["modules"].values()}
    assert module_files, "main.bicep declares no modules"
    for module_file in module_files:
        assert module_file.is_file(), f"main.bicep calls a missing module: {module_file.name}"
    unused = {path.resolve() for path in bicep_files()} - module_files - {MAIN_BICEP.resolve()}
    assert not unused, f"Bicep files no template uses: {sorted(path.name for path in unused)}"
