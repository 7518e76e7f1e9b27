"""The Function App asks Flex Consumption only for what Flex Consumption accepts.

Flex refuses a site whose siteConfig carries properties it does not support, with ARM error 51021
("The following site configuration properties (Site.SiteConfig.FtpsState, ...) for Flex
Consumption sites is invalid"); some regions enforce it and some ignore it, so a template can pass
in one region and fail in the next. The region list and the Python version are checked here too.
"""

from __future__ import annotations

import re
from typing import Any

from pycep import BicepParser

from tests.infra.bicep_model import MAIN_BICEP, REPO_ROOT, bicep_files, body, main_template, parse

SITE = "Microsoft.Web/sites"
# Properties Flex refuses or does not offer, each seen in an ARM 51021 error or hidden by the portal
# for Flex apps (sources in docs/deploy.md).
REFUSED_BY_FLEX = {
    "ftpsState",
    "http20Enabled",
    "remoteDebuggingEnabled",
    "use32BitWorkerProcess",
    "netFrameworkVersion",
    "linuxFxVersion",
    "functionsRuntimeScaleMonitoringEnabled",
    "functionAppScaleLimit",
    "preWarmedInstanceCount",
    "alwaysOn",
}
# Everything the site may set, and nothing else: a new property has to be checked against Flex first.
ACCEPTED_BY_FLEX = {"appSettings", "minTlsVersion", "scmMinTlsVersion"}


def site_config_keys(doc: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    for declaration in doc.get("resources", {}).values():
        if declaration["type"].split("@")[0] == SITE:
            keys |= set(body(declaration).get("properties", {}).get("siteConfig", {}))
        if declaration["type"].split("@")[0] == f"{SITE}/config":
            keys |= set(body(declaration).get("properties", {}))
    return keys


def test_the_check_sees_a_refused_property() -> None:
    refused = BicepParser().parse(
        text="""
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'x'
  location: 'westeurope'
  properties: {
    siteConfig: {
      ftpsState: 'Disabled'
    }
  }
}
"""
    )
    assert site_config_keys(dict(refused)) & REFUSED_BY_FLEX == {"ftpsState"}


def test_no_template_sets_a_site_property_flex_refuses() -> None:
    for path in bicep_files():
        assert site_config_keys(parse(path)) & REFUSED_BY_FLEX == set(), path.name


def test_the_site_sets_only_properties_known_to_work_on_flex() -> None:
    keys = set().union(*(site_config_keys(parse(path)) for path in bicep_files()))
    assert keys, "no siteConfig found: the check would pass on anything"
    assert keys <= ACCEPTED_BY_FLEX, f"check these against Flex Consumption first: {keys - ACCEPTED_BY_FLEX}"


def location_param() -> dict[str, Any]:
    param: dict[str, Any] = main_template().doc["parameters"]["location"]
    return param


def decorator(param: dict[str, Any], kind: str) -> Any:
    (found,) = [d["argument"] for d in param["decorators"] if d["type"] == kind]
    return found


def test_location_offers_only_flex_regions_sorted_and_says_how_to_refresh_them() -> None:
    regions = decorator(location_param(), "allowed")
    assert len(regions) >= 10
    assert regions == sorted(set(regions)), "keep the list sorted and unique, as the CLI prints it"
    assert all(re.fullmatch(r"[a-z0-9]+", region) for region in regions)
    # Canary and staging regions are not for customers' deployments.
    assert not [region for region in regions if region.endswith(("euap", "stage"))]
    assert "az functionapp list-flexconsumption-locations" in MAIN_BICEP.read_text()
    assert decorator(location_param(), "metadata") == {"azd": {"type": "location"}}


def newest_tested_python() -> str:
    match = re.search(r"^NEWEST_PYTHON := (\d+\.\d+)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile names no NEWEST_PYTHON"
    return match.group(1)


def test_the_deployed_python_defaults_to_the_newest_version_ci_tests() -> None:
    param = main_template().doc["parameters"]["pythonVersion"]
    allowed = decorator(param, "allowed")
    assert param["default"] == newest_tested_python()
    assert param["default"] == max(allowed, key=lambda v: tuple(map(int, v.split("."))))
    assert set(allowed) <= {"3.11", "3.12", "3.13"}, "requirements.txt is written for 3.11-3.13"
    runtime = main_template().module("api").resource(SITE)["properties"]["functionAppConfig"]["runtime"]
    assert main_template().module("api").resolve(runtime) == {"name": "python", "version": param["default"]}
