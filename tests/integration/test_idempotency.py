"""Idempotency-Key semantics on each store: applied once for the retention, whatever lands meanwhile."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cartracker.bootstrap import Services, bootstrap
from cartracker.documents import IDEMPOTENCY_DOC, idempotency_id
from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, InspectBrakes, ReplaceTires
from cartracker.errors import ConcurrencyConflict, IdempotencyKeyReused
from cartracker.service.commands import CommandResult, CommandService
from tests.conftest import CosmosEnv, sqlite_settings

VOLVO = AddCar(make="Volvo", model="V70", owner="Alice")
TIRES = ReplaceTires.model_validate({"numberOfTiresReplaced": 4, "charge": "500.00"})


def brakes(mileage: int) -> InspectBrakes:
    return InspectBrakes.model_validate({"mileage": mileage, "remainingPad": 50})


def oil(mileage: int) -> ChangeOil:
    return ChangeOil(mileage=mileage, charge="1")


def event_count(services: Services, car_id: str) -> int:
    return len(services.events.read_events(car_id, limit=10_000))


def test_a_keyed_retry_after_many_other_keyed_commands_is_not_applied_again(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    first = services.commands.execute(car_id, TIRES, idempotency_key="tires-1")
    for mileage in range(12):
        services.commands.execute(car_id, brakes(mileage), idempotency_key=f"brakes-{mileage}")
    again = services.commands.execute(car_id, TIRES, idempotency_key="tires-1")
    assert again.replayed
    assert again.car == first.car, "the retry answers the first outcome, not the car as it is now"
    assert services.queries.car(car_id).total_charges_cents == 500_00
    assert event_count(services, car_id) == 14


def test_a_keyed_add_car_retry_after_many_keyed_commands_answers_the_first_outcome(
    services: Services,
) -> None:
    key = f"add-{uuid.uuid4()}"
    first = services.commands.add_car(VOLVO, idempotency_key=key)
    for mileage in range(11):
        services.commands.execute(first.car_id, brakes(mileage), idempotency_key=f"b-{mileage}")
    again = CommandService(services.events).add_car(VOLVO, idempotency_key=key)
    assert again.replayed
    assert again.car == first.car
    assert again.version == 1


def test_a_keyed_retry_that_the_car_would_now_refuse_still_answers_its_first_outcome(
    services: Services,
) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    first = services.commands.execute(
        car_id, ChangeOwner.model_validate({"newOwner": "Bob"}), idempotency_key="o"
    )
    # Deciding the retry again would fail ("Bob already owns this car"): the record answers first.
    again = services.commands.execute(
        car_id, ChangeOwner.model_validate({"newOwner": "Bob"}), idempotency_key="o"
    )
    assert again.replayed
    assert again.car == first.car
    assert event_count(services, car_id) == 2


def test_a_keyed_retry_with_a_stale_if_match_answers_its_first_outcome(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    oil = ChangeOil(mileage=5, charge="10")
    first = services.commands.execute(car_id, oil, expected_version=1, idempotency_key="m")
    again = CommandService(services.events).execute(car_id, oil, expected_version=1, idempotency_key="m")
    assert again.replayed
    assert again.version == first.version == 2


def test_the_same_key_on_another_payload_is_refused_however_old(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    services.commands.execute(car_id, ChangeOil(mileage=10, charge="1"), idempotency_key="k")
    for mileage in range(11, 23):
        services.commands.execute(
            car_id, ChangeOil(mileage=mileage, charge="1"), idempotency_key=f"k{mileage}"
        )
    with pytest.raises(IdempotencyKeyReused):
        CommandService(services.events).execute(
            car_id, ChangeOil(mileage=99, charge="1"), idempotency_key="k"
        )


def test_concurrent_duplicates_apply_once_and_each_gets_the_outcome_or_a_conflict(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    outcomes: list[CommandResult | Exception] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        writer = CommandService(services.events)  # its own cache, like another instance
        barrier.wait()
        try:
            outcomes.append(writer.execute(car_id, TIRES, idempotency_key="together"))
        except ConcurrencyConflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = [o for o in outcomes if isinstance(o, CommandResult)]
    assert len(outcomes) == 8
    assert len([r for r in results if not r.replayed]) == 1
    assert {r.version for r in results} == {2}
    assert services.queries.car(car_id).total_charges_cents == 500_00
    assert event_count(services, car_id) == 2


def test_the_head_no_longer_carries_idempotency_keys(services: Services) -> None:
    car_id = services.commands.add_car(VOLVO).car_id
    services.commands.execute(car_id, ChangeOil(mileage=1, charge="1"), idempotency_key="small-head")
    stored = services.events.read_head(car_id)
    assert stored is not None
    assert "commands" not in stored.doc
    record = services.events.read_record(car_id, idempotency_id(car_id, "small-head"))
    assert record is not None
    assert record["docType"] == IDEMPOTENCY_DOC
    assert record["ttl"] == 24 * 3600


def test_a_key_is_forgotten_after_the_retention_and_may_then_be_used_again(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    services = bootstrap(sqlite_settings(tmp_path / "store.sqlite3"), clock=lambda: now[0])
    car_id = services.commands.add_car(VOLVO).car_id
    services.commands.execute(car_id, ChangeOil(mileage=1, charge="1"), idempotency_key="old")
    now[0] += timedelta(hours=23, minutes=59)
    assert services.commands.execute(car_id, ChangeOil(mileage=1, charge="1"), idempotency_key="old").replayed
    now[0] += timedelta(minutes=2)
    # Past the retention the key is new again: the same payload is applied a second time.
    again = services.commands.execute(car_id, ChangeOil(mileage=2, charge="1"), idempotency_key="old")
    assert not again.replayed
    assert again.version == 3


def test_expired_records_are_swept_from_the_embedded_store(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    services = bootstrap(sqlite_settings(tmp_path / "store.sqlite3"), clock=lambda: now[0])
    car_id = services.commands.add_car(VOLVO).car_id
    for mileage in range(5):
        services.commands.execute(
            car_id, ChangeOil(mileage=mileage, charge="1"), idempotency_key=f"s{mileage}"
        )
    now[0] += timedelta(days=2)
    assert services.events.purge_expired_records() == 5  # type: ignore[attr-defined]
    assert services.events.read_record(car_id, idempotency_id(car_id, "s0")) is None
    assert event_count(services, car_id) == 6


def test_keyed_commands_cost_one_round_trip_warm_and_replays_at_most_three(cosmos: CosmosEnv) -> None:
    services = bootstrap(cosmos.settings, cosmos_client=cosmos.client)
    car_id = services.commands.add_car(VOLVO, idempotency_key=f"rt-{uuid.uuid4()}").car_id
    services.commands.execute(car_id, ChangeOil(mileage=1, charge="1"))  # warm the metadata and the cache
    cosmos.transport.reset()
    services.commands.execute(car_id, ChangeOil(mileage=2, charge="1"), idempotency_key="first-time")
    assert cosmos.transport.kinds(skip_account=True) == ["batch"], "a first-time keyed warm command"

    cosmos.transport.reset()
    assert services.commands.execute(
        car_id, ChangeOil(mileage=2, charge="1"), idempotency_key="first-time"
    ).replayed
    warm_replay = cosmos.transport.kinds(skip_account=True)
    assert len(warm_replay) <= 3, warm_replay

    cold = CommandService(services.events)
    cosmos.transport.reset()
    assert cold.execute(car_id, oil(2), idempotency_key="first-time").replayed
    cold_replay = cosmos.transport.kinds(skip_account=True)
    assert len(cold_replay) <= 3, cold_replay
    print(f"\nkeyed replay round trips: warm {warm_replay}, cold {cold_replay}")

    cosmos.transport.reset()
    services.commands.execute(car_id, ChangeOil(mileage=3, charge="1"))
    assert cosmos.transport.kinds(skip_account=True) == ["batch"], "an unkeyed warm command"
