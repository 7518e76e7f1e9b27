"""The EventStore contract, run once on SQLite and once on the Cosmos adapter (real SDK, real server)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cartracker.bootstrap import Services
from cartracker.documents import (
    CommandRecord,
    StoredEvent,
    event_document,
    head_document,
    idempotency_id,
    record_document,
    stored_event_from_document,
)
from cartracker.domain.car import Car, evolve
from cartracker.domain.events import CarAdded, Event, OilChanged
from cartracker.errors import ConcurrencyConflict

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
DAY = timedelta(hours=24)


def new_car_id() -> str:
    return str(uuid.uuid4())


def write(
    services: Services, car_id: str, car: Car | None, events: list[Event], etag: str | None
) -> tuple[Car, str]:
    start = car.version if car else 0
    docs = [event_document(StoredEvent(car_id, start + i + 1, e)) for i, e in enumerate(events)]
    for event in events:
        car = evolve(car, event, car_id=car_id)
    assert car is not None
    return car, services.events.append(car_id, docs, head_document(car), head_etag=etag)


class TestEventStoreContract:
    def test_an_unknown_car_has_no_head(self, services: Services) -> None:
        assert services.events.read_head(new_car_id()) is None

    def test_appending_a_new_car_writes_its_events_and_head(self, services: Services) -> None:
        car_id = new_car_id()
        car, etag = write(
            services, car_id, None, [CarAdded(make="Saab", model="900", owner="Ann", occurred_at=NOW)], None
        )
        head = services.events.read_head(car_id)
        assert head is not None
        assert head.etag == etag
        assert head.doc["state"] == car.model_dump(mode="json", by_alias=True)
        [doc] = services.events.read_events(car_id)
        assert doc["id"] == f"{car_id}:0000000001"
        assert stored_event_from_document(doc).event == CarAdded(
            make="Saab", model="900", owner="Ann", occurred_at=NOW
        )

    def test_a_stale_etag_is_a_conflict_and_writes_nothing(self, services: Services) -> None:
        car_id = new_car_id()
        car, etag = write(
            services, car_id, None, [CarAdded(make="a", model="b", owner="c", occurred_at=NOW)], None
        )
        write(services, car_id, car, [OilChanged(mileage=1, charge_cents=1, occurred_at=NOW)], etag)
        # A second writer that still holds version 1 and its etag: its version-2 event collides.
        with pytest.raises(ConcurrencyConflict):
            write(services, car_id, car, [OilChanged(mileage=2, charge_cents=2, occurred_at=NOW)], etag)
        docs = services.events.read_events(car_id)
        assert [d["version"] for d in docs] == [1, 2]
        assert docs[1]["data"]["chargeCents"] == 1
        head = services.events.read_head(car_id)
        assert head is not None
        assert head.doc["version"] == 2

    def test_creating_a_head_that_exists_is_a_conflict(self, services: Services) -> None:
        car_id = new_car_id()
        added = CarAdded(make="a", model="b", owner="c", occurred_at=NOW)
        write(services, car_id, None, [added], None)
        with pytest.raises(ConcurrencyConflict):
            write(services, car_id, None, [added], None)
        assert len(services.events.read_events(car_id)) == 1

    def test_events_are_read_in_version_order_after_a_version_and_up_to_a_limit(
        self, services: Services
    ) -> None:
        car_id = new_car_id()
        car, etag = write(
            services, car_id, None, [CarAdded(make="a", model="b", owner="c", occurred_at=NOW)], None
        )
        for mileage in range(1, 12):
            car, etag = write(
                services, car_id, car, [OilChanged(mileage=mileage, charge_cents=5, occurred_at=NOW)], etag
            )
        assert [d["version"] for d in services.events.read_events(car_id, limit=100)] == list(range(1, 13))
        assert [d["version"] for d in services.events.read_events(car_id, after_version=3, limit=4)] == [
            4,
            5,
            6,
            7,
        ]
        assert services.events.read_events(car_id, after_version=12) == []

    def test_events_of_other_cars_are_not_read(self, services: Services) -> None:
        first, second = new_car_id(), new_car_id()
        write(services, first, None, [CarAdded(make="a", model="b", owner="c", occurred_at=NOW)], None)
        write(services, second, None, [CarAdded(make="x", model="y", owner="z", occurred_at=NOW)], None)
        assert [d["aggregateId"] for d in services.events.read_events(first)] == [first]

    def test_every_head_is_read_once_across_pages(self, services: Services) -> None:
        cars = {new_car_id() for _ in range(7)}
        for car_id in cars:
            write(services, car_id, None, [CarAdded(make="a", model="b", owner="c", occurred_at=NOW)], None)
        seen: list[str] = []
        token: str | None = None
        for _ in range(10):
            docs, token = services.events.read_heads(limit=3, continuation=token)
            assert len(docs) <= 3
            assert all(d["docType"] == "head" for d in docs)
            seen.extend(d["aggregateId"] for d in docs)
            if token is None:
                break
        assert token is None
        assert sorted(seen) == sorted(cars)

    def test_an_idempotency_record_is_written_with_the_batch_and_a_second_one_refused(
        self, services: Services
    ) -> None:
        car_id = new_car_id()
        car, etag = write(
            services, car_id, None, [CarAdded(make="a", model="b", owner="c", occurred_at=NOW)], None
        )
        record = record_document(car_id, "key", CommandRecord("key", "fp", car, datetime.now(UTC)), DAY)
        oil = [event_document(StoredEvent(car_id, 2, OilChanged(mileage=1, charge_cents=1, occurred_at=NOW)))]
        head = head_document(car.model_copy(update={"version": 2}))
        etag = services.events.append(car_id, oil, head, head_etag=etag, record=record)
        stored = services.events.read_record(car_id, record["id"])
        assert stored is not None
        assert {k: v for k, v in stored.items() if not k.startswith("_")} == record
        # The same record again, with events and head that would otherwise go in: refused whole,
        # and the store says it was the record.
        again = [
            event_document(StoredEvent(car_id, 3, OilChanged(mileage=2, charge_cents=1, occurred_at=NOW)))
        ]
        with pytest.raises(ConcurrencyConflict) as refused:
            services.events.append(
                car_id,
                again,
                head_document(car.model_copy(update={"version": 3})),
                head_etag=etag,
                record=record,
            )
        assert refused.value.record_exists
        assert [d["version"] for d in services.events.read_events(car_id)] == [1, 2]
        assert services.events.read_record(car_id, idempotency_id(car_id, "another key")) is None

    def test_a_batch_refused_by_its_head_is_not_blamed_on_its_record(self, services: Services) -> None:
        car_id = new_car_id()
        car, etag = write(
            services, car_id, None, [CarAdded(make="a", model="b", owner="c", occurred_at=NOW)], None
        )
        write(services, car_id, car, [OilChanged(mileage=1, charge_cents=1, occurred_at=NOW)], etag)
        record = record_document(car_id, "k2", CommandRecord("k2", "fp", car, datetime.now(UTC)), DAY)
        late = [
            event_document(StoredEvent(car_id, 3, OilChanged(mileage=2, charge_cents=1, occurred_at=NOW)))
        ]
        with pytest.raises(ConcurrencyConflict) as refused:
            services.events.append(
                car_id,
                late,
                head_document(car.model_copy(update={"version": 3})),
                head_etag=etag,
                record=record,
            )
        assert not refused.value.record_exists
        assert services.events.read_record(car_id, record["id"]) is None
