"""Anonymous system routes: the OpenAPI document and the health check.

Health answers 200 only when everything this process depends on works: the store
reads and (on SQLite) commits a probe write, and every change feed the process
runs is moving. Otherwise a 503 problem names each part at fault in `errors`.
"""

from __future__ import annotations

import json
import sqlite3

import azure.functions as func

from cartracker import bootstrap, feed_status
from cartracker.errors import StoreUnavailable
from cartracker.feed_status import FeedReport
from cartracker.http.openapi import openapi_document
from cartracker.http.problems import problem_boundary, problem_response
from cartracker.http.responses import json_response
from cartracker.http.schemas import ChangeFeedHealth, Health, StoreHealth
from cartracker.settings import ConfigurationError

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated

_RETRY = {"Retry-After": "5"}


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problem_boundary
def openapi_spec(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(openapi_document()), mimetype="application/json")


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problem_boundary
def health(req: func.HttpRequest) -> func.HttpResponse:
    problems: list[tuple[str, str]] = []
    try:
        services = bootstrap.services()
        store = services.settings.store
        if store == "sqlite":
            found = services.backend.check()
            checks = StoreHealth(writable=True, free_bytes=found.free_bytes)
        else:
            _check_cosmos(services)
            checks = StoreHealth(writable=None, free_bytes=None)
    except (ConfigurationError, StoreUnavailable, sqlite3.Error) as exc:
        problems.append(("store", f"the store is not usable: {_reason(exc)}"))
    feeds = feed_status.reports()
    problems += [(f"changeFeeds.{feed.name}", feed.problem) for feed in feeds if feed.problem]
    if problems:
        detail = "; ".join(message for _, message in problems)
        return problem_response(503, detail, slug="unhealthy", errors=problems, headers=_RETRY)
    return json_response(
        Health(
            status="ok",
            store="sqlite" if store == "sqlite" else "cosmos",
            store_checks=checks,
            change_feeds=[_feed(report) for report in feeds],
        )
    )


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, StoreUnavailable) else str(exc)


def _feed(report: FeedReport) -> ChangeFeedHealth:
    return ChangeFeedHealth(
        name=report.name,
        state=report.state,
        since=report.since,
        last_error=report.last_error,
        consecutive_failures=report.consecutive_failures,
        last_batch_started_at=report.last_batch_started_at,
        last_batch_finished_at=report.last_batch_finished_at,
        alive=report.alive,
    )


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
