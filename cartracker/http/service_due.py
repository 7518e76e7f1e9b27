"""Bodies of `GET service-due`, shared by its function and openapi.json (which must not import functions/)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from cartracker.http.schemas import Body, CarId, OilChangeView
from cartracker.projection.service_due import Due
from cartracker.service.service_due import ServiceDueItem, ServiceDuePage

SERVICE_DUE_ROUTE = "service-due"


class MileageDue(Body):
    service: Literal["oil-change"]
    reason: Literal["mileage"] = Field(description="Driven the interval's miles since the last oil change.")
    due_since: AwareDatetime = Field(description="When a mileage reading first showed it.")
    miles_since_oil_change: int = Field(ge=0, description="Since the last oil change (or since 0).")


class TimeDue(Body):
    service: Literal["oil-change"]
    reason: Literal["time"] = Field(description="The interval's days have passed since the last oil change.")
    due_since: AwareDatetime = Field(
        description="The last oil change (or, if none, when the car was added) plus the interval."
    )


class BrakesDue(Body):
    service: Literal["brakes"]
    reason: Literal["brake-pad"] = Field(description="The last inspection found the pads worn down.")
    due_since: AwareDatetime = Field(
        description="The inspection that first found them so (kept while they are)."
    )
    remaining_pad: int = Field(ge=0, le=100, description="At the last inspection, percent.")


DueView = Annotated[MileageDue | TimeDue | BrakesDue, Field(discriminator="reason")]


class ServiceDueItemView(Body):
    car_id: CarId
    make: str
    model: str
    owner: str
    last_mileage: int | None
    last_oil_change: OilChangeView | None
    due: list[DueView] = Field(min_length=1, description="Why it is due, longest due first.")
    version: int = Field(ge=1, description="The car's version this item shows.")


class ServiceDuePageView(Body):
    items: list[ServiceDueItemView] = Field(
        description="The cars due a service now, most overdue (due the longest, by any reason) first."
    )
    continuation_token: str | None = Field(
        description="Opaque; pass it back as `continuationToken` for the next page. Null on the last page."
    )
    freshness: Literal["deferred"] = Field(description="From the service-due projection, which may lag.")


def service_due_view(page: ServiceDuePage) -> ServiceDuePageView:
    return ServiceDuePageView(
        items=[_item(item) for item in page.items],
        continuation_token=page.continuation_token,
        freshness="deferred",
    )


def _item(item: ServiceDueItem) -> ServiceDueItemView:
    row = item.row
    oil = row.last_oil_change
    return ServiceDueItemView(
        car_id=row.car_id,
        make=row.make,
        model=row.model,
        owner=row.owner,
        last_mileage=row.last_mileage,
        last_oil_change=None if oil is None else OilChangeView(at=oil.at, mileage=oil.mileage),
        due=[_due(due) for due in item.due],
        version=row.version,
    )


def _due(due: Due) -> MileageDue | TimeDue | BrakesDue:
    if due.reason == "mileage":
        return MileageDue(
            service="oil-change",
            reason="mileage",
            due_since=due.since,
            miles_since_oil_change=due.miles_since_oil_change or 0,
        )
    if due.reason == "time":
        return TimeDue(service="oil-change", reason="time", due_since=due.since)
    return BrakesDue(
        service="brakes", reason="brake-pad", due_since=due.since, remaining_pad=due.remaining_pad or 0
    )
