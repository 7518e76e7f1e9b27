"""The original's data-access pattern (bench/original.py) costs what its choices imply, and loses updates.

The bench prints these counts beside CarTracker's (docs/performance.md, "The original's
pattern"); this test keeps them from drifting. A new client per repository call sends the
account read, the SDK's health check and a read of the container's properties before its one
request; CarTracker's one client sends one batch for a warm command.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.original import (
    ClientLog,
    OriginalPattern,
    Repository,
    empty_all_cars,
    original_database,
    with_events,
)
from cartracker.bootstrap import bootstrap
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.errors import BusinessRuleViolated
from cartracker.heads import HeadCache, load_head
from cartracker.service.commands import CommandService
from tests.conftest import CosmosEnv
from tests.support.cosmos import CosmosServer, CountingTransport, make_client

VOLVO = AddCar(make="Volvo", model="V70", owner="Alice")
NEW_CLIENT = ["account", "account", "metadata"]  # account read, health check, container properties


def oil_change(mileage: int) -> ChangeOil:
    return ChangeOil.model_validate({"mileage": mileage, "charge": "49.99"})


@pytest.fixture
def original(cosmos_server: CosmosServer) -> Iterator[tuple[OriginalPattern, ClientLog]]:
    log = ClientLog()
    with original_database(cosmos_server) as name:
        yield OriginalPattern(Repository(cosmos_server.endpoint, name, log.transport)), log


def test_the_original_pays_a_new_client_for_every_repository_call(
    original: tuple[OriginalPattern, ClientLog], cosmos: CosmosEnv, cosmos_server: CosmosServer
) -> None:
    app, log = original
    car, docs = app.add_car(VOLVO)
    app.project(docs)

    log.reset()
    car, docs = app.execute(car.car_id, oil_change(1_000))
    assert log.kinds() == [*NEW_CLIENT, "query", *NEW_CLIENT, "create", *NEW_CLIENT, "upsert"], (
        "command: load the events, create the event, upsert the car's view"
    )
    log.reset()
    app.project(docs)
    assert log.kinds() == [*NEW_CLIENT, "read", *NEW_CLIENT, "upsert"], "its list update: the one document"
    log.reset()
    app.list_cars()
    assert log.kinds() == [*NEW_CLIENT, "read"], "list read: the all-cars document"
    log.reset()
    app.list_cars_predicted()
    assert log.kinds() == [*NEW_CLIENT, "read", *NEW_CLIENT, "query"], "predictions: one query over every car"

    transport = CountingTransport()
    services = bootstrap(cosmos.settings, cosmos_client=make_client(cosmos_server.endpoint, transport))
    car_id = services.commands.add_car(VOLVO).car_id  # also reads the container's properties, once
    transport.reset()
    services.commands.execute(car_id, oil_change(1_000))
    assert transport.kinds(skip_account=True) == ["batch"], "CarTracker, warm: one batch"


def test_the_original_accepts_two_commands_decided_on_the_same_state(
    original: tuple[OriginalPattern, ClientLog], cosmos: CosmosEnv
) -> None:
    app, _ = original
    car_id = app.add_car(VOLVO)[0].car_id
    app.execute(car_id, oil_change(3_000))
    first, second = app.load(car_id), app.load(car_id)  # two web instances, one car
    app.save(first, oil_change(5_000), car_id=car_id)
    app.save(second, oil_change(4_000), car_id=car_id)  # decided on 3,000: nothing refuses it
    mileages = [doc["data"].get("mileage") for doc in app.repository.read_events(car_id)]
    assert mileages == [None, 3_000, 5_000, 4_000], "a mileage below the last recorded one was stored"

    # CarTracker, the same interleaving: the stale instance's batch is refused, re-decided and rejected.
    services = bootstrap(cosmos.settings, cosmos_client=cosmos.client)
    car_id = services.commands.add_car(VOLVO).car_id
    services.commands.execute(car_id, oil_change(3_000))
    stale = HeadCache()
    head = load_head(services.events, car_id)
    assert head is not None
    stale.put(head)
    services.commands.execute(car_id, oil_change(5_000))
    with pytest.raises(BusinessRuleViolated):
        CommandService(services.events, cache=stale).execute(car_id, oil_change(4_000))


def test_two_overlapping_updates_of_the_all_cars_document_lose_one_car(
    original: tuple[OriginalPattern, ClientLog],
) -> None:
    app, _ = original
    (first, first_docs), (second, second_docs) = app.add_car(VOLVO), app.add_car(VOLVO)
    # Two change-feed function instances each read the document before the other wrote it back.
    seen_by_one = app.repository.read_all_cars() or empty_all_cars()
    seen_by_other = app.repository.read_all_cars() or empty_all_cars()
    app.repository.upsert_all_cars(with_events(seen_by_one, first_docs))
    app.repository.upsert_all_cars(with_events(seen_by_other, second_docs))
    assert [entry["carId"] for entry in app.list_cars()] == [second.car_id], f"{first.car_id} is lost"
