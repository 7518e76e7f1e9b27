"""A store that held cars before service-due ran gets the complete view from the feed replayed from its
beginning, and from a rebuild: on SQLite through the local host's pump from a fresh checkpoint, on the
Cosmos test server (which has no change feed) by driving the projector with the documents read back.

Some heads are left as an older version of the app wrote them (head schema 1): the replay must skip
them, not park them, and fold the events beside them instead.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cartracker.adapters.sqlite_views import SqliteViewStore
from cartracker.bootstrap import Services, bootstrap
from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, Command, InspectBrakes, ReplaceTires
from cartracker.heads import fold_history
from cartracker.localhost.changefeed import ChangeFeedFunction, ChangeFeedPump
from cartracker.localhost.index import app_index
from cartracker.ports import Document
from cartracker.projection.service_due import SERVICE_DUE, row_from_car
from cartracker.rebuild.local import run_rebuild
from cartracker.rebuild.orchestrator import RebuildInput
from cartracker.service.service_due import ServiceDueQueries
from tests.conftest import CosmosEnv
from tests.support.functions import installed
from tests.support.projection import SteppingClock, World, projection_from_scratch, projection_stored

CARS = 200
OLD_HEADS = 20
HOURS_7 = 7 * 3600 * 1_000_000  # microseconds per clock reading: the histories span months


def write_history(services: Services, cars: int, *, seed: int = 13) -> list[str]:
    """Cars with a few services each, some overdue by miles, by pads or (later) by time."""
    rng = random.Random(seed)
    car_ids = []
    for n in range(cars):
        car_id = services.commands.add_car(AddCar(make="Volvo", model="V70", owner=f"Owner {n}")).car_id
        mileage = 0
        for step in range(rng.randint(0, 5)):
            mileage += rng.choice([0, 800, 2_400, 4_999, 5_000, 7_500])
            command: Command = rng.choice(
                [
                    ChangeOil(mileage=mileage, charge="49.99"),
                    InspectBrakes(mileage=mileage, remainingPad=rng.choice([5, 20, 21, 60])),
                    ReplaceTires(numberOfTiresReplaced=2, charge="300"),
                    ChangeOwner(newOwner=f"Owner {n}.{step}"),
                ]
            )
            services.commands.execute(car_id, command)
        car_ids.append(car_id)
    return sorted(car_ids)


def leave_heads_as_version_1_wrote_them(services: Services, car_ids: Sequence[str]) -> None:
    for car_id in car_ids:
        stored = services.events.read_head(car_id)
        assert stored is not None
        state = {k: v for k, v in stored.doc["state"].items() if k not in _NEW_IN_HEAD_2}
        old = {k: v for k, v in stored.doc.items() if not k.startswith("_")}
        services.events.append(car_id, [], {**old, "schemaVersion": 1, "state": state}, head_etag=stored.etag)


_NEW_IN_HEAD_2 = ("lastOilChange", "oilDueByMileageSince", "brakesDueSince")


def assert_complete(services: Services, car_ids: Sequence[str]) -> None:
    assert projection_stored(services, SERVICE_DUE) == projection_from_scratch(services, SERVICE_DUE, car_ids)
    assert services.views.list_parked(limit=10, projection=SERVICE_DUE.name) == []
    # And the query answers from it: every car due at that moment, most overdue first.
    now = datetime(2027, 1, 1, tzinfo=UTC)
    rows = []
    for car_id in car_ids:
        car = fold_history(services.events, car_id)
        assert car is not None
        rows.append(row_from_car(car))
    due = sorted((row for row in rows if row.due(now)), key=lambda row: row.due_key)
    page = ServiceDueQueries(services.views, clock=lambda: now).page(page_size=200)
    assert [(item.row, item.due) for item in page.items] == [(row, row.due(now)) for row in due]
    assert 0 < len(due) < len(car_ids)


def pump_of(function_name: str, world: World) -> ChangeFeedPump:
    [function] = [f for f in app_index().change_feed if f.get_function_name() == function_name]
    return ChangeFeedPump(ChangeFeedFunction.from_function(function, env={}), world.db)


def drain(pump: ChangeFeedPump) -> None:
    while pump.run_once():
        pass


def test_service_due_replays_old_history_from_the_start_of_the_local_feed(tmp_path: Path) -> None:
    world = World.create(tmp_path, shards=16, clock=SteppingClock([HOURS_7]))
    with installed(world.services):
        car_ids = write_history(world.services, CARS)
        leave_heads_as_version_1_wrote_them(world.services, car_ids[:OLD_HEADS])
        drain(pump_of("project_car_list", world))  # the car list has been running all along
        assert projection_stored(world.services, SERVICE_DUE) == {}

        service_due = pump_of("project_service_due", world)
        assert service_due.position == 0, "a new projection's checkpoint starts at the feed's beginning"
        drain(service_due)

    assert_complete(world.services, car_ids)
    world.assert_exact()  # the car list is untouched by the newcomer


def test_a_rebuild_by_name_derives_service_due_from_the_heads(tmp_path: Path) -> None:
    world = World.create(tmp_path, shards=16, clock=SteppingClock([HOURS_7]))
    car_ids = write_history(world.services, CARS)
    leave_heads_as_version_1_wrote_them(world.services, car_ids[:OLD_HEADS])
    fresh = dataclasses.replace(world.services, views=SqliteViewStore(world.db, container="views-rebuilt"))

    summary = run_rebuild(fresh, RebuildInput(projection=SERVICE_DUE.name, shards=16))

    assert (summary["view"], summary["carsSeen"], summary["rowsRepaired"]) == (SERVICE_DUE.name, CARS, CARS)
    assert_complete(fresh, car_ids)


def feed_documents(services: Services, car_ids: Sequence[str]) -> list[Document]:
    """What a change feed read from the beginning holds: per car its events, then its latest head."""
    docs: list[Document] = []
    for car_id in car_ids:
        docs.extend(services.events.read_events(car_id, limit=10_000))
        head = services.events.read_head(car_id)
        assert head is not None
        docs.append(head.doc)
    return docs


def test_service_due_replays_old_history_on_the_cosmos_test_server(cosmos: CosmosEnv) -> None:
    services = bootstrap(cosmos.settings, cosmos_client=cosmos.client, clock=SteppingClock([HOURS_7]))
    car_ids = write_history(services, CARS)
    leave_heads_as_version_1_wrote_them(services, car_ids[:OLD_HEADS])
    docs = feed_documents(services, car_ids)
    # Feed order is per car only: interleave the cars, as leases over several partitions would.
    rng = random.Random(7)
    per_car = {car_id: [d for d in docs if d["aggregateId"] == car_id] for car_id in car_ids}
    interleaved: list[Document] = []
    while per_car:
        car_id = rng.choice(sorted(per_car))
        interleaved.append(per_car[car_id].pop(0))
        if not per_car[car_id]:
            del per_car[car_id]

    projector = services.projectors[SERVICE_DUE.name]
    for start in range(0, len(interleaved), 100):
        projector.apply(interleaved[start : start + 100])

    assert_complete(services, car_ids)
