"""The rebuild repairs the car list on each store, in place, beside the live projector.

Every test compares the views with a from-scratch fold of every car's events,
exactly: each row document, each shard subtotal, nothing more.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cartracker.__main__ import main
from cartracker.adapters.sqlite_db import SqliteDatabase
from cartracker.bootstrap import Services, bootstrap
from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, ReplaceTires
from cartracker.errors import BusinessRuleViolated, ConcurrencyConflict, StoreUnavailable
from cartracker.ports import Document
from cartracker.projection.car_list import row_partition, shard_partition, subtotal_document
from cartracker.projection.documents import parked_document, without_system_fields
from cartracker.projection.ports import RowWrite, ShardState
from cartracker.rebuild import activities
from cartracker.rebuild.local import run_rebuild
from cartracker.rebuild.orchestrator import REBUILD_ROWS, RebuildFailed, RebuildInput
from cartracker.settings import EVENTS_CONTAINER
from tests.conftest import CosmosEnv, sqlite_settings
from tests.support.projection import Views, stored_views, views_from_scratch

# --- the truth, and what the store holds ------------------------------------------------------------


def all_car_ids(services: Services) -> list[str]:
    car_ids: list[str] = []
    continuation = None
    while True:
        heads, continuation = services.events.read_heads(limit=50, continuation=continuation)
        car_ids.extend(head["aggregateId"] for head in heads)
        if continuation is None:
            return car_ids


def from_scratch(services: Services) -> Views:
    return views_from_scratch(services, all_car_ids(services))


def parked(services: Services) -> list[Document]:
    return [item.doc for item in services.views.read_parked(after=None, limit=1000)]


def project_everything(services: Services) -> None:
    """Feed every event of every car to the projector, as if the change feed had delivered it."""
    changes = [
        doc for car_id in all_car_ids(services) for doc in services.events.read_events(car_id, limit=1000)
    ]
    services.projector.apply(changes)


def rebuild(services: Services, **options: Any) -> dict[str, Any]:
    options.setdefault("page_size", 5)
    options.setdefault("chunk_size", 2)
    options.setdefault("pages_per_generation", 2)  # continue-as-new along the way, as in Azure
    return run_rebuild(
        services, RebuildInput(projection="car-list", shards=services.settings.list_shards, **options)
    )


def add_cars(services: Services, count: int) -> list[str]:
    car_ids = []
    for i in range(count):
        car_id = services.commands.add_car(AddCar(make="Volvo", model=f"V{i}", owner=f"Owner {i}")).car_id
        services.commands.execute(car_id, ChangeOil(mileage=1000 * i, charge=f"{i}.25"))
        car_ids.append(car_id)
    return car_ids


# --- damage, made through the port the way a buggy projector or a stray script could --------------


def shard_state(services: Services, car_id: str) -> tuple[str, Any]:
    partition_key = row_partition(car_id, services.settings.list_shards)
    return partition_key, services.views.read_whole_shard(partition_key)


def corrupt_subtotal(services: Services, car_id: str) -> str:
    partition_key, state = shard_state(services, car_id)
    doc = state.subtotal.doc
    wrong = subtotal_document(partition_key, doc["totalChargesCents"] + 999, doc["carCount"] + 1)
    services.views.write_shard(partition_key, [], wrong, subtotal_etag=state.subtotal.etag)
    return partition_key


def delete_row(services: Services, car_id: str) -> str:
    """The row goes, the subtotal still counts it."""
    partition_key, state = shard_state(services, car_id)
    services.views.write_shard(
        partition_key,
        [],
        without_system_fields(state.subtotal.doc),
        subtotal_etag=state.subtotal.etag,
        delete_rows=[(car_id, state.rows[car_id].etag)],
    )
    return partition_key


def damage_row(services: Services, car_id: str) -> str:
    """Same version, wrong content; the subtotal does not know."""
    partition_key, state = shard_state(services, car_id)
    row = state.rows[car_id]
    damaged = {**without_system_fields(row.doc), "owner": "Mallory", "totalChargesCents": 1}
    services.views.write_shard(
        partition_key,
        [RowWrite(damaged, row.etag)],
        without_system_fields(state.subtotal.doc),
        subtotal_etag=state.subtotal.etag,
    )
    return partition_key


def add_row(services: Services, template: str, *, as_car: str, partition_key: str) -> None:
    """A row (counted in its subtotal) for `as_car`, copied from `template`'s, in `partition_key`."""
    _, source = shard_state(services, template)
    doc = {**without_system_fields(source.rows[template].doc), "id": as_car, "carId": as_car}
    doc["partitionKey"] = partition_key
    state = services.views.read_whole_shard(partition_key)
    cents, count = doc["totalChargesCents"], 1
    if state.subtotal is not None:
        cents += state.subtotal.doc["totalChargesCents"]
        count += state.subtotal.doc["carCount"]
    services.views.write_shard(
        partition_key,
        [RowWrite(doc, None)],
        subtotal_document(partition_key, cents, count),
        subtotal_etag=None if state.subtotal is None else state.subtotal.etag,
    )


def park_event(services: Services, car_id: str, version: int) -> None:
    [event] = services.events.read_events(car_id, after_version=version - 1, limit=1)
    services.views.park(parked_document(event, "a projector bug", datetime.now(UTC), projection="car-list"))


# --- repairs on both stores ------------------------------------------------------------------------


def test_a_rebuild_makes_a_damaged_list_exact_again(services: Services) -> None:
    cars = add_cars(services, 12)
    project_everything(services)
    assert stored_views(services) == from_scratch(services)
    lagging = cars[6]
    services.commands.execute(lagging, ChangeOwner(newOwner="Bob"))  # never projected: the row falls behind
    corrupted = corrupt_subtotal(services, cars[0])
    deleted = delete_row(services, cars[1])
    damaged = damage_row(services, cars[2])
    ghost = str(uuid.uuid4())  # a car that never existed
    add_row(
        services, cars[3], as_car=ghost, partition_key=row_partition(ghost, services.settings.list_shards)
    )
    own = row_partition(cars[4], services.settings.list_shards)
    elsewhere = next(
        shard_partition(s) for s in range(services.settings.list_shards) if shard_partition(s) != own
    )
    add_row(services, cars[4], as_car=cars[4], partition_key=elsewhere)  # a row outside its car's shard
    park_event(services, cars[5], version=2)
    junk = {"id": "junk", "docType": "mystery"}
    services.views.park(parked_document(junk, "no car", datetime.now(UTC), projection="car-list"))
    assert stored_views(services) != from_scratch(services)

    summary = rebuild(services)

    assert stored_views(services) == from_scratch(services)
    assert [p["documentId"] for p in parked(services)] == ["junk"]  # a document of no car: not repairable
    assert summary == {
        "view": "car-list",
        "pages": 3,
        "carsSeen": 12,
        "carsSkipped": 0,
        "rowsRepaired": 3,  # deleted, damaged, lagging
        "rowsRemoved": 2,  # the ghost's row, and the row outside its shard
        "subtotalsCorrected": len({corrupted, deleted, damaged}),
        "shards": services.settings.list_shards,
        "parkedCleared": 1,
        "parkedRemaining": 1,
    }
    page = services.car_list.page(page_size=50)
    assert page.car_count == 12
    assert page.total_charges_cents == sum(services.queries.car(c).total_charges_cents for c in cars)


def test_a_second_rebuild_finds_nothing_to_repair(services: Services) -> None:
    add_cars(services, 7)
    project_everything(services)
    first = rebuild(services)
    before = stored_views(services)
    second = rebuild(services)
    assert stored_views(services) == before == from_scratch(services)
    assert (first["rowsRepaired"], second["rowsRepaired"]) == (0, 0)
    assert (second["rowsRemoved"], second["subtotalsCorrected"], second["parkedCleared"]) == (0, 0, 0)


def test_a_rebuild_builds_the_list_from_nothing(services: Services) -> None:
    add_cars(services, 5)
    summary = rebuild(services, page_size=2)
    assert stored_views(services) == from_scratch(services)
    assert (summary["pages"], summary["rowsRepaired"], summary["subtotalsCorrected"]) == (3, 5, 0)


def test_the_list_is_never_emptier_or_inconsistent_at_any_step_of_a_rebuild(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    cars = add_cars(services, 9)
    project_everything(services)
    for car_id in cars[::2]:  # rows fall behind
        services.commands.execute(car_id, ReplaceTires(numberOfTiresReplaced=2, charge="100"))
    newcomer = add_cars(services, 1)  # a car with no row yet
    steps: list[str] = []

    def check(name: str) -> None:
        # Two queries (every row, every subtotal) instead of a read per shard: nothing writes in between.
        rows = services.views.list_rows(before=None, limit=1000)
        assert {row["id"] for row in rows} >= set(cars), f"a row went missing after {name}"
        sums: dict[str, tuple[int, int]] = {}
        for row in rows:
            cents, count = sums.get(row["partitionKey"], (0, 0))
            sums[row["partitionKey"]] = (cents + row["totalChargesCents"], count + 1)
        subtotals = {
            s["partitionKey"]: (s["totalChargesCents"], s["carCount"])
            for s in services.views.read_summary([]).subtotals
            if s["carCount"]
        }
        assert subtotals == sums, f"a subtotal disagrees with its rows after {name}"
        steps.append(name)

    for name, activity in list(activities.ACTIVITIES.items()):
        monkeypatch.setitem(activities.ACTIVITIES, name, _then(activity, lambda n=name: check(n)))
    rebuild(services)
    assert len(steps) > services.settings.list_shards  # every activity was checked
    assert stored_views(services) == from_scratch(services)
    assert newcomer[0] in stored_views(services)[row_partition(newcomer[0], services.settings.list_shards)]


def _then(activity: activities.Activity, after: Callable[[], None]) -> activities.Activity:
    def run(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
        result = activity(services, payload)
        after()
        return result

    return run


class Interfering:
    """The rebuild's `ViewStore`, letting a command and its projection land right after each first read.

    That is the race the etags guard: the projector writes a shard between the rebuild's
    read and the rebuild's write of it. The first of `victims` that the read covers is chosen.
    """

    def __init__(self, services: Services, victims: Sequence[str]) -> None:
        self.services = services
        self.views = services.views
        self.victims = victims
        self.reads: Counter[tuple[str, ...]] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.views, name)

    def read_shard(self, partition_key: str, car_ids: Sequence[str]) -> ShardState:
        state = self.views.read_shard(partition_key, car_ids)
        self._interfere(("read_shard", partition_key, *car_ids), partition_key, list(car_ids))
        return state

    def read_whole_shard(self, partition_key: str) -> ShardState:
        state = self.views.read_whole_shard(partition_key)
        self._interfere(("read_whole_shard", partition_key), partition_key, sorted(state.rows))
        return state

    def _interfere(self, read: tuple[str, ...], partition_key: str, car_ids: list[str]) -> None:
        self.reads[read] += 1
        if self.reads[read] > 1:
            return  # the rebuild's retry of this read goes through
        shards = self.services.settings.list_shards
        real = [
            c
            for c in car_ids
            if row_partition(c, shards) == partition_key and self.services.events.read_head(c)
        ]
        car_id = next((v for v in self.victims if v in real), real[0] if real else None)
        if car_id is None:
            return
        before = self.services.queries.car(car_id).version
        self.services.commands.execute(car_id, ReplaceTires(numberOfTiresReplaced=4, charge="321.09"))
        self.services.projector.apply(self.services.events.read_events(car_id, after_version=before))


def test_projector_writes_between_a_rebuilds_read_and_write_are_never_lost(services: Services) -> None:
    cars = add_cars(services, 8)
    project_everything(services)
    corrupt_subtotal(services, cars[0])
    delete_row(services, cars[1])
    damage_row(services, cars[2])
    for car_id in cars[3:6]:
        services.commands.execute(car_id, ChangeOwner(newOwner="Nobody Projected This"))
    interfering = Interfering(services, victims=[cars[2], cars[1], cars[0], *cars[3:6]])  # damaged first

    rebuild(replace(services, views=interfering))

    assert stored_views(services) == from_scratch(services)
    assert max(interfering.reads.values()) > 1, "some write of the rebuild lost its race and read again"


def test_on_cosmos_a_healthy_list_costs_two_head_reads_per_car_and_two_requests_per_shard(
    cosmos: CosmosEnv,
) -> None:
    services = bootstrap(cosmos.settings, cosmos_client=cosmos.client)
    cars = add_cars(services, 6)
    project_everything(services)
    repair = activities.repair_for(services, {"projection": "car-list"})
    shards = {row_partition(car_id, services.settings.list_shards) for car_id in cars}

    cosmos.transport.reset()
    assert repair.repair_rows(cars).repaired == 0
    assert Counter(cosmos.transport.kinds(skip_account=True)) == {"read": 6, "query": len(shards)}

    cosmos.transport.reset()
    for partition_key in shards:
        assert repair.repair_shard(int(partition_key.split(":")[1])).rows_removed == 0
    # Per shard: the subtotal's point read and the rows' query; per row: its car's head (the stray check).
    assert Counter(cosmos.transport.kinds(skip_account=True)) == {
        "read": len(shards) + 6,
        "query": len(shards),
    }

    cosmos.transport.reset()
    delete_row(services, cars[0])
    cosmos.transport.reset()
    assert repair.repair_rows(cars).repaired == 1
    assert Counter(cosmos.transport.kinds(skip_account=True)) == {"read": 6, "query": len(shards), "batch": 1}


# --- the local runner and the command line (SQLite) ------------------------------------------------


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Services]:
    services = bootstrap(sqlite_settings(tmp_path / "store.sqlite3"))
    yield services
    services.backend.close()


def test_a_transient_activity_failure_is_retried_locally(
    sqlite: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_cars(sqlite, 3)
    failures = iter([StoreUnavailable("Cosmos DB answered 429; try again shortly")])

    def flaky(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
        for failure in failures:
            raise failure
        return activities.rebuild_rows(services, payload)

    monkeypatch.setitem(activities.ACTIVITIES, REBUILD_ROWS, flaky)
    rebuild(sqlite)
    assert stored_views(sqlite) == from_scratch(sqlite)


def test_an_activity_that_keeps_failing_fails_the_local_rebuild_with_its_cause(
    sqlite: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_cars(sqlite, 2)
    attempts: list[int] = []

    def broken(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
        attempts.append(1)
        raise StoreUnavailable("the store stays unreachable")

    monkeypatch.setitem(activities.ACTIVITIES, REBUILD_ROWS, broken)
    with pytest.raises(RebuildFailed, match=r"rows phase.*the store stays unreachable") as failure:
        rebuild(sqlite)
    assert isinstance(failure.value.__cause__, StoreUnavailable)
    assert len(attempts) == 4  # the orchestrator's retry policy


def test_the_command_line_rebuilds_the_store_and_prints_the_summary(
    sqlite: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    add_cars(sqlite, 4)
    assert main(["rebuild", "car-list", "--db", sqlite.settings.sqlite_path, "--page-size", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["view"], summary["pages"], summary["carsSeen"], summary["rowsRepaired"]) == (
        "car-list",
        2,
        4,
        4,
    )
    assert stored_views(sqlite) == from_scratch(sqlite)


def test_the_command_line_refuses_a_store_that_does_not_exist(tmp_path: Path) -> None:
    assert main(["rebuild", "car-list", "--db", str(tmp_path / "nothing.sqlite3")]) == 2
    assert not (tmp_path / "nothing.sqlite3").exists()


# --- beside the live projector (SQLite: it has the change feed) ------------------------------------


def test_a_rebuild_beside_writers_and_the_projector_ends_with_the_from_scratch_fold(
    sqlite: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    cars = add_cars(sqlite, 10)
    position = pump(sqlite, 0)
    corrupt_subtotal(sqlite, cars[0])
    delete_row(sqlite, cars[1])
    damage_row(sqlite, cars[2])
    written = threading.Condition()
    commands = [0]  # commands applied so far, under `written`
    writers_done = threading.Event()
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        mine = add_cars(sqlite, 2)
        for step in range(40):
            car_id = rng.choice(cars + mine)
            mileage = 100_000 + seed * 1000 + step  # a mileage below the car's last one is refused: fine
            try:
                if step % 3 == 0:
                    sqlite.commands.execute(
                        car_id, ChangeOil(mileage=mileage, charge=f"{rng.randint(1, 99)}.01")
                    )
                elif step % 3 == 1:
                    sqlite.commands.execute(car_id, ReplaceTires(numberOfTiresReplaced=1, charge="10"))
                else:
                    sqlite.commands.execute(car_id, ChangeOwner(newOwner=f"Owner {seed}-{step}"))
            except (BusinessRuleViolated, ConcurrencyConflict):
                pass  # refused, or lost to the other writers: a client would see 422 or 409
            with written:
                commands[0] += 1
                written.notify_all()

    def projector(_: int) -> None:
        nonlocal position
        while not writers_done.wait(0.005):
            position = pump(sqlite, position)

    def interleaved(activity: activities.Activity) -> activities.Activity:
        """Each activity starts only once the writers have moved on since the previous one (or finished)."""
        seen = [-1]

        def run(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
            with written:
                written.wait_for(lambda: commands[0] > seen[0] or not any(w.is_alive() for w in writers), 10)
                seen[0] = commands[0]
            return activity(services, payload)

        return run

    for name, activity in list(activities.ACTIVITIES.items()):
        monkeypatch.setitem(activities.ACTIVITIES, name, interleaved(activity))
    writers = [_thread(writer, seed, errors) for seed in range(3)]
    feeder = _thread(projector, 0, errors)
    rebuilds = [rebuild(sqlite, page_size=3, chunk_size=2)]
    while any(w.is_alive() for w in writers) and len(rebuilds) < 20:
        rebuilds.append(rebuild(sqlite, page_size=3, chunk_size=2))  # and again, while they write
    for thread in writers:
        thread.join(timeout=60)
    writers_done.set()
    feeder.join(timeout=60)
    assert not errors, errors
    pump(sqlite, position)  # the projector catches up with the last writes

    assert stored_views(sqlite) == from_scratch(sqlite)
    assert parked(sqlite) == []
    assert rebuilds[0]["rowsRepaired"] >= 2  # the deleted and the damaged rows, at least
    assert len(all_car_ids(sqlite)) == 16
    print(
        "REBUILDS",
        len(rebuilds),
        [r["rowsRepaired"] for r in rebuilds],
        [r["subtotalsCorrected"] for r in rebuilds],
        commands,
    )


def pump(services: Services, position: int) -> int:
    """Deliver the events container's change feed to the projector until it is drained."""
    db: SqliteDatabase = services.backend
    while True:
        changes, reached = db.read_changes(EVENTS_CONTAINER, after=position, limit=50)
        if not changes:
            return position
        services.projector.apply(changes)
        position = reached


def _thread(target: Callable[[int], None], arg: int, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target(arg)
        except BaseException as exc:  # reported by the test, which joins the thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
