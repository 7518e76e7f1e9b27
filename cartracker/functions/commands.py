"""The command routes: add a car, then one function per command on it, registered from the catalog.

Each declared command gets a function named as its entry (`change_oil`), so the
Functions host lists and logs it by that name; `from cartracker.functions.commands
import change_oil` finds it too (tests and benchmarks call the functions directly).
Each runs under the request's trace (`http.tracing`): its trace id becomes the events'
`correlationId`, and every answer carries its `traceparent`.
"""

from __future__ import annotations

from collections.abc import Callable

import azure.functions as func

from cartracker import bootstrap
from cartracker.domain.catalog import ADD_CAR, ON_A_CAR, CommandEntry
from cartracker.domain.commands import AddCar
from cartracker.http import commands as http
from cartracker.http.problems import problem_boundary
from cartracker.http.requests import car_id_param, command_body, expected_version, idempotency_key
from cartracker.http.responses import car_location, command_response
from cartracker.http.tracing import traced
from cartracker.tracing import TraceContext

Function = Callable[[func.HttpRequest], func.HttpResponse]

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated


@bp.route(route=http.route(ADD_CAR), methods=["POST"])
@traced
@problem_boundary
def add_car(req: func.HttpRequest, trace: TraceContext) -> func.HttpResponse:
    command = command_body(req, AddCar)
    result = bootstrap.services().commands.add_car(
        command, idempotency_key=idempotency_key(req), correlation_id=trace.trace_id
    )
    # A replayed add answers 201 again: the client sees the first outcome, whatever it retried.
    location = car_location(req, result.car_id)
    return command_response(result, status=http.status(ADD_CAR), location=location)


def register(blueprint: func.Blueprint, entry: CommandEntry) -> Function:
    """Register the HTTP function of a command on a car, named after its entry, on `blueprint`."""

    def function(req: func.HttpRequest, trace: TraceContext) -> func.HttpResponse:
        car_id = car_id_param(req)
        command = command_body(req, entry.command)
        result = bootstrap.services().commands.execute(
            car_id,
            command,
            expected_version=expected_version(req),
            idempotency_key=idempotency_key(req),
            correlation_id=trace.trace_id,
        )
        return command_response(result, status=http.status(entry))

    # The host names a function after the Python function it wraps, and names must be unique.
    function.__name__ = function.__qualname__ = entry.name
    function.__doc__ = f"{entry.summary}: POST {http.route(entry)}."
    decorate = blueprint.route(route=http.route(entry), methods=["POST"])
    registered: Function = decorate(traced(problem_boundary(function)))
    return registered


FUNCTIONS: dict[str, Function] = {
    ADD_CAR.name: add_car,
    **{entry.name: register(bp, entry) for entry in ON_A_CAR},
}


def __getattr__(name: str) -> Function:
    """`change_oil`, `inspect_brakes`, ...: the functions registered from the catalog, by name."""
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
