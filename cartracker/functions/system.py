"""Anonymous system routes: the OpenAPI document and the health check."""

from __future__ import annotations

import json
import sqlite3

import azure.functions as func

from cartracker import bootstrap
from cartracker.errors import StoreUnavailable
from cartracker.http.openapi import openapi_document
from cartracker.http.problems import problem_boundary, problem_response
from cartracker.http.responses import json_response
from cartracker.http.schemas import Health
from cartracker.settings import ConfigurationError

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problem_boundary
def openapi_spec(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(openapi_document()), mimetype="application/json")


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problem_boundary
def health(req: func.HttpRequest) -> func.HttpResponse:
    try:
        services = bootstrap.services()
        store = services.settings.store
        if store == "sqlite":
            services.backend.connection().execute("SELECT 1 FROM documents LIMIT 1").fetchall()
        else:
            _check_cosmos(services)
    except (ConfigurationError, StoreUnavailable, sqlite3.Error) as exc:
        return problem_response(503, f"the store is not usable: {exc}", slug="unhealthy", headers=_RETRY)
    return json_response(Health(status="ok", store="sqlite" if store == "sqlite" else "cosmos"))


_RETRY = {"Retry-After": "5"}


def _check_cosmos(services: bootstrap.Services) -> None:
    """Read the containers' properties: proves the account answers, the key or identity works, they exist."""
    from azure.cosmos.exceptions import CosmosHttpResponseError  # noqa: PLC0415 - only on the Cosmos path

    from cartracker.adapters.cosmos_client import store_errors  # noqa: PLC0415

    database = services.backend.get_database_client(services.settings.database)
    for name in (services.settings.events_container, services.settings.views_container):
        try:
            with store_errors():
                database.get_container_client(name).read()
        except CosmosHttpResponseError as exc:
            raise StoreUnavailable(f"container {name!r}: Cosmos DB answered {exc.status_code}") from exc
