"""Admin: every registered projection's status, its parked changes, and their retry.

`GET manage/projections` is O(projections) store calls (`cartracker.projection.status`);
a retry re-projects the car from its head through the projection's engine and removes
the entry on success (`cartracker.projection.parked`). The rebuild lives in `functions.rebuild`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import azure.functions as func

from cartracker import bootstrap
from cartracker.errors import InvalidRequest
from cartracker.http.problems import problem_boundary, problem_response
from cartracker.http.requests import page_size
from cartracker.http.responses import json_response
from cartracker.http.views import (
    PARKED_RETRY_ROUTE,
    PARKED_ROUTE,
    PROJECTION_PARKED_RETRY_ROUTE,
    PROJECTIONS_ROUTE,
    ParkedChange,
    ParkedList,
    ParkedRetry,
    ParkedRetrySummary,
    ProjectionDelay,
    ProjectionStatusList,
    ProjectionStatusView,
)
from cartracker.projection.registry import find, names

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated

_ADMIN = func.AuthLevel.ADMIN


@bp.route(route=PROJECTIONS_ROUTE, methods=["GET"], auth_level=_ADMIN)
@problem_boundary
def projection_status(req: func.HttpRequest) -> func.HttpResponse:
    items = [
        ProjectionStatusView(
            name=status.name,
            lag_seconds=status.lag_seconds,
            pending_changes=status.pending_changes,
            last_applied_at=status.last_applied_at,  # its text; pydantic parses it
            parked=status.parked,
            delay=None
            if status.delay is None
            else ProjectionDelay(
                p50_seconds=status.delay.p50_seconds,
                p95_seconds=status.delay.p95_seconds,
                max_seconds=status.delay.max_seconds,
                samples=status.delay.samples,
            ),
        )
        for status in bootstrap.services().statuses.all()
    ]
    return json_response(ProjectionStatusList(items=items), headers={"Cache-Control": "no-store"})


@bp.route(route=PARKED_ROUTE, methods=["GET"], auth_level=_ADMIN)
@problem_boundary
def list_parked(req: func.HttpRequest) -> func.HttpResponse:
    projection = req.params.get("projection")
    if projection is not None and find(projection) is None:
        raise InvalidRequest(f"must be one of: {', '.join(names())}", field="projection")
    docs = bootstrap.services().car_list.parked(limit=page_size(req), projection=projection)
    return json_response(ParkedList(items=[ParkedChange.model_validate(d) for d in docs]))


@bp.route(route=PARKED_RETRY_ROUTE, methods=["POST"], auth_level=_ADMIN)
@problem_boundary
def retry_parked(req: func.HttpRequest) -> func.HttpResponse:
    doc_id = req.route_params.get("id", "")
    outcome = bootstrap.services().parked.retry(doc_id)
    if outcome is None:
        return problem_response(
            404,
            f"no parked change has the id {doc_id!r}: it was cleared already, or never parked",
            slug="unknown-parked-change",
            errors=[("id", "must be the id of a parked change (GET manage/parked)")],
            instance=urlsplit(req.url).path or None,
        )
    return json_response(
        ParkedRetry(
            id=outcome.id,
            projection=outcome.projection,
            car_id=outcome.car_id,
            cleared=outcome.cleared,
            reason=outcome.reason,
        )
    )


@bp.route(route=PROJECTION_PARKED_RETRY_ROUTE, methods=["POST"], auth_level=_ADMIN)
@problem_boundary
def retry_projection_parked(req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("name", "")
    if find(name) is None:
        return problem_response(
            404,
            f"no projection is called {name!r}; registered: {', '.join(names())}",
            slug="unknown-projection",
            errors=[("name", f"must be one of: {', '.join(names())}")],
            instance=urlsplit(req.url).path or None,
        )
    summary = bootstrap.services().parked.retry_all(name)
    return json_response(
        ParkedRetrySummary(
            projection=summary.projection,
            retried=summary.retried,
            cleared=summary.cleared,
            remaining=summary.remaining,
        )
    )
