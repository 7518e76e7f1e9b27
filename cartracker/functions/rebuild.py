"""Admin: rebuild a projection as a Durable Functions orchestration.

`POST /api/manage/projections/{name}/rebuild` starts the orchestration and answers
202 with Durable's status URLs. The orchestrator (`cartracker.rebuild.orchestrator`)
is deterministic; the activities below are thin wrappers over
`cartracker.rebuild.activities`, which the local CLI runs too.

One rebuild per projection at a time: the instance id is fixed per projection,
and a start while one runs answers 409 with the running one's status URL. (Two
at once would do no harm -- every activity is idempotent -- only waste.)
"""

# azure-functions-durable ships no type information, so its decorators are untyped to mypy.
# mypy: disallow-untyped-decorators=False
from __future__ import annotations

from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from cartracker import bootstrap
from cartracker.errors import CarTrackerError
from cartracker.http.problems import problem_for, problem_response
from cartracker.http.requests import page_size
from cartracker.rebuild import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, VIEWS, activities, orchestrator
from cartracker.rebuild.orchestrator import ORCHESTRATOR, RebuildInput

bp = df.Blueprint()

REBUILD_ROUTE = "manage/projections/{name}/rebuild"
# The 202 body, as Durable Functions' `create_check_status_response` writes it (for the OpenAPI document).
STATUS_URLS: dict[str, Any] = {
    "type": "object",
    "required": ["id", "statusQueryGetUri"],
    "properties": {
        name: {"type": "string"}
        for name in (
            "id",
            "statusQueryGetUri",
            "sendEventPostUri",
            "terminatePostUri",
            "rewindPostUri",
            "purgeHistoryDeleteUri",
            "restartPostUri",
            "suspendPostUri",
            "resumePostUri",
        )
    },
}

# Durable's states in which an instance still holds its id (a start would replace it mid-run).
_BUSY = ("Pending", "Running", "ContinuedAsNew", "Suspended")


@bp.route(route=REBUILD_ROUTE, methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def start_rebuild(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    name = req.route_params.get("name", "")
    instance = urlsplit(req.url).path or None
    if name not in VIEWS:
        return problem_response(
            404,
            f"no projection is called {name!r}; rebuildable: {', '.join(VIEWS)}",
            slug="unknown-projection",
            errors=[("name", f"must be one of: {', '.join(VIEWS)}")],
            instance=instance,
        )
    try:
        job = RebuildInput(
            shards=bootstrap.services().settings.list_shards,
            page_size=page_size(req, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE),
        )
    except CarTrackerError as error:
        return problem_for(error, instance=instance)
    instance_id = f"rebuild-{name}"
    running = await client.get_status(instance_id)
    status = getattr(running.runtime_status, "value", None)
    if status in _BUSY:
        links = client.create_http_management_payload(instance_id)
        return problem_response(
            409,
            f"a rebuild of {name} is already {status.lower()}; follow it at its status URL",
            slug="rebuild-running",
            instance=instance,
            headers={"Location": links["statusQueryGetUri"]},
        )
    await client.start_new(ORCHESTRATOR, instance_id=instance_id, client_input=job.to_json())
    response: func.HttpResponse = client.create_check_status_response(req, instance_id)
    return response


@bp.orchestration_trigger(context_name="context")
def rebuild_car_list(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any] | None]:
    return (yield from orchestrator.rebuild_car_list(context))


@bp.activity_trigger(input_name="payload")
def rebuild_read_heads(payload: dict[str, Any]) -> dict[str, Any]:
    return activities.read_heads(bootstrap.services(), payload)


@bp.activity_trigger(input_name="payload")
def rebuild_rows(payload: dict[str, Any]) -> dict[str, Any]:
    return activities.rebuild_rows(bootstrap.services(), payload)


@bp.activity_trigger(input_name="payload")
def rebuild_shard(payload: dict[str, Any]) -> dict[str, Any]:
    return activities.rebuild_shard(bootstrap.services(), payload)


@bp.activity_trigger(input_name="payload")
def rebuild_clear_parked(payload: dict[str, Any]) -> dict[str, Any]:
    return activities.clear_parked(bootstrap.services(), payload)
