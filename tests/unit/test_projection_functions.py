"""The car-list functions, invoked as the Functions worker does: HTTP requests, and change-feed batches
as a `func.DocumentList` with a retry context."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from cartracker.bootstrap import Services
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.errors import StoreUnavailable
from cartracker.functions.car_list import MAX_RETRIES, list_cars, project_car_list
from cartracker.functions.projections import list_parked
from cartracker.ports import Document
from cartracker.projection.engine import ProjectionFailed
from cartracker.tokens import consistency_token
from tests.support.functions import body_of, call, fields_of, installed, problem_of, sqlite_services


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with installed(sqlite_services(tmp_path / "store.sqlite3")) as services:
        yield services


@dataclass
class Retry:
    retry_count: int
    max_retry_count: int = MAX_RETRIES


@dataclass
class Context:
    retry_context: Retry


def deliver(docs: Sequence[Document], *, attempt: int = 0) -> None:
    changes = func.DocumentList([func.Document.from_dict(doc) for doc in docs])
    project_car_list(changes, Context(Retry(attempt)))  # type: ignore[arg-type]


def changes_of(services: Services, *car_ids: str) -> list[Document]:
    docs = []
    for car_id in car_ids:
        docs.extend(services.events.read_events(car_id))
        head = services.events.read_head(car_id)
        assert head is not None
        docs.append(head.doc)
    return docs


def test_a_change_feed_batch_is_projected_and_listed_with_money_as_strings(services: Services) -> None:
    car_id = services.commands.add_car(AddCar(make="Volvo", model="V70", owner="Ann")).car_id
    services.commands.execute(car_id, ChangeOil(mileage=10, charge="49.99"))
    deliver(changes_of(services, car_id))

    response = call(list_cars, "GET", "cars")

    assert response.status_code == 200
    page = body_of(response)
    assert page == {
        "items": [
            {
                "carId": car_id,
                "make": "Volvo",
                "model": "V70",
                "owner": "Ann",
                "lastServiced": page["items"][0]["lastServiced"],
                "totalCharges": "49.99",
                "version": 2,
                "freshness": "deferred",
            }
        ],
        "totalCharges": "49.99",
        "carCount": 1,
        "continuationToken": None,
        "freshness": "deferred",
    }
    assert page["items"][0]["lastServiced"] is not None


def test_repeated_after_tokens_arrive_comma_joined_and_are_each_honoured(services: Services) -> None:
    first = services.commands.add_car(AddCar(make="Volvo", model="V70", owner="Ann"))
    second = services.commands.add_car(AddCar(make="Saab", model="900", owner="Bob"))
    tokens = f"{first.consistency_token},{second.consistency_token}"
    page = body_of(call(list_cars, "GET", "cars", params={"after": tokens}))
    assert page["freshness"] == "predicted"
    assert {item["carId"] for item in page["items"]} == {first.car_id, second.car_id}
    assert page["carCount"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "201"}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"continuationToken": "nope"}, "continuationToken"),
        ({"after": "not-a-token"}, "after"),
        ({"after": ",".join(consistency_token(str(uuid.uuid4()), 1) for _ in range(21))}, "after"),
    ],
)
def test_bad_list_parameters_are_a_400_problem_naming_the_field(
    services: Services, params: dict[str, str], field: str
) -> None:
    problem = problem_of(call(list_cars, "GET", "cars", params=params), 400)
    assert fields_of(problem) == {field}


def poison(car_id: str) -> Document:
    return {
        "id": f"{car_id}:0000000002",
        "aggregateId": car_id,
        "docType": "event",
        "version": 2,
        "type": "EngineSwapped",
        "schemaVersion": 1,
        "occurredAt": "2026-03-01T10:00:00Z",
        "data": {},
    }


def test_parked_changes_are_listed_for_admins(services: Services) -> None:
    car_id = services.commands.add_car(AddCar(make="Volvo", model="V70", owner="Ann")).car_id
    deliver([*changes_of(services, car_id), poison(car_id)])
    response = call(list_parked, "GET", "manage/parked")
    assert response.status_code == 200
    [parked] = body_of(response)["items"]
    assert parked["documentId"] == f"{car_id}:0000000002"
    assert parked["reason"] == "unknown event type 'EngineSwapped'"
    assert parked["document"]["type"] == "EngineSwapped"
    assert body_of(call(list_cars, "GET", "cars"))["carCount"] == 1


class UnavailableWrites:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def write_shard(self, *args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("throttled")


def test_a_failing_write_fails_the_invocation_until_the_last_retry_which_parks_it(services: Services) -> None:
    car_id = services.commands.add_car(AddCar(make="Volvo", model="V70", owner="Ann")).car_id
    services.projector.views = UnavailableWrites(services.views)  # type: ignore[assignment]
    batch = changes_of(services, car_id)
    with pytest.raises(ProjectionFailed):
        deliver(batch, attempt=MAX_RETRIES - 1)
    assert services.views.list_parked(limit=10) == []

    deliver(batch, attempt=MAX_RETRIES)

    parked = services.views.list_parked(limit=10)
    assert {p["documentId"] for p in parked} == {d["id"] for d in batch}
    assert all("write kept failing after retries: " in p["reason"] for p in parked)


def test_parked_changes_are_listed_per_projection_and_an_unknown_one_is_refused(services: Services) -> None:
    change = {"id": "x:0000000002", "aggregateId": "x", "version": 2, "docType": "event", "type": "?"}
    deliver([change])
    [item] = body_of(call(list_parked, "GET", "manage/parked", params={"projection": "car-list"}))["items"]
    assert (item["projection"], item["documentId"]) == ("car-list", "x:0000000002")
    problem = problem_of(call(list_parked, "GET", "manage/parked", params={"projection": "nope"}), 400)
    assert fields_of(problem) == {"projection"}
