"""The system functions (OpenAPI, health) and the files the Functions host reads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cartracker.bootstrap import bootstrap, use
from cartracker.functions.system import health, openapi_spec
from cartracker.http.openapi import ROUTES, openapi_document
from cartracker.localhost.index import app_index
from cartracker.settings import (
    CONNECTION_PREFIX,
    DATABASE_NAME,
    EMULATOR_KEY,
    SETTING_DATABASE,
    SETTING_STORE,
    Settings,
)
from tests.conftest import CosmosEnv
from tests.support.functions import body_of, call, installed, problem_of, sqlite_services

ROOT = Path(__file__).resolve().parents[2]


def test_every_http_function_is_documented_once_with_its_method_and_route() -> None:
    served = {
        (method, function.route.text, function.name)
        for function in app_index().http
        for method in function.methods
    }
    documented = {(route.method, route.path, route.operation_id) for route in ROUTES}
    # HTTP functions the local host cannot serve (a Durable client) are documented too, and tested elsewhere.
    unserved = {name for name, _ in app_index().unserved}
    assert served == {route for route in documented if route[2] not in unserved}


def test_the_spec_is_served_as_json_and_every_reference_resolves() -> None:
    response = call(openapi_spec, "GET", "openapi.json")
    assert response.status_code == 200
    spec = body_of(response)
    assert spec["openapi"].startswith("3.1")
    schemas = spec["components"]["schemas"]
    refs = set(_refs(spec))
    assert refs
    assert {ref.removeprefix("#/components/schemas/") for ref in refs} <= set(schemas)


def test_every_documented_error_is_a_problem_and_every_route_documents_500() -> None:
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "500" in responses, (method, path)
            for status, response in responses.items():
                if int(status) >= 400 and status != "401":
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)


def test_api_routes_need_a_function_key_and_system_routes_are_anonymous() -> None:
    levels = {function.name: function.auth_level for function in app_index().http}
    assert levels["health"] == levels["openapi_spec"] == "anonymous"
    assert levels["add_car"] == levels["get_car"] == levels["change_oil"] == "function"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_health_over_sqlite_is_ok_after_a_probe_write(tmp_path: Path) -> None:
    with installed(sqlite_services(tmp_path / "store.sqlite3")) as services:
        response = call(health, "GET", "health")
        [(checked_at,)] = services.backend.query("SELECT checked_at FROM health")
    assert response.status_code == 200
    answer = body_of(response)
    assert answer["storeChecks"]["freeBytes"] > 0
    assert answer == {
        "status": "ok",
        "store": "sqlite",
        "storeChecks": {"writable": True, "freeBytes": answer["storeChecks"]["freeBytes"]},
        "changeFeeds": [],  # no pump runs in this process
    }
    assert checked_at


def test_the_health_answer_is_what_openapi_json_documents() -> None:
    schemas = openapi_document()["components"]["schemas"]
    health_schema = schemas["Health"]
    assert set(health_schema["required"]) == {"status", "store", "storeChecks", "changeFeeds"}
    feed = schemas["ChangeFeedHealth"]["properties"]
    assert feed["state"]["enum"] == ["running", "retrying", "stopped", "stuck"]
    assert {"name", "since", "lastError", "consecutiveFailures", "alive"} <= set(feed)


def test_health_over_cosmos_reads_the_containers(cosmos: CosmosEnv) -> None:
    with installed(bootstrap(cosmos.settings, cosmos_client=cosmos.client)):
        cosmos.transport.reset()
        response = call(health, "GET", "health")
    assert body_of(response) == {
        "status": "ok",
        "store": "cosmos",
        "storeChecks": {"writable": None, "freeBytes": None},  # reads only: health never writes to Cosmos
        "changeFeeds": [],  # the Functions host runs the triggers there
    }
    assert len(cosmos.transport.records) == 2  # the events and views containers' properties


def test_health_is_503_when_the_database_is_missing(cosmos: CosmosEnv) -> None:
    missing = Settings.from_env(
        {SETTING_STORE: "cosmos", SETTING_DATABASE: f"missing-{uuid.uuid4().hex[:8]}", CONNECTION_PREFIX: "x"}
    )
    with installed(bootstrap(missing, cosmos_client=cosmos.client)):
        response = call(health, "GET", "health")
    problem = problem_of(response, 503)
    assert "events" in problem["detail"]
    assert response.headers["Retry-After"]


def test_health_is_503_when_the_store_is_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTING_STORE, "cosmos")
    monkeypatch.delenv(CONNECTION_PREFIX, raising=False)
    monkeypatch.delenv(f"{CONNECTION_PREFIX}__accountEndpoint", raising=False)
    use(None)  # the functions build their services from the environment, and fail to
    try:
        problem = problem_of(call(health, "GET", "health"), 503)
    finally:
        use(None)
    assert CONNECTION_PREFIX in problem["detail"]


def test_local_settings_hold_only_emulator_and_azurite_defaults() -> None:
    values = json.loads((ROOT / "local.settings.json").read_text())["Values"]
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values[SETTING_STORE] == "cosmos"
    assert values[CONNECTION_PREFIX] == f"AccountEndpoint=https://localhost:8081/;AccountKey={EMULATOR_KEY};"
    assert values[SETTING_DATABASE] == DATABASE_NAME
    Settings.from_env(values)  # and they are valid settings


def test_host_json_serves_under_api_with_the_v4_extension_bundle() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == "api"
    assert host["extensionBundle"]["version"].startswith("[4.")
    assert app_index().route_prefix == "api"
