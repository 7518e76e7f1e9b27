"""Finding 1 of the adversarial review, through the function layer: a keyed retry is never applied twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cartracker.bootstrap import Services
from cartracker.functions.commands import add_car, inspect_brakes, replace_tires
from tests.support.functions import body_of, call, installed, sqlite_services

VOLVO = {"make": "Volvo", "model": "V70", "owner": "Alice"}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with installed(sqlite_services(tmp_path / "store.sqlite3")) as services:
        yield services


def post(function: Any, path: str, body: dict[str, Any], key: str, car_id: str | None = None) -> Any:
    route = {"carId": car_id} if car_id else None
    return call(function, "POST", path, json_body=body, headers={"Idempotency-Key": key}, route_params=route)


def test_a_tire_replacement_retried_after_ten_keyed_inspections_is_charged_once(services: Services) -> None:
    car_id = body_of(call(add_car, "POST", "cars", json_body=VOLVO))["carId"]
    tires = {"numberOfTiresReplaced": 4, "charge": "500.00"}
    first = post(replace_tires, f"cars/{car_id}/tire-replacements", tires, "tires", car_id)
    for mileage in range(10):
        inspection = {"mileage": mileage, "remainingPad": 80}
        answer = post(
            inspect_brakes, f"cars/{car_id}/brake-inspections", inspection, f"brakes-{mileage}", car_id
        )
        assert answer.status_code == 200
    retry = post(replace_tires, f"cars/{car_id}/tire-replacements", tires, "tires", car_id)
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert body_of(retry) == body_of(first)
    assert services.queries.car(car_id).total_charges_cents == 500_00
    assert services.queries.car(car_id).version == 12


def test_a_keyed_add_car_retried_after_eleven_keyed_commands_answers_201_again(services: Services) -> None:
    first = post(add_car, "cars", VOLVO, "add-once")
    assert first.status_code == 201
    car_id = body_of(first)["carId"]
    for mileage in range(11):
        inspection = {"mileage": mileage, "remainingPad": 80}
        post(inspect_brakes, f"cars/{car_id}/brake-inspections", inspection, f"b-{mileage}", car_id)
    retry = post(add_car, "cars", VOLVO, "add-once")
    assert retry.status_code == 201, retry.get_body()
    assert retry.headers["Location"] == first.headers["Location"]
    assert body_of(retry) == body_of(first)
    assert services.queries.car(car_id).version == 12


def test_a_keyed_retry_with_another_body_is_422_whatever_came_between(services: Services) -> None:
    car_id = body_of(call(add_car, "POST", "cars", json_body=VOLVO))["carId"]
    post(
        replace_tires,
        f"cars/{car_id}/tire-replacements",
        {"numberOfTiresReplaced": 1, "charge": "1"},
        "k",
        car_id,
    )
    for mileage in range(12):
        post(
            inspect_brakes,
            f"cars/{car_id}/brake-inspections",
            {"mileage": mileage, "remainingPad": 9},
            f"{mileage}",
            car_id,
        )
    other = post(
        replace_tires,
        f"cars/{car_id}/tire-replacements",
        {"numberOfTiresReplaced": 2, "charge": "1"},
        "k",
        car_id,
    )
    assert other.status_code == 422
    assert other.mimetype == "application/problem+json"
    assert body_of(other)["errors"][0]["field"] == "Idempotency-Key"
