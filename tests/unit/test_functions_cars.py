"""The realtime read functions, called with `func.HttpRequest` objects over a SQLite store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest

from cartracker.bootstrap import Services
from cartracker.domain.commands import AddCar, ChangeOil, ReplaceTires
from cartracker.functions.cars import get_car, get_car_history
from tests.support.functions import body_of, call, fields_of, installed, problem_of, sqlite_services


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with installed(sqlite_services(tmp_path / "store.sqlite3")) as services:
        yield services


def a_car_with_history(services: Services, oil_changes: int = 0) -> str:
    car_id = services.commands.add_car(AddCar(make="Volvo", model="V70", owner="Alice")).car_id
    for mileage in range(oil_changes):
        services.commands.execute(car_id, ChangeOil(mileage=mileage, charge="10.05"))
    return car_id


def read_car(car_id: str, **headers: str) -> func.HttpResponse:
    return call(get_car, "GET", f"cars/{car_id}", headers=headers, route_params={"carId": car_id})


def read_history(car_id: str, **params: str) -> func.HttpResponse:
    return call(
        get_car_history, "GET", f"cars/{car_id}/events", params=params, route_params={"carId": car_id}
    )


def test_a_car_reads_with_its_version_as_etag(services: Services) -> None:
    car_id = a_car_with_history(services, oil_changes=2)

    response = read_car(car_id)

    assert response.status_code == 200
    assert response.headers["ETag"] == '"3"'
    car = body_of(response)
    assert car["carId"] == car_id
    assert car["version"] == 3
    assert car["totalCharges"] == "20.10"
    assert set(car) == {
        "carId", "version", "make", "model", "owner", "addedAt", "updatedAt", "lastMileage", "lastServiced",
        "totalCharges", "oilChanges", "brakeInspections", "lastRemainingPad", "tiresReplaced", "ownerChanges",
        "lastOilChange", "freshness",
    }  # fmt: skip
    assert car["freshness"] == "realtime"
    assert response.headers["Cache-Control"] == "no-cache"
    assert car["lastOilChange"] == {"at": car["lastServiced"], "mileage": 1}


def test_a_car_never_oil_changed_shows_no_last_oil_change(services: Services) -> None:
    car_id = a_car_with_history(services)

    assert body_of(read_car(car_id))["lastOilChange"] is None


def test_if_none_match_with_the_current_etag_is_304_without_a_body(services: Services) -> None:
    car_id = a_car_with_history(services)

    response = read_car(car_id, **{"If-None-Match": '"1"'})

    assert response.status_code == 304
    assert response.get_body() == b""
    assert response.headers["ETag"] == '"1"'


def test_if_none_match_with_an_old_etag_returns_the_car(services: Services) -> None:
    car_id = a_car_with_history(services, oil_changes=1)
    assert read_car(car_id, **{"If-None-Match": 'W/"1", "0"'}).status_code == 200
    assert read_car(car_id, **{"If-None-Match": 'W/"1", W/"2"'}).status_code == 304


def test_an_unknown_car_is_404_and_a_bad_id_400(services: Services) -> None:
    assert fields_of(problem_of(read_car(str(uuid.uuid4())), 404)) == {"carId"}
    assert fields_of(problem_of(read_car("42"), 400)) == {"carId"}
    assert fields_of(problem_of(read_history(str(uuid.uuid4())), 404)) == {"carId"}


def test_history_pages_through_every_event_in_order(services: Services) -> None:
    car_id = a_car_with_history(services, oil_changes=4)
    versions, pages, token = [], 0, None
    while True:
        params = {"pageSize": "2"} if token is None else {"pageSize": "2", "continuationToken": token}
        page = body_of(read_history(car_id, **params))
        versions += [item["version"] for item in page["items"]]
        pages += 1
        token = page["continuationToken"]
        if token is None:
            break
    assert versions == [1, 2, 3, 4, 5]
    assert pages == 3


def test_history_shows_charges_as_two_decimal_strings(services: Services) -> None:
    car_id = a_car_with_history(services, oil_changes=1)
    services.commands.execute(car_id, ReplaceTires(numberOfTiresReplaced=2, charge=0.1))

    items = body_of(read_history(car_id))["items"]

    assert [i["type"] for i in items] == ["CarAdded", "OilChanged", "TiresReplaced"]
    assert items[0]["data"] == {"make": "Volvo", "model": "V70", "owner": "Alice"}
    assert items[1]["data"] == {"mileage": 0, "charge": "10.05"}
    assert items[2]["data"] == {"numberOfTiresReplaced": 2, "charge": "0.10"}
    assert all(i["occurredAt"].endswith("Z") for i in items)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "201"}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"continuationToken": "not-a-token"}, "continuationToken"),
        ({"continuationToken": "YWZ0ZXI6MA"}, "continuationToken"),  # "after:0"
    ],
)
def test_bad_paging_parameters_are_400(services: Services, params: dict[str, str], field: str) -> None:
    car_id = a_car_with_history(services)
    assert fields_of(problem_of(read_history(car_id, **params), 400)) == {field}
