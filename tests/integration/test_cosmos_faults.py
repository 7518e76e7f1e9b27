"""Commands under Cosmos faults: each one succeeds exactly once or fails cleanly with StoreUnavailable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cartracker.bootstrap import Services, bootstrap
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.errors import StoreUnavailable
from tests.conftest import CosmosEnv
from tests.support.cosmos import CosmosServer, make_client
from tests.support.faults import FaultyTransport

VOLVO = AddCar(make="Volvo", model="V70", owner="Alice")


@pytest.fixture
def faulty(cosmos: CosmosEnv, cosmos_server: CosmosServer) -> Iterator[tuple[Services, FaultyTransport]]:
    transport = FaultyTransport()
    client = make_client(cosmos_server.endpoint, transport)
    yield bootstrap(cosmos.settings, cosmos_client=client), transport
    client.close()


def versions(services: Services, car_id: str) -> list[int]:
    return [d["version"] for d in services.events.read_events(car_id, limit=1000)]


def test_a_throttled_batch_is_retried_by_the_sdk_and_lands_once(
    faulty: tuple[Services, FaultyTransport],
) -> None:
    services, transport = faulty
    car_id = services.commands.add_car(VOLVO).car_id
    transport.inject("batch", "throttle", times=2)
    transport.reset()
    assert services.commands.execute(car_id, ChangeOil(mileage=1, charge="1.10")).version == 2
    assert transport.kinds(skip_account=True) == ["batch", "batch", "batch"]
    assert versions(services, car_id) == [1, 2]


def test_persistent_throttling_fails_with_store_unavailable_and_writes_nothing(
    faulty: tuple[Services, FaultyTransport],
) -> None:
    services, transport = faulty
    car_id = services.commands.add_car(VOLVO).car_id
    transport.inject("batch", "throttle", times=-1)
    with pytest.raises(StoreUnavailable) as info:
        services.commands.execute(car_id, ChangeOil(mileage=1, charge=1))
    assert info.value.retry_after_seconds >= 1
    assert not info.value.write_may_have_applied
    transport.clear()
    assert versions(services, car_id) == [1]


def test_a_503_fails_with_store_unavailable_and_writes_nothing(
    faulty: tuple[Services, FaultyTransport],
) -> None:
    services, transport = faulty
    car_id = services.commands.add_car(VOLVO).car_id
    transport.inject("batch", "unavailable", times=-1)
    with pytest.raises(StoreUnavailable):
        services.commands.execute(car_id, ChangeOil(mileage=1, charge=1))
    transport.clear()
    assert versions(services, car_id) == [1]


def test_a_connection_reset_before_sending_is_retried_and_lands_once(
    faulty: tuple[Services, FaultyTransport],
) -> None:
    services, transport = faulty
    car_id = services.commands.add_car(VOLVO).car_id
    transport.inject("batch", "reset", times=1)
    assert services.commands.execute(car_id, ChangeOil(mileage=1, charge=1)).version == 2
    assert versions(services, car_id) == [1, 2]


def test_a_lost_answer_after_the_write_applied_is_not_appended_twice(
    faulty: tuple[Services, FaultyTransport],
) -> None:
    services, transport = faulty
    car_id = services.commands.add_car(VOLVO).car_id
    transport.inject("batch", "lost_answer", times=1)
    result = services.commands.execute(car_id, ChangeOil(mileage=7, charge="2.50"))
    assert ("batch", "lost_answer") in transport.injected
    assert (result.version, result.car.total_charges_cents) == (2, 250)
    assert versions(services, car_id) == [1, 2]


def test_a_lost_answer_on_add_car_creates_one_car(faulty: tuple[Services, FaultyTransport]) -> None:
    services, transport = faulty
    transport.inject("batch", "lost_answer", times=1)
    result = services.commands.add_car(VOLVO)
    assert result.version == 1
    assert versions(services, result.car_id) == [1]


def test_lost_answers_that_persist_fail_with_store_unavailable_after_bounded_attempts(
    faulty: tuple[Services, FaultyTransport],
) -> None:
    services, transport = faulty
    car_id = services.commands.add_car(VOLVO).car_id
    transport.inject("batch", "lost_answer", times=-1)
    transport.inject("read", "reset", times=-1)
    with pytest.raises(StoreUnavailable):
        services.commands.execute(car_id, ChangeOil(mileage=1, charge=1))
    transport.clear()
    # The first batch may have landed; whatever happened, it happened at most once.
    assert versions(services, car_id) in ([1], [1, 2])
