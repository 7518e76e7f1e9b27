"""The car-list projector's promises, one story each: gaps heal, poison is parked, duplicates are free."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from cartracker.documents import event_id
from cartracker.domain.commands import ChangeOil, ReplaceTires
from cartracker.errors import ConcurrencyConflict
from cartracker.ports import Document
from cartracker.projection.car_list import row_partition
from cartracker.projection.engine import ProjectionFailed, ProjectionReport
from cartracker.projection.ports import RowWrite
from tests.support.projection import InterleavingViews, World


def events_only(docs: Sequence[Document]) -> list[Document]:
    return [d for d in docs if d["docType"] == "event"]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World.create(tmp_path, shards=4)


def test_a_skipped_batch_is_repaired_by_the_next_change_to_that_car(world: World) -> None:
    car_id = world.add_car()
    world.projector().apply(world.log)
    world.run(car_id, ChangeOil(mileage=100, charge="49.99"))  # v2: this batch is never delivered
    world.run(car_id, ChangeOil(mileage=200, charge="10.01"))  # v3
    next_batch = world.log[-2:]  # the v3 event and the head
    report = world.projector().apply(next_batch)
    assert report.heads_read == 0, "the head in the batch covers the gap"
    world.assert_exact()
    [row] = world.actual_rows()
    assert (row["version"], row["totalChargesCents"]) == (3, 60_00)


def test_a_gap_without_a_head_is_healed_by_one_head_read(world: World) -> None:
    car_id = world.add_car()
    world.projector().apply(world.log)
    for mileage in (1, 2, 3, 4):
        world.run(car_id, ChangeOil(mileage=mileage, charge="1.10"))
    # The row is at v1; only the v5 event arrives (v2-v4 and every head lost).
    report = world.projector().apply([d for d in world.log if d["id"] == event_id(car_id, 5)])
    assert report.heads_read == 1
    world.assert_exact()


def test_contiguous_events_fold_onto_the_row_without_reading_anything(world: World) -> None:
    car_id = world.add_car()
    world.run(car_id, ChangeOil(mileage=1, charge="0.10"))
    world.run(car_id, ReplaceTires(numberOfTiresReplaced=2, charge="0.20"))
    report = world.projector().apply(events_only(world.log))
    assert report.heads_read == 0
    world.assert_exact()
    assert world.actual_rows()[0]["totalChargesCents"] == 30


def test_redelivered_and_old_batches_write_nothing(world: World) -> None:
    car_id = world.add_car()
    first = list(world.log)
    world.run(car_id, ChangeOil(mileage=1, charge="5"))
    projector = world.projector()
    assert projector.apply(world.log).rows_written == 1
    assert projector.apply(world.log).rows_written == 0
    assert projector.apply(first).rows_written == 0, "an old snapshot never moves a row back"
    world.assert_exact()


def poison_event(car_id: str, version: int) -> Document:
    return {
        "id": event_id(car_id, version),
        "aggregateId": car_id,
        "docType": "event",
        "version": version,
        "type": "EngineSwapped",
        "schemaVersion": 1,
        "occurredAt": "2026-03-01T10:00:00Z",
        "data": {"engine": "V8"},
    }


def test_a_poison_document_is_parked_with_its_reason_and_other_cars_are_projected(world: World) -> None:
    first, second = world.add_car(owner="Ann"), world.add_car(owner="Bob")
    world.run(second, ChangeOil(mileage=1, charge="12.34"))
    poisoned = world.add_car(owner="Cem")
    batch = [*world.log[:2], poison_event(poisoned, 2), *world.log[2:]]

    report = world.projector().apply(batch)

    [parked] = world.services.views.list_parked(limit=10)
    assert parked["reason"] == "unknown event type 'EngineSwapped'"
    assert (parked["carId"], parked["version"], parked["documentId"]) == (poisoned, 2, event_id(poisoned, 2))
    assert parked["document"]["type"] == "EngineSwapped"
    assert [p["id"] for p in report.parked] == [parked["id"]]
    world.assert_exact()  # all three cars, the poisoned one as far as its readable history goes
    page = world.services.car_list.page()
    assert {item.row.car_id for item in page.items} == {first, second, poisoned}
    assert page.total_charges_cents == 12_34

    world.projector().apply(batch)  # the feed delivers the same batch again
    assert len(world.services.views.list_parked(limit=10)) == 1, "parking is idempotent"


def test_idempotency_records_in_the_feed_are_skipped_not_parked(world: World) -> None:
    car_id = world.add_car()
    world.services.commands.execute(car_id, ChangeOil(mileage=5, charge="3.00"), idempotency_key="feed-key")
    world.capture()
    assert any(d["docType"] == "idempotency" for d in world.log), "the record is in the change feed"
    report = world.projector().apply(world.log)
    assert report.parked == []
    assert world.services.views.list_parked(limit=10) == []
    world.assert_exact()


def test_a_head_of_an_unknown_schema_is_parked_and_its_events_still_project(world: World) -> None:
    car_id = world.add_car()
    world.run(car_id, ChangeOil(mileage=1, charge="3"))
    batch = [dict(d) for d in world.log]
    for doc in batch:
        if doc["docType"] == "head":
            doc["schemaVersion"] = 99
    world.projector().apply(batch)
    parked = world.services.views.list_parked(limit=10)
    assert sorted(p["version"] for p in parked) == [1, 2], "one parked document per head snapshot"
    assert all("schemaVersion 99" in p["reason"] for p in parked)
    world.assert_exact()


class FailingShard:
    """Views whose writes to one shard always lose the race."""

    def __init__(self, world: World, partition_key: str) -> None:
        self.inner = world.services.views
        self.partition_key = partition_key

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def write_shard(self, partition_key: str, rows: Sequence[RowWrite], *args: Any, **kwargs: Any) -> None:
        if partition_key == self.partition_key:
            raise ConcurrencyConflict("always")
        self.inner.write_shard(partition_key, rows, *args, **kwargs)


def test_a_shard_that_keeps_failing_fails_the_batch_after_the_other_shards_are_written(world: World) -> None:
    cars = [world.add_car() for _ in range(12)]
    stuck = row_partition(cars[0], world.shards)
    projector = world.projector(FailingShard(world, stuck))  # type: ignore[arg-type]
    with pytest.raises(ProjectionFailed, match=stuck):
        projector.apply(world.log)
    written = {row["carId"] for row in world.actual_rows()}
    assert written == {c for c in cars if row_partition(c, world.shards) != stuck}
    assert world.services.views.list_parked(limit=10) == []


def test_on_the_last_attempt_a_shard_that_keeps_failing_is_parked(world: World) -> None:
    cars = [world.add_car() for _ in range(12)]
    stuck = row_partition(cars[0], world.shards)
    projector = world.projector(FailingShard(world, stuck))  # type: ignore[arg-type]
    projector.apply(world.log, park_failures=True)
    parked = world.services.views.list_parked(limit=100)
    assert {p["carId"] for p in parked} == {c for c in cars if row_partition(c, world.shards) == stuck}
    assert all(p["reason"].startswith("write kept failing after retries") for p in parked)
    world.projector().apply(world.log)  # a later delivery (or a rebuild) repairs the list
    world.assert_exact()


def test_a_shard_with_more_cars_than_a_batch_holds_is_written_in_chunks(tmp_path: Path) -> None:
    world = World.create(tmp_path, shards=1)
    for _ in range(150):
        world.add_car()
    report = world.projector().apply(world.log)
    assert report.rows_written == 150
    world.assert_exact()


def test_two_projector_threads_on_one_feed_keep_the_totals_exact(world: World) -> None:
    cars = [world.add_car() for _ in range(8)]
    for round_ in range(6):
        for car_id in cars:
            world.run(car_id, ChangeOil(mileage=round_, charge=f"{round_}.{round_:02d}"))
    log = list(world.log)
    errors: list[BaseException] = []

    def project(batch_size: int) -> None:
        projector = world.projector()
        try:
            for start in range(0, len(log), batch_size):
                projector.apply(log[start : start + batch_size])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=project, args=(size,)) for size in (3, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    world.assert_exact()


# --- instances side by side, and shards in parallel ---------------------------------------------------


class CountingWrites(InterleavingViews):
    def __init__(self, world: World) -> None:
        super().__init__(world.services.views)
        self.writes = 0

    def write_shard(self, partition_key: str, rows: Sequence[RowWrite], *args: Any, **kwargs: Any) -> None:
        self.writes += 1
        super().write_shard(partition_key, rows, *args, **kwargs)


def two_cars_in_one_shard(tmp_path: Path) -> tuple[World, list[Document], list[Document]]:
    """One shard, its subtotal written; then a change to each of two cars, as two instances' batches."""
    world = World.create(tmp_path, shards=1)
    first, second = world.add_car(), world.add_car()
    world.projector().apply(world.log)
    world.run(first, ChangeOil(mileage=10, charge="30.00"))
    mine = world.log[-2:]  # the event and the head
    world.run(second, ReplaceTires(numberOfTiresReplaced=4, charge="400.01"))
    theirs = world.log[-2:]
    return world, mine, theirs


def race(world: World, mine: list[Document], theirs: list[Document]) -> tuple[ProjectionReport, int]:
    """Apply `mine` while another instance writes `theirs` between this one's read and its write:
    this instance's report, and how many shard batches it sent."""
    views = CountingWrites(world)
    other = world.projector()
    views.before_next_write = lambda: other.apply(theirs)
    report = world.projector(views).apply(mine)
    return report, views.writes


def test_instances_writing_different_cars_of_one_shard_never_conflict(tmp_path: Path) -> None:
    world, mine, theirs = two_cars_in_one_shard(tmp_path)
    report, writes = race(world, mine, theirs)
    assert (report.subtotal_conflicts, report.row_conflicts, writes) == (0, 0, 1)
    world.assert_exact()


def test_instances_writing_the_same_car_conflict_on_its_row_and_stay_exact(tmp_path: Path) -> None:
    world, mine, theirs = two_cars_in_one_shard(tmp_path)
    report, writes = race(world, mine, mine)  # a redelivery racing the first delivery
    # The row refused the batch, the add went back with it, and the re-read found nothing to do.
    assert (report.subtotal_conflicts, report.row_conflicts, report.rows_written, writes) == (0, 1, 0, 1)
    world.projector().apply(theirs)
    world.assert_exact()


def test_instances_writing_the_first_rows_of_a_shard_at_once_add_to_one_subtotal(tmp_path: Path) -> None:
    world = World.create(tmp_path, shards=1)
    world.add_car()
    mine = list(world.log)
    world.add_car()
    # Both read a shard with no subtotal; the other creates it and adds first; this one adds after.
    report, writes = race(world, mine, world.log[len(mine) :])
    assert (report.subtotal_conflicts, report.row_conflicts, writes) == (0, 0, 1)
    world.assert_exact()


class MeetingViews(InterleavingViews):
    """Views whose shard writes wait for each other: two writes get through only if they run at once."""

    def __init__(self, world: World, timeout: float) -> None:
        super().__init__(world.services.views)
        self.meeting = threading.Barrier(2, timeout=timeout)

    def write_shard(self, partition_key: str, rows: Sequence[RowWrite], *args: Any, **kwargs: Any) -> None:
        self.meeting.wait()
        super().write_shard(partition_key, rows, *args, **kwargs)


def cars_in_two_shards(world: World) -> None:
    """Leave in the log two cars in two shards (the barrier has two parties)."""
    first = world.add_car()
    second = world.add_car()
    while row_partition(second, world.shards) == row_partition(first, world.shards):
        second = world.add_car()
    world.log[:] = [d for d in world.log if d["aggregateId"] in (first, second)]


def test_the_shards_of_a_batch_are_written_at_the_same_time(world: World) -> None:
    cars_in_two_shards(world)
    views = MeetingViews(world, timeout=30)  # generous: a slow machine still meets; sequential never does

    report = world.projector(views).apply(world.log)

    assert report.rows_written == 2
    world.assert_consistent()


def test_one_at_a_time_the_meeting_never_happens(world: World) -> None:
    # The check above can fail: written one after another, the first write waits for the second in vain.
    cars_in_two_shards(world)
    views = MeetingViews(world, timeout=0.5)

    with pytest.raises(threading.BrokenBarrierError):
        world.projector(views, parallel=1).apply(world.log)


class ReadOrder(InterleavingViews):
    def __init__(self, world: World) -> None:
        super().__init__(world.services.views)
        self.order: list[str] = []

    def read_shard(self, partition_key: str, car_ids: Sequence[str]) -> Any:
        self.order.append(partition_key)
        return self.inner.read_shard(partition_key, car_ids)


def test_instances_walk_the_shards_in_different_orders(world: World) -> None:
    cars = [world.add_car()]
    while len({row_partition(c, world.shards) for c in cars}) < 3:  # car ids are random: so are shards
        cars.append(world.add_car())
    orders = set()
    for _ in range(20):  # twenty instances starting on the same batch
        views = ReadOrder(world)
        world.projector(views, parallel=1).apply(world.log)
        orders.add(tuple(views.order))
    assert len(orders) > 1, "every instance walked the shards in the same order"


class BrokenShard(InterleavingViews):
    def __init__(self, world: World, partition_key: str) -> None:
        super().__init__(world.services.views)
        self.partition_key = partition_key

    def write_shard(self, partition_key: str, rows: Sequence[RowWrite], *args: Any, **kwargs: Any) -> None:
        if partition_key == self.partition_key:
            raise RuntimeError("a bug, not a lost race")
        super().write_shard(partition_key, rows, *args, **kwargs)


def test_an_unexpected_error_in_one_shard_is_raised_after_the_other_shards_are_written(world: World) -> None:
    cars = [world.add_car() for _ in range(12)]
    broken = row_partition(cars[0], world.shards)

    with pytest.raises(RuntimeError, match="a bug"):
        world.projector(BrokenShard(world, broken)).apply(world.log)

    assert {row["carId"] for row in world.actual_rows()} == {
        c for c in cars if row_partition(c, world.shards) != broken
    }
