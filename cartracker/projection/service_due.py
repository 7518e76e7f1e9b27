"""Service due, as a projection: one row per car, saying which service it needs and since when.

An oil change is due once the last recorded mileage is `OIL_CHANGE_EVERY_MILES` past the last
oil change's (a car never oil-changed counts from 0), or once `OIL_CHANGE_EVERY_DAYS` have passed
since it (or since the car was added); brakes are due once the last inspection's remaining pad is
at most `BRAKE_PADS_DUE_AT_PERCENT` (cartracker/domain/service_rules.py).

Every car has a row, because time makes a car due without any event: the row stores *when* each
reason is or will be due, and whether a reason applies is decided at query time (`due(now)`).
The moments are exact functions of the car's head (the domain folds when the miles or the pads
made a service due), so a row folded from events equals the row of the head, as gap healing and
rebuilds need.

Most overdue first: every reason has a `dueSince`, the moment it fell due -- for the date rule
the last oil change plus the interval, for the mileage and pad rules the event that first showed
it (kept while it stays due). Due the longest is the most overdue, whatever the reason: one time
scale orders miles and days without converting one into the other. A row sorts by its earliest
reason, in one field `dueKey = "{dueSince}|{carId}"` (fixed-width UTC), so "due now" is
`dueKey < "{now}|~"` and pages are a keyset over the same field: one cross-partition single-field
ORDER BY, no composite index. A car not due yet sorts by the future date its oil change falls due.

Per shard (partition key `"serviceDue:{shard:02d}"`): one row per car, id = car id, docType
`"serviceDueRow"`. No subtotal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cartracker.domain.car import Car, OilChange
from cartracker.domain.events import Event
from cartracker.domain.service_rules import OIL_CHANGE_EVERY_DAYS
from cartracker.ports import Document
from cartracker.projection.documents import as_int, shard_of, time_text
from cartracker.projection.spec import Projection, evolve_through_car
from cartracker.settings import SERVICE_DUE_LEASE_PREFIX

NAME = "service-due"
FAMILY = "serviceDue"
ROW_DOC = "serviceDueRow"

Service = Literal["oil-change", "brakes"]
Reason = Literal["mileage", "time", "brake-pad"]

_DUE_KEY = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\|[0-9a-f-]{36}")


@dataclass(frozen=True)
class Due:
    """One reason a service is due: since when, and the reading behind it."""

    service: Service
    reason: Reason
    since: datetime
    miles_since_oil_change: int | None = None  # reason "mileage"
    remaining_pad: int | None = None  # reason "brake-pad"


@dataclass(frozen=True)
class ServiceDueRow:
    car_id: str
    version: int
    make: str
    model: str
    owner: str
    added_at: datetime
    last_mileage: int | None
    last_oil_change: OilChange | None
    remaining_pad: int | None
    oil_due_by_mileage_since: datetime | None
    brakes_due_since: datetime | None

    @property
    def oil_due_by_time_at(self) -> datetime:
        start = self.added_at if self.last_oil_change is None else self.last_oil_change.at
        return start + timedelta(days=OIL_CHANGE_EVERY_DAYS)

    @property
    def due_since(self) -> datetime:
        """The earliest moment a reason applies (in the future if none does yet)."""
        moments = (self.oil_due_by_time_at, self.oil_due_by_mileage_since, self.brakes_due_since)
        return min(m for m in moments if m is not None)

    @property
    def due_key(self) -> str:
        return due_key(time_text(self.due_since), self.car_id)

    def due(self, now: datetime) -> list[Due]:
        """The reasons that apply at `now`, longest due first."""
        found: list[Due] = []
        if self.oil_due_by_mileage_since is not None:
            base = 0 if self.last_oil_change is None else self.last_oil_change.mileage
            found.append(
                Due(
                    "oil-change",
                    "mileage",
                    self.oil_due_by_mileage_since,
                    miles_since_oil_change=(self.last_mileage or 0) - base,
                )
            )
        if self.oil_due_by_time_at <= now:
            found.append(Due("oil-change", "time", self.oil_due_by_time_at))
        if self.brakes_due_since is not None:
            found.append(Due("brakes", "brake-pad", self.brakes_due_since, remaining_pad=self.remaining_pad))
        return sorted(found, key=lambda due: due.since)


def row_from_car(car: Car) -> ServiceDueRow:
    return ServiceDueRow(
        car_id=car.car_id,
        version=car.version,
        make=car.make,
        model=car.model,
        owner=car.owner,
        added_at=car.added_at,
        last_mileage=car.last_mileage,
        last_oil_change=car.last_oil_change,
        remaining_pad=car.last_remaining_pad,
        oil_due_by_mileage_since=car.oil_due_by_mileage_since,
        brakes_due_since=car.brakes_due_since,
    )


def evolve_row(row: ServiceDueRow | None, event: Event, *, car_id: str) -> ServiceDueRow:
    """The row after one more event (the event must carry version `row.version + 1`)."""
    return evolve_through_car(row, event, car_id=car_id, as_car=_as_car, from_car=row_from_car)


def _as_car(row: ServiceDueRow) -> Car:
    # Only the fields the row keeps: every one of them after an event depends on these and the event.
    return Car(
        car_id=row.car_id,
        version=row.version,
        make=row.make,
        model=row.model,
        owner=row.owner,
        added_at=row.added_at,
        updated_at=row.added_at,  # not part of the row; evolve overwrites it
        last_mileage=row.last_mileage,
        last_remaining_pad=row.remaining_pad,
        last_oil_change=row.last_oil_change,
        oil_due_by_mileage_since=row.oil_due_by_mileage_since,
        brakes_due_since=row.brakes_due_since,
    )


def row_document(row: ServiceDueRow, partition_key: str) -> Document:
    oil = row.last_oil_change
    return {
        "id": row.car_id,
        "partitionKey": partition_key,
        "docType": ROW_DOC,
        "carId": row.car_id,
        "make": row.make,
        "model": row.model,
        "owner": row.owner,
        "addedAt": time_text(row.added_at),
        "lastMileage": row.last_mileage,
        "lastOilChange": None if oil is None else {"at": time_text(oil.at), "mileage": oil.mileage},
        "remainingPad": row.remaining_pad,
        "oilDueByMileageSince": _text(row.oil_due_by_mileage_since),
        "brakesDueSince": _text(row.brakes_due_since),
        "version": row.version,
        "dueKey": row.due_key,
    }


def row_from_document(doc: Document) -> ServiceDueRow:
    oil = doc.get("lastOilChange")
    return ServiceDueRow(
        car_id=doc["carId"],
        version=as_int(doc["version"]),
        make=doc["make"],
        model=doc["model"],
        owner=doc["owner"],
        added_at=datetime.fromisoformat(doc["addedAt"]),
        last_mileage=_int(doc.get("lastMileage")),
        last_oil_change=None
        if oil is None
        else OilChange(at=datetime.fromisoformat(oil["at"]), mileage=as_int(oil["mileage"])),
        remaining_pad=_int(doc.get("remainingPad")),
        oil_due_by_mileage_since=_time(doc.get("oilDueByMileageSince")),
        brakes_due_since=_time(doc.get("brakesDueSince")),
    )


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else time_text(moment)


def _time(text: Any) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _int(value: Any) -> int | None:
    return None if value is None else as_int(value)


def due_key(due_since: str, car_id: str) -> str:
    return f"{due_since}|{car_id}"


def due_until(now: datetime) -> str:
    """Every row due at `now` has a `dueKey` below this ('~' sorts after any car id)."""
    return f"{time_text(now)}|~"


def is_due_key(text: str) -> bool:
    return _DUE_KEY.fullmatch(text) is not None


SERVICE_DUE: Projection[ServiceDueRow] = Projection(
    name=NAME,
    lease_prefix=SERVICE_DUE_LEASE_PREFIX,
    family=FAMILY,
    row_doc_type=ROW_DOC,
    from_car=row_from_car,
    evolve=lambda row, event, car_id: evolve_row(row, event, car_id=car_id),
    to_document=row_document,
    from_document=row_from_document,
    shard=shard_of,
)
