"""`GET service-due` and `project_service_due`, invoked as the Functions worker does: the cars due now,
most overdue first, paged by keyset; time alone makes a car due."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from cartracker.domain.commands import ChangeOil, Command, InspectBrakes
from cartracker.functions.projectors import MAX_RETRIES
from cartracker.functions.service_due import list_service_due, project_service_due
from cartracker.http.service_due import ServiceDuePageView
from tests.support.functions import body_of, call, fields_of, installed, problem_of
from tests.support.projection import World

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Clock:
    """Stands still until moved: every command and query reads the time set here."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(tmp_path: Path, clock: Clock) -> Iterator[World]:
    world = World.create(tmp_path, shards=4, clock=clock)
    with installed(world.services):
        yield world


def a_car(world: World, clock: Clock, *steps: tuple[float, Command]) -> str:
    clock.now = T0
    car_id = world.add_car()
    for days, command in steps:
        clock.now = T0 + days * DAY
        assert world.run(car_id, command)
    return car_id


@dataclass
class Retry:
    retry_count: int
    max_retry_count: int = MAX_RETRIES


@dataclass
class Context:
    retry_context: Retry


def project(world: World) -> None:
    """The whole feed so far, handed to the app's `project_service_due` as the Functions worker does."""
    world.capture()
    changes = func.DocumentList([func.Document.from_dict(dict(doc)) for doc in world.log])
    project_service_due(changes, Context(Retry(0)))


def service_due(**params: str) -> dict[str, Any]:
    response = call(list_service_due, "GET", "service-due", params=params)
    assert response.status_code == 200, response.get_body()
    assert response.headers["Cache-Control"] == "no-store"
    page: dict[str, Any] = body_of(response)
    return page


def test_the_most_overdue_car_comes_first_whatever_made_it_due(world: World, clock: Clock) -> None:
    by_pads = a_car(world, clock, (5, InspectBrakes(mileage=100, remainingPad=12)))
    by_miles = a_car(world, clock, (20, InspectBrakes(mileage=5_000, remainingPad=80)))
    by_days = a_car(world, clock, (1, ChangeOil(mileage=10, charge="40")))  # due on day 181
    fine = a_car(world, clock, (150, ChangeOil(mileage=20, charge="40")))
    project(world)

    clock.now = T0 + 200 * DAY
    page = service_due()

    assert [item["carId"] for item in page["items"]] == [by_pads, by_miles, by_days]
    assert fine not in {item["carId"] for item in page["items"]}
    assert (page["freshness"], page["continuationToken"]) == ("deferred", None)
    ServiceDuePageView.model_validate(page)  # the body openapi.json publishes
    pads, miles, days = page["items"]
    assert pads["due"] == [
        {"service": "brakes", "reason": "brake-pad", "dueSince": "2025-06-06T12:00:00Z", "remainingPad": 12},
        {"service": "oil-change", "reason": "time", "dueSince": "2025-11-28T12:00:00Z"},
    ]
    assert miles["due"][0] == {
        "service": "oil-change",
        "reason": "mileage",
        "dueSince": "2025-06-21T12:00:00Z",
        "milesSinceOilChange": 5_000,
    }
    assert days["lastOilChange"] == {"at": "2025-06-02T12:00:00Z", "mileage": 10}
    assert days["due"] == [{"service": "oil-change", "reason": "time", "dueSince": "2025-11-29T12:00:00Z"}]
    assert (days["make"], days["model"], days["owner"], days["lastMileage"], days["version"]) == (
        "Volvo",
        "V70",
        "Ann",
        10,
        2,
    )


def test_a_car_falls_due_by_time_at_query_time_without_any_event(world: World, clock: Clock) -> None:
    car_id = a_car(world, clock, (0, ChangeOil(mileage=10, charge="40")))
    project(world)

    clock.now = T0 + 180 * DAY - timedelta(microseconds=1)
    assert service_due()["items"] == []
    clock.now = T0 + 180 * DAY
    assert [item["carId"] for item in service_due()["items"]] == [car_id]


def test_pages_walk_every_due_car_once_in_order(world: World, clock: Clock) -> None:
    cars = [a_car(world, clock, (n, InspectBrakes(mileage=1, remainingPad=n))) for n in range(7)]
    project(world)
    clock.now = T0 + 10 * DAY

    seen: list[str] = []
    params: dict[str, str] = {"pageSize": "3"}
    while True:
        page = service_due(**params)
        assert len(page["items"]) <= 3
        seen += [item["carId"] for item in page["items"]]
        if page["continuationToken"] is None:
            break
        params["continuationToken"] = page["continuationToken"]
    assert seen == cars


def test_a_token_not_from_this_api_is_a_400(world: World) -> None:
    response = call(list_service_due, "GET", "service-due", params={"continuationToken": "bm9wZQ"})
    assert fields_of(problem_of(response, 400)) == {"continuationToken"}
    response = call(list_service_due, "GET", "service-due", params={"pageSize": "0"})
    assert fields_of(problem_of(response, 400)) == {"pageSize"}
