"""The command routes: add a car, then record services and owner changes on it."""

from __future__ import annotations

import azure.functions as func

from cartracker import bootstrap
from cartracker.domain.commands import AddCar, CarCommand, ChangeOil, ChangeOwner, InspectBrakes, ReplaceTires
from cartracker.http.problems import problem_boundary
from cartracker.http.requests import car_id_param, command_body, expected_version, idempotency_key
from cartracker.http.responses import car_location, command_response

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated


@bp.route(route="cars", methods=["POST"])
@problem_boundary
def add_car(req: func.HttpRequest) -> func.HttpResponse:
    command = command_body(req, AddCar)
    result = bootstrap.services().commands.add_car(command, idempotency_key=idempotency_key(req))
    # A replayed add answers 201 again: the client sees the first outcome, whatever it retried.
    return command_response(result, status=201, location=car_location(req, result.car_id))


@bp.route(route="cars/{carId}/oil-changes", methods=["POST"])
@problem_boundary
def change_oil(req: func.HttpRequest) -> func.HttpResponse:
    return _execute(req, ChangeOil)


@bp.route(route="cars/{carId}/brake-inspections", methods=["POST"])
@problem_boundary
def inspect_brakes(req: func.HttpRequest) -> func.HttpResponse:
    return _execute(req, InspectBrakes)


@bp.route(route="cars/{carId}/tire-replacements", methods=["POST"])
@problem_boundary
def replace_tires(req: func.HttpRequest) -> func.HttpResponse:
    return _execute(req, ReplaceTires)


@bp.route(route="cars/{carId}/owner-changes", methods=["POST"])
@problem_boundary
def change_owner(req: func.HttpRequest) -> func.HttpResponse:
    return _execute(req, ChangeOwner)


def _execute(req: func.HttpRequest, command_type: type[CarCommand]) -> func.HttpResponse:
    car_id = car_id_param(req)
    command = command_body(req, command_type)
    result = bootstrap.services().commands.execute(
        car_id, command, expected_version=expected_version(req), idempotency_key=idempotency_key(req)
    )
    return command_response(result)
