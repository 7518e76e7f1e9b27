"""Service due: its change-feed trigger (`functions.projectors`) and its one query."""

from __future__ import annotations

import azure.functions as func

from cartracker import bootstrap
from cartracker.functions.projectors import change_feed_projector
from cartracker.http.problems import problem_boundary
from cartracker.http.requests import page_size
from cartracker.http.responses import json_response
from cartracker.http.service_due import SERVICE_DUE_ROUTE, service_due_view
from cartracker.projection.service_due import SERVICE_DUE

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated

__all__ = ["bp", "list_service_due", "project_service_due"]


@bp.route(route=SERVICE_DUE_ROUTE, methods=["GET"])
@problem_boundary
def list_service_due(req: func.HttpRequest) -> func.HttpResponse:
    page = bootstrap.services().service_due.page(
        page_size=page_size(req), continuation_token=req.params.get("continuationToken")
    )
    return json_response(service_due_view(page), headers={"Cache-Control": "no-store"})


project_service_due = change_feed_projector(bp, SERVICE_DUE, function_name="project_service_due")
