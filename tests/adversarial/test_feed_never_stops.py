"""Finding 3 of the adversarial review: the local host's change-feed pump never dies, and health tells.

Whatever goes wrong around a batch -- the store refusing the checkpoint with a raw `sqlite3` error, a bug
in the feed, a function failing past its retries -- the pump logs it, backs off and tries again with the
batch unacknowledged, and the list ends exact once the fault is gone. Meanwhile `GET /api/health` names
the pump, its state and its last error, and answers 503 once it has been failing for longer than its
bound (here zero, so the tests need not wait), when its thread is gone, or when a batch is stuck.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cartracker.adapters.sqlite_db import SqliteDatabase
from cartracker.functions.system import health
from cartracker.localhost.changefeed import ChangeFeedFunction, ChangeFeedPump, RetryPolicy
from cartracker.localhost.index import app_index
from cartracker.ports import Document
from tests.support.functions import body_of, call, installed, problem_of, sqlite_services
from tests.support.projection import World

# The pump's own backoff between failed rounds, minus the waiting.
FAST = RetryPolicy(strategy="exponential_backoff", minimum=0.001, maximum=0.01)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(sqlite_services(tmp_path / "store.sqlite3"))
    with installed(world.services):
        yield world


@pytest.fixture
def projector() -> ChangeFeedFunction:
    """The app's `project_car_list` trigger with its retry count, without the minutes of backoff."""
    [trigger] = [f for f in app_index().change_feed if f.get_function_name() == "project_car_list"]
    function = ChangeFeedFunction.from_function(trigger, env={})
    return replace(function, retry=RetryPolicy(max_retries=function.retry.max_retries), poll_seconds=0.01)


class FlakyFeed:
    """The store's change feed, with a checkpoint or a read that fails on demand."""

    def __init__(self, db: SqliteDatabase, error: Callable[[], Exception], *, on: str) -> None:
        self.db = db
        self.error = error
        self.on = on  # "save_checkpoint" or "read_changes"
        self.failing = threading.Event()
        self.failing.set()
        self.failures = 0

    def _maybe_fail(self, operation: str) -> None:
        if operation == self.on and self.failing.is_set():
            self.failures += 1
            raise self.error()

    def read_changes(self, container: str, *, after: int, limit: int) -> tuple[list[Document], int]:
        self._maybe_fail("read_changes")
        return self.db.read_changes(container, after=after, limit=limit)

    def load_checkpoint(self, name: str) -> int:
        return self.db.load_checkpoint(name)

    def save_checkpoint(self, name: str, position: int) -> None:
        self._maybe_fail("save_checkpoint")
        self.db.save_checkpoint(name, position)


def eventually(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.005)


@contextmanager
def running(pump: ChangeFeedPump) -> Iterator[ChangeFeedPump]:
    pump.start()
    try:
        yield pump
    finally:
        pump.stop()


def health_problem(*words: str) -> dict[str, Any]:
    response = call(health, "GET", "health")
    problem = problem_of(response, 503)
    assert int(response.headers["Retry-After"]) >= 1
    for word in words:
        assert word in problem["detail"], problem
    return problem


def healthy_feeds() -> list[dict[str, Any]]:
    response = call(health, "GET", "health")
    assert response.status_code == 200, response.get_body()
    feeds: list[dict[str, Any]] = body_of(response)["changeFeeds"]
    return feeds


def add_cars(world: World, count: int) -> list[str]:
    return [world.add_car(owner=f"Owner {n}") for n in range(count)]


def test_a_checkpoint_failing_with_a_raw_sqlite_error_never_kills_the_pump_and_health_says_so(
    world: World, projector: ChangeFeedFunction
) -> None:
    feed = FlakyFeed(world.db, lambda: sqlite3.OperationalError("disk I/O error"), on="save_checkpoint")
    pump = ChangeFeedPump(projector, feed, backoff=FAST, alarm_after=0.0)
    add_cars(world, 5)

    with running(pump):
        eventually(lambda: feed.failures >= 3, "the pump kept trying")
        problem = health_problem("project_car_list", "disk I/O error")
        assert [error["field"] for error in problem["errors"]] == ["changeFeeds.project_car_list"]
        assert pump.status.report().alive

        feed.failing.clear()
        pump.wait_until_caught_up()
        [feed_health] = healthy_feeds()
        add_cars(world, 2)  # and it goes on projecting what comes next
        pump.wait_until_caught_up()

    assert feed_health["name"] == "project_car_list"
    assert feed_health["state"] == "running"
    assert feed_health["alive"] is True
    assert feed_health["consecutiveFailures"] == 0
    assert "disk I/O error" in feed_health["lastError"]
    assert feed_health["lastBatchFinishedAt"] is not None
    world.assert_exact()


def test_a_bug_in_the_feed_itself_never_kills_the_pump(world: World, projector: ChangeFeedFunction) -> None:
    feed = FlakyFeed(world.db, lambda: TypeError("'NoneType' object is not subscriptable"), on="read_changes")
    pump = ChangeFeedPump(projector, feed, backoff=FAST, alarm_after=0.0)
    add_cars(world, 3)

    with running(pump):
        eventually(lambda: feed.failures >= 3, "the pump kept trying")
        health_problem("project_car_list", "TypeError")
        feed.failing.clear()
        pump.wait_until_caught_up()
        [feed_health] = healthy_feeds()

    assert feed_health["state"] == "running"
    world.assert_exact()


def test_a_function_failing_past_its_retries_never_kills_the_pump(
    world: World, projector: ChangeFeedFunction
) -> None:
    broken = threading.Event()
    broken.set()
    calls: list[int] = []

    def sometimes_buggy(**kwargs: Any) -> None:
        calls.append(kwargs["context"].retry_context.retry_count)
        if broken.is_set():
            raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
        projector.call(**kwargs)

    pump = ChangeFeedPump(replace(projector, call=sometimes_buggy), world.db, backoff=FAST)
    add_cars(world, 2)

    with running(pump):
        pump.wait_until_caught_up()  # passed over after its retries, as the Functions host does
        assert calls == list(range(projector.retry.max_retries + 1))
        broken.clear()
        later = add_cars(world, 2)
        pump.wait_until_caught_up()
        [feed_health] = healthy_feeds()

    assert feed_health["alive"] is True
    assert "TypeError" in feed_health["lastError"]
    assert set(later) <= {row["carId"] for row in world.actual_rows()}


class ThreadKilled(BaseException):
    """What no `except Exception` catches: the thread ends, as it would on a bug in the pump itself."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_pump_whose_thread_is_gone_makes_health_503(world: World, projector: ChangeFeedFunction) -> None:
    def fatal(**kwargs: Any) -> None:
        raise ThreadKilled

    pump = ChangeFeedPump(replace(projector, call=fatal), world.db, backoff=FAST)
    world.add_car()
    with running(pump):
        eventually(lambda: not pump.status.report().alive, "the thread ended")
        problem = health_problem("project_car_list", "stopped")
    assert problem["errors"][0]["field"] == "changeFeeds.project_car_list"


def test_a_batch_in_flight_for_longer_than_its_bound_makes_health_503_until_it_finishes(
    world: World, projector: ChangeFeedFunction
) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(**kwargs: Any) -> None:
        entered.set()
        release.wait()
        projector.call(**kwargs)

    pump = ChangeFeedPump(replace(projector, call=slow), world.db, backoff=FAST, stuck_after=0.0)
    world.add_car()
    with running(pump):
        try:
            assert entered.wait(10)
            health_problem("project_car_list", "stuck")
            report = pump.status.report()
            assert (report.state, report.alive) == ("stuck", True)
        finally:
            release.set()
        pump.wait_until_caught_up()
        pump.pause()  # with a bound of zero, even an idle poll would count as stuck
        [feed_health] = healthy_feeds()
    assert feed_health["state"] == "running"
    world.assert_exact()


def test_stopping_a_pump_that_is_backing_off_returns_at_once(
    world: World, projector: ChangeFeedFunction
) -> None:
    feed = FlakyFeed(world.db, lambda: sqlite3.OperationalError("database is locked"), on="read_changes")
    an_hour = RetryPolicy(strategy="exponential_backoff", minimum=3600.0, maximum=3600.0)
    pump = ChangeFeedPump(projector, feed, backoff=an_hour)
    pump.start()
    eventually(lambda: feed.failures >= 1, "the first failure")

    stopper = threading.Thread(target=pump.stop)
    stopper.start()
    stopper.join(timeout=10)  # a deadline for a hang, not a measurement: the wait is the stop event
    assert not stopper.is_alive(), "stop() waited out the backoff"


def test_health_lists_each_running_change_feed_and_forgets_it_once_stopped(
    world: World, projector: ChangeFeedFunction
) -> None:
    pump = ChangeFeedPump(projector, world.db)
    with running(pump):
        world.add_car()
        pump.wait_until_caught_up()
        eventually(lambda: pump.status.report().last_batch_finished_at is not None, "a batch finished")
        [feed_health] = healthy_feeds()
    assert feed_health["name"] == "project_car_list"
    assert feed_health["state"] == "running"
    assert feed_health["lastError"] is None
    assert feed_health["lastBatchStartedAt"] <= feed_health["lastBatchFinishedAt"]
    assert healthy_feeds() == []  # stopped on purpose (the host shutting down): no longer this process's
