"""Round trips of service-due on the Cosmos adapter, counted at the SDK's HTTP transport: the same
shared projector as the car list, so the same figures -- at most one query and one batch per shard a
batch touches -- and a page of the query is one query whatever the number of cars."""

from __future__ import annotations

from cartracker.bootstrap import Services, bootstrap
from cartracker.domain.commands import AddCar, InspectBrakes
from cartracker.ports import Document
from cartracker.projection.service_due import SERVICE_DUE
from tests.conftest import CosmosEnv

VOLVO = AddCar(make="Volvo", model="V70", owner="Alice")
# Documents from the feed carry `_ts`: after a batch whose newest `_ts` is later than the last one
# recorded, the projector also moves its status document on (cartracker.projection.status).
STATUS_WRITE = 1


def warm(cosmos: CosmosEnv) -> Services:
    """Services whose client has read its one-time metadata (account, containers)."""
    services = bootstrap(cosmos.settings, cosmos_client=cosmos.client)
    car = services.commands.add_car(VOLVO)
    services.projectors[SERVICE_DUE.name].apply([*services.events.read_events(car.car_id)])
    services.service_due.page()
    return services


def docs_of(services: Services, car_ids: list[str], *, after_version: int = 0) -> list[Document]:
    return [d for car_id in car_ids for d in services.events.read_events(car_id, after_version=after_version)]


def test_a_service_due_batch_of_100_documents_costs_at_most_two_round_trips_per_shard_touched(
    cosmos: CosmosEnv,
) -> None:
    services = warm(cosmos)
    projector = services.projectors[SERVICE_DUE.name]
    shards = services.settings.list_shards
    cars = [services.commands.add_car(VOLVO).car_id for _ in range(100)]
    batch = docs_of(services, cars)
    assert len(batch) == 100
    shards_touched = len({SERVICE_DUE.partition_of(car_id, shards) for car_id in cars})

    cosmos.transport.reset()
    report = projector.apply(batch)
    kinds = cosmos.transport.kinds(skip_account=True)
    print(f"\nservice-due, 100 new cars over {shards_touched} shards: {len(kinds)} round trips")
    assert report.rows_written == 100
    assert kinds.count("query") == shards_touched
    assert kinds.count("batch") == shards_touched
    assert len(kinds) <= 2 * shards_touched + STATUS_WRITE

    # Then inspections that make half of them due, as the feed delivers them: each event with its head.
    for car_id in cars[:50]:
        services.commands.execute(car_id, InspectBrakes(mileage=5_000, remainingPad=10))
    mixed: list[Document] = []
    for car_id in cars[:50]:
        head = services.events.read_head(car_id)
        assert head is not None
        mixed.extend([*docs_of(services, [car_id], after_version=1), head.doc])
    assert len(mixed) == 100
    touched = len({SERVICE_DUE.partition_of(car_id, shards) for car_id in cars[:50]})
    cosmos.transport.reset()
    projector.apply(mixed)
    kinds = cosmos.transport.kinds(skip_account=True)
    assert len([kind for kind in kinds if kind in ("query", "batch")]) <= 2 * touched
    assert len(kinds) <= 2 * touched + STATUS_WRITE

    cosmos.transport.reset()
    assert projector.apply(mixed).rows_written == 0
    assert cosmos.transport.kinds(skip_account=True) == ["query"] * touched, "a redelivery only reads"

    cosmos.transport.reset()
    page = services.service_due.page(page_size=20)
    assert cosmos.transport.kinds(skip_account=True) == ["query"], "a page is one query"
    assert len(page.items) == 20
    assert page.continuation_token is not None
    assert {(d.service, d.reason) for item in page.items for d in item.due} == {
        ("oil-change", "mileage"),
        ("brakes", "brake-pad"),
    }
