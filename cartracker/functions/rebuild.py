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
from cartracker.http.views import REBUILD_ROUTE
from cartracker.projection.registry import find, names
from cartracker.rebuild import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, activities, orchestrator
from cartracker.rebuild.orchestrator import ORCHESTRATOR, RebuildInput

bp = df.Blueprint()

# Durable's states in which an instance still holds its id (a start would replace it mid-run).
_BUSY = ("Pending", "Running", "ContinuedAsNew", "Suspended")


@bp.route(route=REBUILD_ROUTE, methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def start_rebuild(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    name = req.route_params.get("name", "")
    instance = urlsplit(req.url).path or None
    if find(name) is None:
        return problem_response(
            404,
            f"no projection is called {name!r}; rebuildable: {', '.join(names())}",
            slug="unknown-projection",
            errors=[("name", f"must be one of: {', '.join(names())}")],
            instance=instance,
        )
    try:
        job = RebuildInput(
            projection=name,
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
def rebuild_projection(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any] | None]:
    return (yield from orchestrator.rebuild_projection(context))


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
