"""The C# original's data access, re-created with the Python SDK: a bench contender, never app code.

The C# sample CarTracker grows from makes five choices about Cosmos DB that CarTracker does
not (docs/performance.md, "The original's pattern"). This module makes them again, on
purpose, so that the bench can put a figure on each:

1. **A new client per repository call.** Every call below builds a `CosmosClient`, uses it for
   one operation and closes it, so each pays what a new client sends before its first request
   (the account read, its health check, the container's properties).
2. **One `create_item` per event, with a GUID id.** Nothing in the id or the write says which
   version it follows, so two writers that loaded the same state both succeed: the lost
   update the original has. It is kept here (`tests/integration/test_original_pattern.py`).
3. **A separate upsert of the car's view** ("car by id"), not in the event's transaction.
4. **The all-cars view is one document** holding every car, read and upserted whole for every
   batch of events (in the original by a change-feed function), with no etag either.
5. **Predictions by one query over every known car** (`c.carId = @c0 OR c.carId = @c1 ...`,
   every event of every car), folded onto the stale all-cars list.

The domain (`decide`, `evolve`) is CarTracker's: only the data access differs. Events carry
no version here, so a car's events are ordered by their time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from azure.cosmos import ContainerProxy, PartitionKey
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from cartracker.domain.car import Car, decide, evolve, fold
from cartracker.domain.commands import AddCar, Command
from cartracker.domain.events import (
    CURRENT_SCHEMA_VERSION,
    Event,
    event_from_data,
    event_type,
    split_occurred_at,
)
from cartracker.errors import CarNotFound
from cartracker.ports import Document
from cartracker.service.commands import utc_now
from tests.support.cosmos import CosmosServer, CountingTransport, make_client

EVENTS = "events"  # partition key /carId
VIEWS = "views"  # partition key /id: each car's view, and the one all-cars document
ALL_CARS_ID = "allCars"
_CAR_EVENTS = "SELECT * FROM c WHERE c.carId = @carId ORDER BY c.timestamp"


@contextmanager
def original_database(server: CosmosServer) -> Iterator[str]:
    """A database of the original's own on the test server, with its two containers; deleted after."""
    name = f"original-{uuid.uuid4().hex[:10]}"
    admin = make_client(server.endpoint, CountingTransport())
    try:
        database = admin.create_database(name)
        database.create_container(EVENTS, partition_key=PartitionKey(path="/carId"))
        database.create_container(VIEWS, partition_key=PartitionKey(path="/id"))
        yield name
    finally:
        admin.delete_database(name)
        admin.close()


class ClientLog:
    """Makes the transport of each new client the original builds, and counts them all as one."""

    def __init__(self) -> None:
        self._transports: list[CountingTransport] = []

    def transport(self) -> CountingTransport:
        transport = CountingTransport()  # as CarTracker's client is built
        self._transports.append(transport)
        return transport

    def reset(self) -> None:
        self._transports.clear()

    def kinds(self) -> list[str]:
        """The requests sent since the last reset, in order (``['account', 'account', 'metadata', ...]``)."""
        return [kind for transport in self._transports for kind in transport.kinds()]


class Repository:
    """The original's repository: every method is one call with a client of its own (choice 1).

    `transports` makes the transport of each new client (`ClientLog.transport` counts them).
    """

    def __init__(self, endpoint: str, database: str, transports: Callable[[], CountingTransport]) -> None:
        self.endpoint = endpoint
        self.database = database
        self.transports = transports

    @contextmanager
    def _container(self, name: str) -> Iterator[ContainerProxy]:
        # make_client waits for the SDK's background health check, so that it is counted here.
        client = make_client(self.endpoint, self.transports())
        try:
            yield client.get_database_client(self.database).get_container_client(name)
        finally:
            client.close()

    def read_events(self, car_id: str) -> list[Document]:
        with self._container(EVENTS) as events:
            parameters: list[dict[str, Any]] = [{"name": "@carId", "value": car_id}]
            return list(events.query_items(_CAR_EVENTS, parameters=parameters, partition_key=car_id))

    def append(self, event: Document) -> None:
        with self._container(EVENTS) as events:
            events.create_item(event)  # a GUID id and no condition: choice 2, the lost update

    def upsert_car_view(self, view: Document) -> None:
        with self._container(VIEWS) as views:
            views.upsert_item(view)

    def read_all_cars(self) -> Document | None:
        with self._container(VIEWS) as views:
            try:
                doc: Document = views.read_item(ALL_CARS_ID, partition_key=ALL_CARS_ID)
            except CosmosResourceNotFoundError:
                return None
            return doc

    def upsert_all_cars(self, doc: Document) -> None:
        with self._container(VIEWS) as views:
            views.upsert_item(doc)  # no if_match: a concurrent update of another car is lost

    def events_of(self, car_ids: Sequence[str]) -> list[Document]:
        """Every event of every car named, in one cross-partition query (choice 5)."""
        if not car_ids:
            return []
        where = " OR ".join(f"c.carId = @c{n}" for n in range(len(car_ids)))
        parameters: list[dict[str, Any]] = [{"name": f"@c{n}", "value": c} for n, c in enumerate(car_ids)]
        with self._container(EVENTS) as events:
            query = "SELECT * FROM c WHERE " + where  # noqa: S608 - parameter names only, values bound
            return list(events.query_items(query, parameters=parameters, enable_cross_partition_query=True))


class OriginalPattern:
    """The original's command handler, its change-feed projector and its all-cars query."""

    def __init__(self, repository: Repository, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.repository = repository
        self.clock = clock

    def add_car(self, command: AddCar) -> tuple[Car, list[Document]]:
        return self.save(None, command, car_id=str(uuid.uuid4()))

    def execute(self, car_id: str, command: Command) -> tuple[Car, list[Document]]:
        """Load, decide, append, upsert the car's view: the web app's handler."""
        return self.save(self.load(car_id), command, car_id=car_id)

    def load(self, car_id: str) -> Car:
        car = fold(None, (event_of(doc) for doc in self.repository.read_events(car_id)), car_id=car_id)
        if car is None:
            raise CarNotFound(car_id)
        return car

    def save(self, car: Car | None, command: Command, *, car_id: str) -> tuple[Car, list[Document]]:
        """Decide on `car` as loaded and write what follows, trusting that nobody wrote meanwhile."""
        events = decide(car, command, self.clock(), car_id=car_id)
        docs = [event_document(car_id, event) for event in events]
        for doc in docs:
            self.repository.append(doc)
        after = fold(car, events, car_id=car_id)
        assert after is not None
        self.repository.upsert_car_view({"id": car_id, **after.model_dump(mode="json", by_alias=True)})
        return after, docs

    def project(self, docs: Sequence[Document]) -> None:
        """The change-feed function: the all-cars document, read, changed and upserted whole."""
        all_cars = self.repository.read_all_cars() or empty_all_cars()
        self.repository.upsert_all_cars(with_events(all_cars, docs))

    def list_cars(self) -> list[Document]:
        """The all-cars view as stored: one point read of one document that holds every car."""
        all_cars = self.repository.read_all_cars()
        return [] if all_cars is None else list(all_cars["cars"])

    def list_cars_predicted(self) -> list[Document]:
        """The all-cars view with every car's not-yet-projected events folded in (choice 5).

        Only cars the stale view knows are queried, so a car added since is not shown.
        """
        cars = self.list_cars()
        by_car: dict[str, list[Document]] = {}
        for doc in self.repository.events_of([entry["carId"] for entry in cars]):
            by_car.setdefault(doc["carId"], []).append(doc)
        out = []
        for stale in cars:
            history = sorted(by_car.get(stale["carId"], []), key=lambda doc: doc["timestamp"])
            if not history or history[-1]["timestamp"] <= stale["lastEventAt"]:
                out.append(stale)
                continue
            car = fold(None, (event_of(doc) for doc in history), car_id=stale["carId"])
            assert car is not None
            out.append(list_entry(car))
        return out


def empty_all_cars() -> Document:
    return {"id": ALL_CARS_ID, "cars": []}


def event_document(car_id: str, event: Event) -> Document:
    occurred_at, data = split_occurred_at(event)
    return {
        "id": str(uuid.uuid4()),
        "carId": car_id,
        "type": event_type(event),
        "occurredAt": occurred_at,
        "timestamp": event.occurred_at.timestamp(),
        "data": data,
    }


def event_of(doc: Document) -> Event:
    return event_from_data(doc["type"], CURRENT_SCHEMA_VERSION[doc["type"]], doc["data"], doc["occurredAt"])


def list_entry(car: Car) -> Document:
    """A car as the all-cars document lists it: the fields CarTracker's list row shows."""
    return {
        "carId": car.car_id,
        "make": car.make,
        "model": car.model,
        "owner": car.owner,
        "addedAt": car.added_at.isoformat(),
        "lastServiced": None if car.last_serviced is None else car.last_serviced.isoformat(),
        "totalChargesCents": car.total_charges_cents,
        "lastEventAt": car.updated_at.timestamp(),
    }


def with_events(all_cars: Document, docs: Sequence[Document]) -> Document:
    """The all-cars document with these events folded onto their cars' entries (pure)."""
    entries = {entry["carId"]: entry for entry in all_cars["cars"]}
    for doc in sorted(docs, key=lambda doc: doc["timestamp"]):
        known = entries.get(doc["carId"])
        car = evolve(None if known is None else _car_of(known), event_of(doc), car_id=doc["carId"])
        entries[doc["carId"]] = list_entry(car)
    return {**all_cars, "cars": list(entries.values())}


def _car_of(entry: Document) -> Car:
    last = entry["lastServiced"]
    return Car(
        car_id=entry["carId"],
        version=0,  # the original keeps no version
        make=entry["make"],
        model=entry["model"],
        owner=entry["owner"],
        added_at=datetime.fromisoformat(entry["addedAt"]),
        updated_at=datetime.fromtimestamp(entry["lastEventAt"], UTC),
        last_serviced=None if last is None else datetime.fromisoformat(last),
        total_charges_cents=entry["totalChargesCents"],
    )
