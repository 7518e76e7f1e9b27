"""The local host's change feed: every cosmosDBTrigger function fed in batches, checkpointed after
success, retried per its policy -- a restart loses nothing and a redelivery after a crash is harmless."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cartracker.bootstrap import Services
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.localhost.changefeed import ChangeFeedFunction, ChangeFeedPump, RetryPolicy, change_feed_pumps
from cartracker.localhost.index import app_index
from cartracker.settings import CAR_LIST_LEASE_PREFIX, EVENTS_CONTAINER, SERVICE_DUE_LEASE_PREFIX
from tests.support.functions import installed, sqlite_services
from tests.support.projection import World

VOLVO = AddCar(make="Volvo", model="V70", owner="Ann")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(sqlite_services(tmp_path / "store.sqlite3"))
    with installed(world.services):
        yield world


def change_feed_functions() -> dict[str, ChangeFeedFunction]:
    functions = (ChangeFeedFunction.from_function(f, env={}) for f in app_index().change_feed)
    return {f.name: f for f in functions}


@pytest.fixture
def projector_function() -> ChangeFeedFunction:
    return change_feed_functions()["project_car_list"]


def test_every_projection_has_its_own_change_feed_function_and_checkpoints() -> None:
    functions = change_feed_functions()
    assert {name: f.checkpoint for name, f in functions.items()} == {
        "project_car_list": f"{CAR_LIST_LEASE_PREFIX}project_car_list",
        "project_service_due": f"{SERVICE_DUE_LEASE_PREFIX}project_service_due",
    }
    assert {f.container for f in functions.values()} == {EVENTS_CONTAINER}
    assert functions["project_service_due"].retry == functions["project_car_list"].retry


def test_the_projector_binding_is_read_from_the_app(projector_function: ChangeFeedFunction) -> None:
    f = projector_function
    assert (f.name, f.container, f.checkpoint) == (
        "project_car_list",
        EVENTS_CONTAINER,
        f"{CAR_LIST_LEASE_PREFIX}project_car_list",
    )
    assert (f.max_items, f.arg_name, f.takes_context) == (100, "changes", True)
    assert f.retry == RetryPolicy(max_retries=5, strategy="exponential_backoff", minimum=2.0, maximum=60.0)
    assert [f.retry.delay_before(n) for n in (1, 2, 3, 6, 7)] == [2.0, 4.0, 8.0, 60.0, 60.0]


def add_cars(services: Services, count: int) -> list[str]:
    cars = [services.commands.add_car(VOLVO).car_id for _ in range(count)]
    for car_id in cars:
        services.commands.execute(car_id, ChangeOil(mileage=1, charge="2.50"))
    return cars


def test_batches_are_delivered_in_order_and_checkpointed(
    world: World, projector_function: ChangeFeedFunction
) -> None:
    add_cars(world.services, 30)  # 120 documents: two events and a head per car (heads once, latest)
    pump = ChangeFeedPump(replace(projector_function, max_items=25), world.db)
    delivered = []
    while n := pump.run_once():
        delivered.append(n)
    assert delivered == [25, 25, 25, 15]
    assert pump.caught_up()
    world.assert_exact()


def test_a_restart_resumes_at_the_checkpoint_and_loses_nothing(
    world: World, projector_function: ChangeFeedFunction
) -> None:
    calls: list[int] = []

    def counting(**kwargs: Any) -> None:
        calls.append(len(kwargs["changes"]))
        projector_function.call(**kwargs)

    function = replace(projector_function, call=counting)
    add_cars(world.services, 3)
    ChangeFeedPump(function, world.db).run_once()
    add_cars(world.services, 2)
    restarted = ChangeFeedPump(function, world.db)  # a new process: only the checkpoint survives
    restarted.run_once()
    assert calls == [9, 6], "the second pump starts after what the first acknowledged"
    world.assert_exact()


class Crash(BaseException):
    """The process dying mid-batch: after the function did its work, before the checkpoint."""


def test_a_crash_before_the_checkpoint_redelivers_the_batch_harmlessly(
    world: World, projector_function: ChangeFeedFunction
) -> None:
    def crashing(**kwargs: Any) -> None:
        projector_function.call(**kwargs)
        raise Crash

    add_cars(world.services, 4)
    with pytest.raises(Crash):
        ChangeFeedPump(replace(projector_function, call=crashing), world.db).run_once()
    restarted = ChangeFeedPump(projector_function, world.db)
    assert restarted.run_once() == 12, "the whole batch comes again"
    world.assert_exact()
    assert world.services.car_list.page().total_charges_cents == 4 * 250


def failing(times: int, seen: list[int]) -> Any:
    def function(changes: Any, context: Any) -> None:
        seen.append(context.retry_context.retry_count)
        if len(seen) <= times:
            raise RuntimeError("not yet")

    return function


def a_function(call: Any, retries: int) -> ChangeFeedFunction:
    return ChangeFeedFunction(
        name="test_function",
        container=EVENTS_CONTAINER,
        checkpoint="test-",
        max_items=10,
        poll_seconds=0.01,
        retry=RetryPolicy(max_retries=retries, strategy="exponential_backoff", minimum=0.001, maximum=0.004),
        arg_name="changes",
        takes_context=True,
        call=call,
    )


def test_a_failing_invocation_is_retried_with_the_attempt_number(world: World) -> None:
    world.add_car()
    seen: list[int] = []
    pump = ChangeFeedPump(a_function(failing(2, seen), retries=5), world.db)
    assert pump.run_once() == 2
    assert seen == [0, 1, 2]
    assert pump.caught_up()


def test_when_retries_run_out_the_batch_is_passed_over_as_the_functions_host_does(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.add_car()
    seen: list[int] = []
    pump = ChangeFeedPump(a_function(failing(99, seen), retries=2), world.db)
    pump.run_once()
    assert seen == [0, 1, 2]
    assert pump.caught_up()
    assert "retries exhausted" in caplog.text


def test_a_paused_pump_delivers_nothing_until_resumed(world: World) -> None:
    pumps = change_feed_pumps(app_index().change_feed, world.db)
    [pump] = [p for p in pumps if p.function.name == "project_car_list"]
    pump.start()
    try:
        world.add_car()
        pump.wait_until_caught_up()
        pump.pause()
        car_id = world.add_car()
        assert not pump.caught_up()
        assert car_id not in {row["carId"] for row in world.actual_rows()}
        pump.resume()
        pump.wait_until_caught_up()
    finally:
        pump.stop()
    world.assert_exact()


def test_a_pump_is_unhealthy_after_a_minute_of_failures_or_a_batch_in_flight_past_its_retry_schedule(
    world: World, projector_function: ChangeFeedFunction
) -> None:
    status = ChangeFeedPump(projector_function, world.db).status
    assert status.alarm_after == 60.0
    assert status.stuck_after == (2 + 4 + 8 + 16 + 32) + 120.0  # the projector's backoff, plus two minutes
    assert status.report().state == "stopped"  # not started yet: no thread to deliver anything
