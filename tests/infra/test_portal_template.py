"""The compiled template deploys from the portal and the Azure CLI, without azd.

The portal's "Deploy to Azure" form is pre-filled with each parameter's default and knows nothing of
azd's `${VAR}` substitutions in main.parameters.json, so every parameter needs a default the form can
show, and infra/azuredeploy.parameters.json (for `az deployment sub create`) must hold plain values.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from tests.infra.bicep_model import INFRA_DIR, REPO_ROOT, dumps, main_template

PORTAL_PARAMETERS = INFRA_DIR / "azuredeploy.parameters.json"
DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"
TEMPLATE_URL = "https://github.com/OWNER/REPO/releases/latest/download/azuredeploy.json"


def declared() -> dict[str, Any]:
    params: dict[str, Any] = main_template().doc["parameters"]
    return params


def test_every_parameter_has_a_default_so_the_portal_can_deploy_without_a_parameter_file() -> None:
    missing = sorted(name for name, param in declared().items() if param["default"] is None)
    assert missing == []


def test_no_default_uses_azd_substitution_syntax() -> None:
    # `${AZURE_LOCATION}` or `${NAME=value}` is azd's; ARM would take it as literal text.
    for name, param in declared().items():
        assert not re.search(r"\$\{[A-Z][A-Z0-9_]*(=|\})", dumps(param["default"])), name


def test_literal_defaults_are_among_the_allowed_values() -> None:
    for name, param in declared().items():
        allowed = [d["argument"] for d in param["decorators"] if d["type"] == "allowed"]
        if allowed and not isinstance(param["default"], dict):
            assert param["default"] in allowed[0], name


def test_the_cli_parameter_file_binds_declared_parameters_with_plain_allowed_values() -> None:
    bound = json.loads(PORTAL_PARAMETERS.read_text())["parameters"]
    assert set(bound) <= set(declared()), f"unknown parameters: {set(bound) - set(declared())}"
    for name, entry in bound.items():
        value = entry["value"]
        assert "${" not in json.dumps(value), f"{name}: azd syntax reaches ARM as a literal"
        allowed = [d["argument"] for d in declared()[name]["decorators"] if d["type"] == "allowed"]
        if allowed:
            assert value in allowed[0], name


def test_the_deploy_guide_carries_the_button_for_the_release_template() -> None:
    text = DEPLOY_DOC.read_text()
    button = "https://portal.azure.com/#create/Microsoft.Template/uri/" + quote(TEMPLATE_URL, safe="")
    assert button in text
    assert "https://aka.ms/deploytoazurebutton" in text
