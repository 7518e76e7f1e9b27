"""Round trips of the car list on the Cosmos adapter, counted at the SDK's HTTP transport.

These are the costs the design promises: a list page is two queries whatever the
number of cars, plus one point read per write the projection has not caught up
with; a projector batch costs at most one query and one batch per shard it touches, plus one
write of the projection's status document when the batch's newest `_ts` is newer than the last
one recorded (at most one such write per batch, so at most one per second of `_ts` on Cosmos DB).
"""

from __future__ import annotations

from cartracker.bootstrap import Services, bootstrap
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.ports import Document
from cartracker.projection.car_list import row_partition
from tests.conftest import CosmosEnv

VOLVO = AddCar(make="Volvo", model="V70", owner="Alice")


def warm(cosmos: CosmosEnv) -> Services:
    """Services whose client has read its one-time metadata (account, containers)."""
    services = bootstrap(cosmos.settings, cosmos_client=cosmos.client)
    car = services.commands.add_car(VOLVO)
    services.projector.apply([*services.events.read_events(car.car_id)])
    services.car_list.page(after=[car.consistency_token])
    return services


def test_a_list_page_is_two_queries_plus_one_read_per_lagging_token(cosmos: CosmosEnv) -> None:
    services = warm(cosmos)
    projected = [services.commands.add_car(VOLVO) for _ in range(3)]
    services.projector.apply([d for r in projected for d in services.events.read_events(r.car_id)])

    cosmos.transport.reset()
    page = services.car_list.page(page_size=2)
    assert cosmos.transport.kinds(skip_account=True) == ["query", "query"], "rows + subtotals"
    assert page.continuation_token is not None

    cosmos.transport.reset()
    services.car_list.page(page_size=2, continuation_token=page.continuation_token)
    assert cosmos.transport.kinds(skip_account=True) == ["query", "query"], "a later page costs the same"

    lagging = [services.commands.add_car(VOLVO) for _ in range(2)]
    caught_up = projected[0]
    cosmos.transport.reset()
    page = services.car_list.page(after=[r.consistency_token for r in [*lagging, caught_up]])
    kinds = cosmos.transport.kinds(skip_account=True)
    assert sorted(kinds) == ["query", "query", "read", "read"], "one head read per lagging token only"
    assert page.freshness == "predicted"


def docs_of(services: Services, car_ids: list[str], *, after_version: int = 0) -> list[Document]:
    return [d for car_id in car_ids for d in services.events.read_events(car_id, after_version=after_version)]


def test_a_batch_of_100_documents_costs_at_most_two_round_trips_per_shard_touched_once_shards_exist(
    cosmos: CosmosEnv,
) -> None:
    services = warm(cosmos)
    assert services.settings.list_shards == 16
    cars = [services.commands.add_car(VOLVO).car_id for _ in range(100)]
    batch = docs_of(services, cars)
    assert len(batch) == 100
    shards_touched = len({row_partition(car_id, 16) for car_id in cars})

    cosmos.transport.reset()
    report = services.projector.apply(batch)
    kinds = cosmos.transport.kinds(skip_account=True)
    print(f"\n100 new cars over {shards_touched} shards: {len(kinds)} round trips {sorted(set(kinds))}")
    assert report.rows_written == 100
    assert kinds.count("query") == shards_touched
    assert kinds.count("batch") == shards_touched
    # Once in a shard's life, its first rows create its (zero) subtotal; from then on it is added to.
    creates = kinds.count("create")
    assert creates <= shards_touched + 1, "a zero subtotal per new shard, and the status document"
    assert kinds.count("replace") <= 1, "the status document, if this batch's `_ts` moved it"
    assert len(kinds) <= 3 * shards_touched + 1

    # The next changes arrive as the feed delivers them: each event with its car's head.
    for mileage, car_id in enumerate(cars[:50]):
        services.commands.execute(car_id, ChangeOil(mileage=mileage, charge="1.50"))
    mixed: list[Document] = []
    for car_id in cars[:50]:
        head = services.events.read_head(car_id)
        assert head is not None
        mixed.extend([*docs_of(services, [car_id], after_version=1), head.doc])
    assert len(mixed) == 100
    touched = len({row_partition(car_id, 16) for car_id in cars[:50]})
    cosmos.transport.reset()
    services.projector.apply(mixed)
    kinds = cosmos.transport.kinds(skip_account=True)
    assert "create" not in kinds, "the subtotals exist now"
    assert len(kinds) <= 2 * touched + 1

    cosmos.transport.reset()
    assert services.projector.apply(mixed).rows_written == 0
    assert cosmos.transport.kinds(skip_account=True) == ["query"] * touched, "a redelivery only reads"
    assert services.car_list.page().total_charges_cents == 50 * 150
