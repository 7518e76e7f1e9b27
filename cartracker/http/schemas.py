"""The response bodies, as pydantic models: the one source for the OpenAPI spec and the JSON we send.

One body skips its model at run time: the car in a command's answer (and in a read of one car) is
built straight from the domain's `Car` by `responses.car_view`, the hottest path of the API; tests
hold it to `CarView` and `CommandResponse`.

Money is a two-decimal string (`"49.99"`) on the wire, never a float.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from cartracker.domain.events import EVENT_TYPES

Money = Annotated[
    str,
    Field(pattern=r"^-?\d+\.\d{2}$", description="Amount with exactly two decimals.", examples=["49.99"]),
]
CarId = Annotated[str, Field(json_schema_extra={"format": "uuid"}, description="The car's id (a UUID).")]
if TYPE_CHECKING:
    EventType = str
else:
    # The event types the stores can read, named once in `EVENT_TYPES`; published as an enum.
    EventType = Literal[tuple(EVENT_TYPES)]


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class OilChangeView(Body):
    """An oil change: when, and at what mileage."""

    at: AwareDatetime
    mileage: int = Field(ge=0)


class CarView(Body):
    """A car's current state: the realtime view, read from its head in one point read."""

    car_id: CarId
    version: int = Field(ge=1, description="Number of events in the car's history.")
    make: str
    model: str
    owner: str
    added_at: AwareDatetime
    updated_at: AwareDatetime
    last_mileage: int | None
    last_serviced: AwareDatetime | None
    total_charges: Money
    oil_changes: int
    brake_inspections: int
    last_remaining_pad: int | None = Field(description="Remaining brake pad at the last inspection, percent.")
    tires_replaced: int
    owner_changes: int
    last_oil_change: OilChangeView | None = Field(description="The last oil change; null if none yet.")


CarFreshness = Literal["realtime", "historical"]


class CarDetailView(CarView):
    """A car as `GET cars/{carId}` answers it: as it is now, or as it was (`asOfVersion`, `asOf`)."""

    freshness: CarFreshness = Field(
        description="`realtime`: the car now, from its head; `historical`: the car right after event "
        "`version`, folded from its events."
    )


class CommandResponse(Body):
    """What a command answers: the car as the command left it, and a token for reading your own write."""

    car_id: CarId
    version: int = Field(ge=1)
    consistency_token: str = Field(
        description="Pass as `after` to the car list to see this write even before the list catches up."
    )
    car: CarView


class HistoryItem(Body):
    version: int = Field(ge=1)
    type: EventType
    occurred_at: AwareDatetime
    data: dict[str, Any] = Field(
        description="The event's fields in camelCase; amounts are shown as `charge`, a two-decimal string.",
        examples=[{"mileage": 12000, "charge": "49.99"}],
    )
    correlation_id: str | None = Field(
        pattern="^[0-9a-f]{32}$",
        description="The trace id of the request that wrote the event: the one in its `traceparent`, "
        "or a new one. Null on events written before it was recorded, or outside an HTTP request.",
    )
    causation_id: str | None = Field(
        description="The id of the command that wrote the event: its `Idempotency-Key`, else 16 random "
        "hex digits. Null on events written before command ids were recorded.",
    )


class HistoryPage(Body):
    items: list[HistoryItem]
    continuation_token: str | None = Field(
        description="Opaque; pass it back as `continuationToken` for the next page. Null on the last page."
    )


class FieldError(Body):
    field: str = Field(description="The body field, path parameter, query parameter or header at fault.")
    message: str


class Problem(Body):
    """An error, as RFC 9457 problem details (`application/problem+json`)."""

    type: str = Field(description="A URN naming the kind of problem.")
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] = Field(description="What is wrong, field by field (may be empty).")
    current_version: int | None = Field(
        default=None, description="412 only: the car's version now, for a fresh If-Match."
    )


class StoreHealth(Body):
    writable: bool | None = Field(
        description="A probe write to the store committed (SQLite: one row of its own table). "
        "Null on Cosmos DB, where health only reads the containers' properties."
    )
    free_bytes: int | None = Field(
        ge=0, description="Free space on the disk holding the SQLite file; null on Cosmos DB."
    )


class ChangeFeedHealth(Body):
    """A change-feed function as this process runs it (the local host's pump)."""

    name: str = Field(description="The function's name.")
    state: Literal["running", "retrying", "stopped", "stuck"] = Field(
        description="`retrying`: its batches keep failing and are tried again; `stuck`: one batch has "
        "been in flight too long; `stopped`: its thread is gone."
    )
    since: AwareDatetime = Field(description="When it entered this state (stuck: when the batch started).")
    last_error: str | None = Field(description="The last error it met, even if it recovered since.")
    consecutive_failures: int = Field(ge=0)
    last_batch_started_at: AwareDatetime | None
    last_batch_finished_at: AwareDatetime | None
    alive: bool = Field(description="Whether its thread runs.")


class Health(Body):
    """The app runs, its store reads and writes, and every change feed it runs is moving.

    Anything else is a 503 problem whose `errors` name the part at fault (`store`,
    `changeFeeds.<function>`).
    """

    status: Literal["ok"]
    store: Literal["sqlite", "cosmos"]
    store_checks: StoreHealth
    change_feeds: list[ChangeFeedHealth] = Field(
        description="The change-feed functions this process feeds (the local host). Empty in Azure, "
        "where the Functions host runs the triggers and reports on them itself."
    )
