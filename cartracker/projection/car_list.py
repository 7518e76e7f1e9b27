"""The car list, as a projection: one row per car, newest first, with exact per-shard totals.

A row is a `Car` with the fields the list does not show forgotten. Folding an
event onto a row goes through the domain's own `evolve` (the row is widened to a
`Car`, evolved, and narrowed again), so the list can never disagree with the
aggregate about what counts as a charge or a service. That works because every
row field after an event depends only on row fields before it and the event;
the property tests check it against a from-scratch fold.

Per shard (partition key `"carList:{shard:02d}"`):

* one row per car, id = car id, docType `"carListRow"`: the car as the list shows it
  plus its `version` and a `listKey` to sort by;
* one subtotal, id `"subtotal"`, docType `"carListSubtotal"`: the shard's exact
  `totalChargesCents` and `carCount`.

`listKey` is `"{addedAt}|{carId}"` with a fixed-width UTC time, so one string
orders the list newest first with ties broken by id. One field, because a
multi-field ORDER BY needs a composite index on Cosmos DB, and because keyset
pagination over one key is the same simple query on every store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cartracker.domain.car import Car
from cartracker.domain.events import Event
from cartracker.ports import Document
from cartracker.projection.documents import as_int, shard_of, time_text
from cartracker.projection.spec import Projection, Subtotal, evolve_through_car
from cartracker.settings import CAR_LIST_LEASE_PREFIX

NAME = "car-list"
FAMILY = "carList"
ROW_DOC = "carListRow"
SUBTOTAL_DOC = "carListSubtotal"

_LIST_KEY = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\|[0-9a-f-]{36}")


@dataclass(frozen=True)
class CarListRow:
    car_id: str
    version: int
    make: str
    model: str
    owner: str
    added_at: datetime
    last_serviced: datetime | None
    total_charges_cents: int

    @property
    def list_key(self) -> str:
        return list_key(time_text(self.added_at), self.car_id)


def row_from_car(car: Car) -> CarListRow:
    return CarListRow(
        car_id=car.car_id,
        version=car.version,
        make=car.make,
        model=car.model,
        owner=car.owner,
        added_at=car.added_at,
        last_serviced=car.last_serviced,
        total_charges_cents=car.total_charges_cents,
    )


def evolve_row(row: CarListRow | None, event: Event, *, car_id: str) -> CarListRow:
    """The row after one more event (the event must carry version `row.version + 1`)."""
    return evolve_through_car(row, event, car_id=car_id, as_car=_as_car, from_car=row_from_car)


def _as_car(row: CarListRow) -> Car:
    return Car(
        car_id=row.car_id,
        version=row.version,
        make=row.make,
        model=row.model,
        owner=row.owner,
        added_at=row.added_at,
        updated_at=row.added_at,  # not part of the row; evolve overwrites it
        last_serviced=row.last_serviced,
        total_charges_cents=row.total_charges_cents,
    )


def row_document(row: CarListRow, partition_key: str) -> Document:
    return {
        "id": row.car_id,
        "partitionKey": partition_key,
        "docType": ROW_DOC,
        "carId": row.car_id,
        "make": row.make,
        "model": row.model,
        "owner": row.owner,
        "addedAt": time_text(row.added_at),
        "lastServiced": None if row.last_serviced is None else time_text(row.last_serviced),
        "totalChargesCents": row.total_charges_cents,
        "version": row.version,
        "listKey": row.list_key,
    }


def row_from_document(doc: Document) -> CarListRow:
    last = doc.get("lastServiced")
    return CarListRow(
        car_id=doc["carId"],
        version=as_int(doc["version"]),
        make=doc["make"],
        model=doc["model"],
        owner=doc["owner"],
        added_at=datetime.fromisoformat(doc["addedAt"]),
        last_serviced=None if last is None else datetime.fromisoformat(last),
        total_charges_cents=as_int(doc["totalChargesCents"]),
    )


def list_key(added_at: str, car_id: str) -> str:
    return f"{added_at}|{car_id}"


def is_list_key(text: str) -> bool:
    return _LIST_KEY.fullmatch(text) is not None


CAR_LIST: Projection[CarListRow] = Projection(
    name=NAME,
    lease_prefix=CAR_LIST_LEASE_PREFIX,
    family=FAMILY,
    row_doc_type=ROW_DOC,
    from_car=row_from_car,
    evolve=lambda row, event, car_id: evolve_row(row, event, car_id=car_id),
    to_document=row_document,
    from_document=row_from_document,
    subtotal=Subtotal(SUBTOTAL_DOC, sums=("totalChargesCents",), count="carCount"),
    shard=shard_of,
)


def shard_partition(shard: int) -> str:
    return CAR_LIST.partition(shard)


def row_partition(car_id: str, shards: int) -> str:
    return CAR_LIST.partition_of(car_id, shards)


def subtotal_document(partition_key: str, total_charges_cents: int, car_count: int) -> Document:
    assert CAR_LIST.subtotal is not None
    return CAR_LIST.subtotal.document(
        partition_key, {"totalChargesCents": total_charges_cents, "carCount": car_count}
    )
