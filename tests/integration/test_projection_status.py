"""How far behind each projection is: from its own status document and the newest change in `events`.

On the embedded store the local change feed is paused to make a lag, then resumed to watch it
close; on the Cosmos test server the round trips are counted at the SDK's transport.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cartracker.bootstrap import Services, bootstrap
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.functions.projections import projection_status
from cartracker.localhost.changefeed import ChangeFeedPump, change_feed_pumps
from cartracker.localhost.index import app_index
from cartracker.ports import FeedMark
from cartracker.projection.registry import PROJECTIONS, names
from cartracker.projection.status import DELAY_WINDOW, Delay, StatusRecorder, status_id
from cartracker.settings import EVENTS_CONTAINER
from tests.conftest import CosmosEnv
from tests.support.functions import body_of, call, installed, sqlite_services

VOLVO = AddCar(make="Volvo", model="V70", owner="Ann")


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.01)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Services]:
    with installed(sqlite_services(tmp_path / "store.sqlite3")) as services:
        yield services


@pytest.fixture
def pumps(sqlite: Services) -> Iterator[dict[str, ChangeFeedPump]]:
    """The local host's pumps, one per projection's trigger, by projection name."""
    by_prefix = {spec.lease_prefix: name for name, spec in PROJECTIONS.items()}
    running = change_feed_pumps(app_index().change_feed, sqlite.backend)
    for pump in running:
        pump.start()
    try:
        yield {
            next(
                name for prefix, name in by_prefix.items() if pump.function.checkpoint.startswith(prefix)
            ): pump
            for pump in running
        }
    finally:
        for pump in running:
            pump.stop()


def name_of(checkpoint: str, by_prefix: dict[str, str]) -> str:
    return next(name for prefix, name in by_prefix.items() if checkpoint.startswith(prefix))


def statuses() -> dict[str, dict[str, Any]]:
    response = call(projection_status, "GET", "manage/projections")
    assert response.status_code == 200
    return {item["name"]: item for item in body_of(response)["items"]}


def test_status_names_every_registered_projection_in_order(sqlite: Services) -> None:
    assert list(statuses()) == list(names())
    assert all(item["lagSeconds"] == 0 and item["pendingChanges"] == 0 for item in statuses().values()), (
        "an empty store: nothing to apply"
    )


def test_writes_with_the_feed_paused_show_a_lag_and_the_exact_pending_changes_until_it_resumes(
    sqlite: Services, pumps: dict[str, ChangeFeedPump]
) -> None:
    cars = [sqlite.commands.add_car(VOLVO).car_id for _ in range(3)]
    for pump in pumps.values():
        pump.wait_until_caught_up()
    caught_up = statuses()
    assert {name: (s["lagSeconds"], s["pendingChanges"]) for name, s in caught_up.items()} == {
        name: (0, 0) for name in names()
    }
    assert all(s["lastAppliedAt"] is not None for s in caught_up.values())

    for pump in pumps.values():
        pump.pause()
    for mileage, car_id in enumerate(cars, start=1):
        sqlite.commands.execute(car_id, ChangeOil(mileage=mileage * 100, charge="10.00"))
    sqlite.commands.add_car(VOLVO)

    behind = statuses()
    for name, pump in pumps.items():
        unprocessed, _ = sqlite.backend.read_changes(EVENTS_CONTAINER, after=pump.position, limit=10_000)
        assert len(unprocessed) == 3 * 2 + 2  # an event and a head per oil change, the same for the new car
        assert behind[name]["pendingChanges"] == len(unprocessed)
        assert isinstance(behind[name]["lagSeconds"], float)
        assert behind[name]["lagSeconds"] > 0
        assert behind[name]["lastAppliedAt"] == caught_up[name]["lastAppliedAt"]

    for pump in pumps.values():
        pump.resume()
    eventually(lambda: all((s["lagSeconds"], s["pendingChanges"]) == (0, 0) for s in statuses().values()))


def test_an_old_batch_or_another_instance_never_moves_the_status_back(sqlite: Services) -> None:
    def now() -> datetime:
        return datetime.now(UTC)

    one = StatusRecorder("car-list", sqlite.views, now)
    other = StatusRecorder("car-list", sqlite.views, now)
    one.record(FeedMark(ts=200.0, position=20))
    other.record(FeedMark(ts=100.0, position=10))  # an older batch, from an instance that read nothing yet
    one.record(FeedMark(ts=150.0, position=15))  # its cached etag is stale now: it reads again
    stored = sqlite.views.read_statuses([status_id("car-list")])[status_id("car-list")].doc
    assert (stored["appliedTs"], stored["position"]) == (200.0, 20)
    other.record(FeedMark(ts=300.0, position=30))
    stored = sqlite.views.read_statuses([status_id("car-list")])[status_id("car-list")].doc
    assert (stored["appliedTs"], stored["position"]) == (300.0, 30)


def test_on_cosmos_status_costs_two_queries_and_a_count_per_projection_whatever_the_cars(
    cosmos: CosmosEnv,
) -> None:
    services = bootstrap(cosmos.settings, cosmos_client=cosmos.client)

    def project(car_ids: list[str]) -> None:
        docs = []
        for car_id in car_ids:
            head = services.events.read_head(car_id)
            assert head is not None
            docs.extend([*services.events.read_events(car_id), head.doc])
        for projector in services.projectors.values():
            projector.apply(docs)  # documents read back carry `_ts`, as the feed's do

    project([services.commands.add_car(VOLVO).car_id])
    expected = 2 + len(PROJECTIONS)
    for more in (1, 30):
        project([services.commands.add_car(VOLVO).car_id for _ in range(more)])
        cosmos.transport.reset()
        found = services.statuses.all()
        kinds = cosmos.transport.kinds(skip_account=True)
        assert kinds.count("query") == expected, kinds
        assert len(kinds) == expected, "status documents, the newest change, and each parked count"
        assert [s.name for s in found] == list(names())
        assert all(s.pending_changes is None and s.lag_seconds == 0 for s in found)
        assert all(s.last_applied_at is not None and s.parked == 0 for s in found)


# --- delay: from an event's occurredAt to the write of its row ---------------------------------------


def test_the_delay_window_keeps_the_last_events_and_reports_nearest_rank_percentiles(
    sqlite: Services,
) -> None:
    recorder = StatusRecorder("car-list", sqlite.views, lambda: datetime.now(UTC))
    recorder.record(FeedMark(ts=1.0, position=1), [5.0] * 60)  # an old backlog: 5 s each
    recorder.record(FeedMark(ts=2.0, position=2), [0.001 * n for n in range(1, 61)])  # 1..60 ms
    [status, _] = sqlite.statuses.all()
    # The window holds the last 100 events: 40 of the backlog's 5 s and the 60 fresh ones.
    assert status.delay is not None
    assert (status.delay.samples, status.delay.max_seconds) == (DELAY_WINDOW, 5.0)
    assert status.delay.p50_seconds == 0.050  # the 50th of 100 sorted: 1..60 ms come first
    assert status.delay.p95_seconds == 5.0
    recorder.record(FeedMark(ts=3.0, position=3), [0.002] * 100)
    [status, _] = sqlite.statuses.all()
    assert status.delay == Delay(0.002, 0.002, 0.002, 100), "the backlog left the window"


def test_a_status_written_before_delays_were_kept_starts_a_window(sqlite: Services) -> None:
    sqlite.views.write_status(
        {
            "id": status_id("car-list"),
            "partitionKey": "status",
            "docType": "projectionStatus",
            "appliedTs": 1.0,
        },
        None,
    )
    assert sqlite.statuses.all()[0].delay is None
    StatusRecorder("car-list", sqlite.views, lambda: datetime.now(UTC)).record(
        FeedMark(ts=2.0, position=2), [0.25]
    )
    assert sqlite.statuses.all()[0].delay == Delay(0.25, 0.25, 0.25, 1)


def test_two_instances_add_their_delays_to_one_window(sqlite: Services) -> None:
    def now() -> datetime:
        return datetime.now(UTC)

    one, other = StatusRecorder("car-list", sqlite.views, now), StatusRecorder("car-list", sqlite.views, now)
    one.record(FeedMark(ts=1.0, position=1), [0.1])
    other.record(FeedMark(ts=2.0, position=2), [0.2])
    one.record(FeedMark(ts=3.0, position=3), [0.3])  # its etag is stale: it reads, merges, writes
    delay = sqlite.statuses.all()[0].delay
    assert delay is not None
    assert (delay.samples, delay.max_seconds) == (3, 0.3)


def test_status_reports_each_projections_delay_once_the_pump_applied_events(
    sqlite: Services, pumps: dict[str, ChangeFeedPump]
) -> None:
    car_id = sqlite.commands.add_car(VOLVO).car_id
    sqlite.commands.execute(car_id, ChangeOil(mileage=10, charge="1"))
    for pump in pumps.values():
        pump.wait_until_caught_up()
    for item in statuses().values():
        assert item["delay"]["samples"] == 2, item
        assert 0 <= item["delay"]["p50Seconds"] <= item["delay"]["p95Seconds"] <= item["delay"]["maxSeconds"]


def test_delays_of_a_batch_that_does_not_move_the_status_wait_for_its_next_write(sqlite: Services) -> None:
    writes: list[str] = []

    class CountedViews:
        def __getattr__(self, name: str) -> Any:
            return getattr(sqlite.views, name)

        def write_status(self, doc: dict[str, Any], etag: str | None) -> str:
            writes.append(doc["id"])
            return sqlite.views.write_status(doc, etag)

    recorder = StatusRecorder("car-list", CountedViews(), lambda: datetime.now(UTC))  # type: ignore[arg-type]
    recorder.record(FeedMark(ts=5.0, position=None), [0.1])
    recorder.record(FeedMark(ts=5.0, position=None), [0.2])  # Cosmos DB: the same second, no write
    assert len(writes) == 1
    recorder.record(FeedMark(ts=6.0, position=None), [0.3])
    assert len(writes) == 2
    assert sqlite.statuses.all()[0].delay == Delay(0.2, 0.3, 0.3, 3)
