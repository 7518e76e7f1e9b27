"""Calling the app's functions directly with `func.HttpRequest`, as the Functions worker does."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import azure.functions as func

from cartracker import bootstrap
from cartracker.bootstrap import Services
from cartracker.settings import SETTING_SQLITE_PATH, SETTING_STORE, Settings

BASE = "http://localhost:7071/api"
_NO_BODY = object()


@contextmanager
def installed(services: Services) -> Iterator[Services]:
    """Make `services` what the functions see through `bootstrap.services()`, then reset."""
    bootstrap.use(services)
    try:
        yield services
    finally:
        bootstrap.use(None)


def sqlite_services(path: Path) -> Services:
    return bootstrap.bootstrap(Settings.from_env({SETTING_STORE: "sqlite", SETTING_SQLITE_PATH: str(path)}))


def call(
    function: Callable[[func.HttpRequest], func.HttpResponse],
    method: str,
    path: str,
    *,
    json_body: Any = _NO_BODY,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
) -> func.HttpResponse:
    headers = dict(headers or {})
    if json_body is not _NO_BODY:
        body = json.dumps(json_body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = func.HttpRequest(
        method, f"{BASE}/{path}", headers=headers, params=params, route_params=route_params, body=body
    )
    return function(request)


def body_of(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def problem_of(response: func.HttpResponse, status: int) -> dict[str, Any]:
    """The problem+json body, after checking the status and media type."""
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = body_of(response)
    assert problem["status"] == status
    return problem


def fields_of(problem: dict[str, Any]) -> set[str]:
    return {error["field"] for error in problem["errors"]}
