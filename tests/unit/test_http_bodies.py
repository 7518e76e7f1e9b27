"""The bodies built without their pydantic models hold to those models, as openapi.json documents them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pydantic_core
from hypothesis import given
from hypothesis import strategies as st

from cartracker.domain.car import Car
from cartracker.domain.money import format_cents
from cartracker.http.responses import car_detail, car_view, command_response
from cartracker.http.schemas import CarDetailView, CarView, CommandResponse
from cartracker.service.commands import CommandResult

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
counts = st.integers(min_value=0, max_value=10**6)
texts = st.text(min_size=1, max_size=40)
cars = st.fixed_dictionaries(
    {
        "car_id": st.uuids().map(str),
        "version": st.integers(min_value=1, max_value=10**6),
        "make": texts,
        "model": texts,
        "owner": texts,
        "added_at": moments,
        "updated_at": moments,
        "last_mileage": st.none() | counts,
        "last_serviced": st.none() | moments,
        "total_charges_cents": st.integers(min_value=-(10**12), max_value=10**12),
        "oil_changes": counts,
        "brake_inspections": counts,
        "last_remaining_pad": st.none() | st.integers(min_value=0, max_value=100),
        "tires_replaced": counts,
        "owner_changes": counts,
    }
).map(lambda fields: Car(**fields))


@given(cars)
def test_the_car_view_is_a_car_view_of_that_car(car: Car) -> None:
    body = json.loads(command_response(CommandResult(car=car)).get_body())["car"]

    view = CarView.model_validate(body)
    assert set(body) == {field.alias for field in CarView.model_fields.values()}, "every field, nothing more"
    # Sent exactly as the model would send it (datetimes included), field by field the car's own values.
    assert json.loads(view.model_dump_json(by_alias=True)) == body
    for name in CarView.model_fields:
        if name != "total_charges":
            assert getattr(view, name) == getattr(car, name), name
    assert view.total_charges == format_cents(car.total_charges_cents)


@given(cars, st.sampled_from(["realtime", "historical"]))
def test_a_car_read_is_a_car_detail_view_the_car_view_and_its_freshness(car: Car, freshness: str) -> None:
    body = json.loads(pydantic_core.to_json(car_detail(car, freshness)))  # type: ignore[arg-type]

    view = CarDetailView.model_validate(body)
    assert set(body) == {field.alias for field in CarDetailView.model_fields.values()}, (
        "every field, nothing more"
    )
    assert json.loads(view.model_dump_json(by_alias=True)) == body
    assert {key: value for key, value in body.items() if key != "freshness"} == json.loads(
        pydantic_core.to_json(car_view(car))
    )
    assert view.freshness == freshness


@given(cars)
def test_a_command_answer_is_a_command_response(car: Car) -> None:
    response = command_response(CommandResult(car=car), status=201, location="http://host/api/cars/x")
    body = json.loads(response.get_body())

    answer = CommandResponse.model_validate(body)
    assert json.loads(answer.model_dump_json(by_alias=True)) == body
    assert (answer.car_id, answer.version) == (car.car_id, car.version)
    assert answer.consistency_token == CommandResult(car=car).consistency_token
    assert answer.car == CarView.model_validate(car_view(car))
    assert response.status_code == 201
    assert response.headers["ETag"] == f'"{car.version}"'
    assert response.headers["Location"] == "http://host/api/cars/x"
    assert response.mimetype == "application/json"


def test_a_car_without_services_has_nulls_where_nothing_was_recorded() -> None:
    now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    car = Car(
        car_id=str(uuid.uuid4()),
        version=1,
        make="Volvo",
        model="V70",
        owner="Ann",
        added_at=now,
        updated_at=now,
    )

    body = json.loads(command_response(CommandResult(car=car)).get_body())["car"]

    assert (body["lastMileage"], body["lastServiced"], body["lastRemainingPad"]) == (None, None, None)
    assert (body["addedAt"], body["totalCharges"]) == ("2026-03-01T09:30:00Z", "0.00")
