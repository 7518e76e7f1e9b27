"""Retrying parked changes: the car is re-projected from its head through the projection's engine,
the entry goes on success, and a retry is safe to repeat and safe beside the live projector."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from cartracker.bootstrap import Services, bootstrap
from cartracker.domain.commands import AddCar, ChangeOil, ReplaceTires
from cartracker.functions.projections import list_parked, retry_parked, retry_projection_parked
from cartracker.ports import Document
from cartracker.projection.car_list import CAR_LIST, row_partition
from cartracker.projection.documents import parked_document
from cartracker.projection.engine import Projector
from cartracker.projection.parked import ParkedChanges
from cartracker.projection.ports import ShardState
from tests.conftest import CosmosEnv
from tests.support.functions import body_of, call, fields_of, installed, problem_of
from tests.support.projection import projection_from_scratch, projection_stored

VOLVO = AddCar(make="Volvo", model="V70", owner="Ann")
NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def app(services: Services) -> Iterator[Services]:
    with installed(services):
        yield services


def park_history(services: Services, car_id: str, projection: str = CAR_LIST.name) -> list[str]:
    """Park every event of the car, as a projector whose writes kept failing does; the parked ids."""
    docs = services.events.read_events(car_id)
    for doc in docs:
        services.views.park(
            parked_document(doc, "write kept failing after retries", NOW, projection=projection)
        )
    return [parked_document(doc, "", NOW, projection=projection)["id"] for doc in docs]


def parked_ids(projection: str | None = None) -> set[str]:
    params = {} if projection is None else {"projection": projection}
    return {item["id"] for item in body_of(call(list_parked, "GET", "manage/parked", params=params))["items"]}


def retry(doc_id: str) -> Any:
    return call(retry_parked, "POST", f"manage/parked/{doc_id}/retry", route_params={"id": doc_id})


def retry_all(name: str) -> Any:
    path = f"manage/projections/{name}/parked/retry"
    return call(retry_projection_parked, "POST", path, route_params={"name": name})


def test_a_retry_projects_the_car_from_its_head_and_removes_the_entry(app: Services) -> None:
    car_id = app.commands.add_car(VOLVO).car_id
    app.commands.execute(car_id, ChangeOil(mileage=100, charge="49.99"))
    first, second = park_history(app, car_id)
    assert projection_stored(app, CAR_LIST) == {}, "nothing was projected"

    response = retry(second)

    assert response.status_code == 200
    assert body_of(response) == {
        "id": second,
        "projection": "car-list",
        "carId": car_id,
        "cleared": True,
        "reason": None,
    }
    assert projection_stored(app, CAR_LIST) == projection_from_scratch(app, CAR_LIST, [car_id])
    assert parked_ids() == {first}
    assert body_of(retry(first))["cleared"] is True, "the row covers it already: cleared all the same"
    assert parked_ids() == set()
    assert projection_stored(app, CAR_LIST) == projection_from_scratch(app, CAR_LIST, [car_id])


def test_an_unknown_or_already_cleared_id_is_a_404_problem(app: Services) -> None:
    car_id = app.commands.add_car(VOLVO).car_id
    [doc_id] = park_history(app, car_id)
    assert body_of(retry(doc_id))["cleared"] is True

    for unknown in (doc_id, "parked:car-list:nope"):
        problem = problem_of(retry(unknown), 404)
        assert fields_of(problem) == {"id"}
        assert problem["type"].endswith("unknown-parked-change")


def test_a_car_that_cannot_be_re_projected_stays_parked_with_the_reason(app: Services) -> None:
    ghost = {"id": "ghost:0000000001", "aggregateId": "ghost", "version": 1, "docType": "event"}
    entry = parked_document(ghost, "unknown event type", NOW, projection=CAR_LIST.name)
    app.views.park(entry)

    body = body_of(retry(entry["id"]))

    assert (body["cleared"], body["reason"]) == (False, "car ghost has no head and no events")
    assert parked_ids() == {entry["id"]}


def test_retry_all_clears_one_projections_entries_and_leaves_the_others(app: Services) -> None:
    cars = [app.commands.add_car(VOLVO).car_id for _ in range(5)]
    for car_id in cars:
        app.commands.execute(car_id, ReplaceTires(numberOfTiresReplaced=2, charge="120.00"))
    car_list_entries = {i for car_id in cars for i in park_history(app, car_id)}
    other = next(name for name in app.projectors if name != CAR_LIST.name)
    others = set(park_history(app, cars[0], projection=other))

    response = retry_all(CAR_LIST.name)

    assert response.status_code == 200
    assert body_of(response) == {"projection": "car-list", "retried": 10, "cleared": 10, "remaining": 0}
    assert projection_stored(app, CAR_LIST) == projection_from_scratch(app, CAR_LIST, cars)
    assert parked_ids(CAR_LIST.name) == set()
    assert car_list_entries.isdisjoint(parked_ids())
    assert parked_ids(other) == others
    again = body_of(retry_all(CAR_LIST.name))
    assert again == {"projection": "car-list", "retried": 0, "cleared": 0, "remaining": 0}, "idempotent"

    problem = problem_of(retry_all("nope"), 404)
    assert fields_of(problem) == {"name"}


class LiveProjectorInTheWay:
    """The retry's `ViewStore`: right after the retry's first read of a shard, a command lands on
    the car and the live projector projects it -- between the retry's read and its write."""

    def __init__(self, services: Services, car_id: str) -> None:
        self.services = services
        self.views = services.views
        self.car_id = car_id
        self.interfered = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.views, name)

    def read_shard(self, partition_key: str, car_ids: Sequence[str]) -> ShardState:
        state = self.views.read_shard(partition_key, car_ids)
        if not self.interfered and self.car_id in car_ids:
            self.interfered += 1
            before = self.services.queries.car(self.car_id).version
            self.services.commands.execute(self.car_id, ChangeOil(mileage=900, charge="5.00"))
            live = self.services.projectors[CAR_LIST.name]
            live.apply(self.services.events.read_events(self.car_id, after_version=before - 1))
        return state


@pytest.mark.parametrize("row_projected_before", [False, True])
def test_a_retry_beside_the_live_projector_loses_nothing(app: Services, row_projected_before: bool) -> None:
    car_id = app.commands.add_car(VOLVO).car_id
    app.commands.execute(car_id, ChangeOil(mileage=100, charge="10.00"))
    if row_projected_before:
        app.projectors[CAR_LIST.name].apply(app.events.read_events(car_id, limit=1))  # row at v1
    entries = park_history(app, car_id)
    in_the_way = LiveProjectorInTheWay(app, car_id)
    projector = Projector(
        CAR_LIST, in_the_way, app.events, shards=app.settings.list_shards, clock=lambda: NOW
    )
    retrying = ParkedChanges(in_the_way, {CAR_LIST.name: projector})

    summary = retrying.retry_all(CAR_LIST.name)

    assert in_the_way.interfered == 1
    assert (summary.cleared, summary.remaining) == (len(entries), 0)
    assert app.queries.car(car_id).version == 3
    stored = projection_stored(app, CAR_LIST)
    assert stored == projection_from_scratch(app, CAR_LIST, [car_id]), "the newest row, totals exact"
    assert parked_ids() == set()


def test_an_entry_parked_again_while_it_was_retried_stays(app: Services) -> None:
    car_id = app.commands.add_car(VOLVO).car_id
    [doc_id] = park_history(app, car_id)
    reparked: list[Document] = []

    class ParkedAgain:
        def __getattr__(self, name: str) -> Any:
            return getattr(app.views, name)

        def unpark(self, doc_id: str, etag: str) -> bool:
            entry = app.views.read_parked_change(doc_id)
            assert entry is not None
            app.views.park({**entry.doc, "reason": "a newer failure"})  # the live projector, meanwhile
            reparked.append(entry.doc)
            return app.views.unpark(doc_id, etag)

    retrying = ParkedChanges(ParkedAgain(), app.projectors)
    outcome = retrying.retry(doc_id)

    assert outcome is not None
    assert reparked
    assert (outcome.cleared, outcome.reason) == (
        False,
        "parked again while it was retried: retry it once more",
    )
    assert parked_ids() == {doc_id}


def test_retrying_a_page_of_parked_changes_costs_a_read_per_car_and_two_per_shard(cosmos: CosmosEnv) -> None:
    # Counted at the SDK transport on the Cosmos test server: the page of entries (one query), one
    # head read per car, per shard touched one query and one batch, then one delete per entry.
    services = bootstrap(cosmos.settings, cosmos_client=cosmos.client)
    cars = [services.commands.add_car(VOLVO).car_id for _ in range(4)]
    services.commands.execute(cars[0], ChangeOil(mileage=5, charge="1.00"))
    entries = [entry for car_id in cars for entry in park_history(services, car_id)]
    shards = {row_partition(car_id, services.settings.list_shards) for car_id in cars}
    cosmos.transport.reset()
    summary = ParkedChanges(services.views, services.projectors).retry_all(CAR_LIST.name)
    assert (summary.retried, summary.cleared) == (len(entries), len(entries))
    kinds = cosmos.transport.kinds(skip_account=True)
    print(f"\nparked retry of {len(entries)} entries over {len(cars)} cars, {len(shards)} shards: {kinds}")
    assert kinds.count("read") == len(cars)
    assert kinds.count("query") == 1 + len(shards)
    assert kinds.count("batch") == len(shards)
    assert kinds.count("delete") == len(entries)
    # The views were empty: each shard's first rows create its zero subtotal, once in its life.
    assert kinds.count("create") == len(shards)
    assert len(kinds) == 1 + len(cars) + 3 * len(shards) + len(entries)
