"""Command handling over each store: idempotency, If-Match, rebuilt heads, exact money, races."""

from __future__ import annotations

import threading
import uuid

import pytest

from cartracker.bootstrap import Services
from cartracker.documents import HEAD_SCHEMA_VERSION, head_id, stored_event_from_document
from cartracker.domain.car import OilChange, fold
from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, InspectBrakes, ReplaceTires
from cartracker.domain.money import format_cents
from cartracker.errors import CarNotFound, ConcurrencyConflict, IdempotencyKeyReused, PreconditionFailed
from cartracker.service.commands import CommandService
from cartracker.service.queries import CarQueries

VOLVO = AddCar(make="Volvo", model="V70", owner="Alice")


def history_versions(services: Services, car_id: str) -> list[int]:
    return [d["version"] for d in services.events.read_events(car_id, limit=10_000)]


def test_money_stays_exact_through_the_store(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    services.commands.execute(car_id, ChangeOil(mileage=100, charge=0.10))
    services.commands.execute(car_id, ReplaceTires(numberOfTiresReplaced=2, charge="0.20"))
    fresh = CommandService(services.events)  # no cache: everything below comes from the store
    car = services.queries.car(car_id)
    assert car.total_charges_cents == 30
    assert format_cents(car.total_charges_cents) == "0.30"
    assert fresh.execute(car_id, ChangeOil(mileage=100, charge="0.01")).car.total_charges_cents == 31


def test_a_retried_command_with_the_same_idempotency_key_appends_once(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    first = services.commands.execute(car_id, ChangeOil(mileage=10, charge="9.99"), idempotency_key="k-1")
    services.commands.execute(car_id, ChangeOil(mileage=20, charge="1"))
    again = CommandService(services.events).execute(
        car_id, ChangeOil(mileage=10, charge="9.99"), idempotency_key="k-1"
    )
    assert again.replayed
    assert again.car == first.car
    assert history_versions(services, car_id) == [1, 2, 3]


def test_an_idempotency_key_reused_for_another_command_is_refused(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    services.commands.execute(car_id, ChangeOil(mileage=10, charge="1"), idempotency_key="k-2")
    with pytest.raises(IdempotencyKeyReused):
        services.commands.execute(car_id, ChangeOil(mileage=11, charge="1"), idempotency_key="k-2")


def test_adding_a_car_twice_with_one_idempotency_key_creates_one_car(services: Services) -> None:
    key = f"add-{uuid.uuid4()}"
    first = services.commands.add_car(VOLVO, idempotency_key=key)
    again = CommandService(services.events).add_car(VOLVO, idempotency_key=key)
    assert again.replayed
    assert again.car_id == first.car_id
    assert again.version == 1
    with pytest.raises(IdempotencyKeyReused):
        services.commands.add_car(AddCar(make="Saab", model="9-3", owner="Bo"), idempotency_key=key)


def test_if_match_on_the_current_version_is_accepted_and_a_stale_one_refused(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    assert services.commands.execute(car_id, ChangeOil(mileage=1, charge=1), expected_version=1).version == 2
    with pytest.raises(PreconditionFailed) as info:
        services.commands.execute(car_id, ChangeOil(mileage=2, charge=1), expected_version=1)
    assert info.value.current_version == 2
    assert history_versions(services, car_id) == [1, 2]


def test_a_stale_cache_is_corrected_before_a_command_is_judged(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    other_instance = CommandService(services.events)
    other_instance.execute(car_id, ChangeOwner(newOwner="Bob"))
    # This instance still caches owner Alice: handing the car back to Alice must be judged on fresh state.
    result = services.commands.execute(car_id, ChangeOwner(newOwner="Alice"))
    assert (result.version, result.car.owner) == (3, "Alice")


def test_commands_on_an_unknown_car_are_refused(services: Services) -> None:
    with pytest.raises(CarNotFound):
        services.commands.execute(str(uuid.uuid4()), ChangeOil(mileage=1, charge=1))


def test_a_missing_or_outdated_head_is_rebuilt_from_the_events(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    services.commands.execute(car_id, ChangeOil(mileage=5, charge="2.50"))
    stored = services.events.read_head(car_id)
    assert stored is not None
    outdated = {**stored.doc, "schemaVersion": HEAD_SCHEMA_VERSION - 1, "state": {"garbage": True}}
    services.events.append(car_id, [], outdated, head_etag=stored.etag)
    assert services.queries.car(car_id).total_charges_cents == 250
    result = CommandService(services.events).execute(car_id, ChangeOil(mileage=6, charge="1"))
    assert (result.version, result.car.total_charges_cents) == (3, 350)
    head = services.events.read_head(car_id)
    assert head is not None
    assert head.doc["schemaVersion"] == HEAD_SCHEMA_VERSION
    assert head.doc["id"] == head_id(car_id)


def test_a_head_written_by_version_1_is_rebuilt_with_the_last_oil_change_and_what_is_due(
    services: Services,
) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    oil = services.commands.execute(car_id, ChangeOil(mileage=7_000, charge="49.99")).car
    brakes = services.commands.execute(car_id, InspectBrakes(mileage=12_000, remainingPad=15)).car
    stored = services.events.read_head(car_id)
    assert stored is not None
    # What the app wrote before the head recorded its last oil change (head schema 1).
    state = {
        k: v
        for k, v in stored.doc["state"].items()
        if k not in ("lastOilChange", "oilDueByMileageSince", "brakesDueSince")
    }
    v1 = {k: v for k, v in stored.doc.items() if not k.startswith("_")} | {"schemaVersion": 1, "state": state}
    services.events.append(car_id, [], v1, head_etag=stored.etag)

    car = CarQueries(services.events).car(car_id)  # a fresh process: nothing cached

    assert car.last_oil_change == OilChange(at=oil.updated_at, mileage=7_000)
    assert car.oil_due_by_mileage_since == brakes.updated_at  # 5,000 miles past it at the inspection
    assert car.brakes_due_since == brakes.updated_at
    assert car == brakes
    # The next command replaces the old head with one of the current schema.
    CommandService(services.events).execute(car_id, ChangeOwner(newOwner="Bob"))
    head = services.events.read_head(car_id)
    assert head is not None
    assert head.doc["schemaVersion"] == HEAD_SCHEMA_VERSION == 2
    assert head.doc["state"]["lastOilChange"]["mileage"] == 7_000


def test_racing_writers_each_win_exactly_one_version(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    threads, per_thread = 8, 5
    wins: list[int] = []
    conflicts: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def writer(n: int) -> None:
        instance = CommandService(services.events, max_attempts=2)  # one process each: no shared cache
        barrier.wait()
        for i in range(per_thread):
            try:
                result = instance.execute(car_id, ChangeOil(mileage=0, charge=f"0.{n}{i}"))
            except ConcurrencyConflict:
                with lock:
                    conflicts.append(n)
            else:
                with lock:
                    wins.append(result.version)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(wins) + len(conflicts) == threads * per_thread
    assert sorted(wins) == list(range(2, 2 + len(wins)))  # one winner per version, no gaps
    docs = services.events.read_events(car_id, limit=10_000)
    assert [d["version"] for d in docs] == list(range(1, 2 + len(wins)))
    car = fold(None, (stored_event_from_document(d).event for d in docs), car_id=car_id)
    assert car == services.queries.car(car_id)
