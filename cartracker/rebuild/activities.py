"""The rebuild's activities: all of its I/O, as plain functions from a JSON payload to a JSON result.

The Durable Functions activity triggers and the local runner call the very same
functions, through `ACTIVITIES`. Each is idempotent: reads, or writes guarded by
versions and etags (see `repair`), so a retried activity finds its work done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cartracker.bootstrap import Services
from cartracker.projection.registry import find
from cartracker.rebuild.orchestrator import (
    CLEAR_PARKED,
    READ_HEADS,
    REBUILD_ROWS,
    REBUILD_SHARD,
    RebuildFailed,
)
from cartracker.rebuild.repair import ProjectionRepair

Payload = dict[str, Any]
Activity = Callable[[Services, Payload], Payload]


def repair_for(services: Services, payload: Payload) -> ProjectionRepair[Any]:
    """The repair of the projection the payload names (every payload but `read_heads`'s names one)."""
    name = str(payload.get("projection"))
    projection = find(name)
    if projection is None:
        raise RebuildFailed(f"no projection is called {name!r}")
    return ProjectionRepair(projection, services.views, services.events, shards=services.settings.list_shards)


def read_heads(services: Services, payload: Payload) -> Payload:
    """One page of car ids, in the event store's order, and the token for the next page.

    Only ids travel through the task hub: Durable keeps every activity's output in the
    orchestration's history, and heads are kilobytes each. `rebuild_rows` reads each head
    again (a 1 RU point read), which also makes it compare rows with the freshest state.
    """
    heads, continuation = services.events.read_heads(
        limit=int(payload["pageSize"]), continuation=payload.get("continuation")
    )
    return {"carIds": [head["aggregateId"] for head in heads], "continuation": continuation}


def rebuild_rows(services: Services, payload: Payload) -> Payload:
    done = repair_for(services, payload).repair_rows([str(car_id) for car_id in payload["carIds"]])
    return {"seen": done.seen, "repaired": done.repaired, "skipped": done.skipped}


def rebuild_shard(services: Services, payload: Payload) -> Payload:
    done = repair_for(services, payload).repair_shard(int(payload["shard"]))
    return {"rowsRemoved": done.rows_removed, "subtotalCorrected": done.subtotal_corrected}


def clear_parked(services: Services, payload: Payload) -> Payload:
    done = repair_for(services, payload).clear_parked()
    return {"cleared": done.cleared, "remaining": done.remaining}


ACTIVITIES: dict[str, Activity] = {
    READ_HEADS: read_heads,
    REBUILD_ROWS: rebuild_rows,
    REBUILD_SHARD: rebuild_shard,
    CLEAR_PARKED: clear_parked,
}
