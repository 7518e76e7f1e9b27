"""Bodies and routes of the deferred car list and the manage routes, shared by the functions and openapi.json.

They live in `http/`, below `functions/`, so that the OpenAPI document describes the
functions without importing them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from cartracker.http.schemas import Body, CarId, Money
from cartracker.service.car_list import Freshness

PARKED_ROUTE = "manage/parked"
PARKED_RETRY_ROUTE = "manage/parked/{id}/retry"
PROJECTIONS_ROUTE = "manage/projections"
PROJECTION_PARKED_RETRY_ROUTE = "manage/projections/{name}/parked/retry"
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


class CarListItemView(Body):
    car_id: CarId
    make: str
    model: str
    owner: str
    last_serviced: datetime | None
    total_charges: Money
    version: int = Field(ge=1, description="The car's version this item shows.")
    freshness: Freshness = Field(
        description="`deferred`: from the projection; `predicted`: folded in from the car's head "
        "for an `after` token the projection had not caught up with yet."
    )


class ListLag(Body):
    """How far the list is behind the writes, for people: only when asked for (`lag=true`)."""

    seconds: float | None = Field(
        ge=0,
        description="Seconds between the newest write and the newest one the list shows; 0 when it is "
        "up to date, null when it has shown nothing yet. Whole seconds on Cosmos DB.",
    )
    caught_up: bool = Field(description="The list shows every write made so far.")


class CarListPageView(Body):
    items: list[CarListItemView] = Field(description="Newest car first.")
    total_charges: Money = Field(description="Of every car, not only this page's.")
    car_count: int = Field(ge=0, description="Every car, not only this page's.")
    continuation_token: str | None = Field(
        description="Opaque; pass it back as `continuationToken` for the next page. Null on the last page."
    )
    freshness: Freshness = Field(
        description="`predicted` when any `after` token was ahead of the projection."
    )
    lag: ListLag | None = Field(
        default=None,
        description="How far behind the list is: only with `lag=true` (left out otherwise).",
        exclude_if=lambda value: value is None,
    )


class ParkedChange(Body):
    id: str
    projection: str | None = Field(
        default=None, description="The projection that parked it (null: parked before entries named theirs)."
    )
    document_id: str = Field(description="The id of the change-feed document that could not be projected.")
    car_id: str | None
    version: int | None
    reason: str
    parked_at: datetime
    document: dict[str, Any]


class ParkedList(Body):
    items: list[ParkedChange] = Field(description="Most recently parked first.")


class ProjectionDelay(Body):
    """How late a projection applies events: over the last `samples` events it applied (at most 100)."""

    p50_seconds: float = Field(
        ge=0, description="Half the events were applied at most this long after they occurred."
    )
    p95_seconds: float = Field(ge=0)
    max_seconds: float = Field(ge=0)
    samples: int = Field(ge=1, description="How many recent events these figures are over.")


class ProjectionStatusView(Body):
    name: str = Field(description="The projection, as in its routes.")
    lag_seconds: float | None = Field(
        ge=0,
        description="Seconds between the newest change in `events` and the newest change the projection "
        "applied; 0 when caught up, null when it has applied nothing yet. Whole seconds on Cosmos DB.",
    )
    pending_changes: int | None = Field(
        ge=0,
        description="Changes still to deliver to it: exact on the embedded SQLite store, null on Cosmos DB "
        "(the feed's position is the Functions host's own).",
    )
    last_applied_at: datetime | None = Field(description="When it last applied a batch of changes.")
    parked: int = Field(ge=0, description="Changes it has parked (GET manage/parked?projection=).")
    delay: ProjectionDelay | None = Field(
        description="From each event's `occurredAt` to the write of its row, over the events it applied "
        "last; null until it has applied one. Millisecond resolution; clocks of different machines "
        "may disagree by a little (a negative delay counts as 0)."
    )


class ProjectionStatusList(Body):
    items: list[ProjectionStatusView] = Field(description="Every registered projection.")


class ParkedRetry(Body):
    id: str
    projection: str | None
    car_id: str | None
    cleared: bool = Field(
        description="The car was re-projected from its head and the entry removed; false: it stays parked."
    )
    reason: str | None = Field(description="Why it stays parked (null when cleared).")


class ParkedRetrySummary(Body):
    projection: str
    retried: int = Field(ge=0)
    cleared: int = Field(ge=0)
    remaining: int = Field(ge=0, description="Entries that stay parked, each with its reason.")
