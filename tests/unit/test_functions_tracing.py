"""Commands run under the caller's trace: `traceparent` in, on the events, in the history, and back out.

The functions are called with `func.HttpRequest` objects over a SQLite store, as the worker calls them.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from cartracker.bootstrap import Services
from cartracker.functions import commands
from cartracker.functions.cars import get_car_history
from cartracker.functions.commands import FUNCTIONS, add_car, change_oil
from cartracker.http.tracing import host_traceparent
from cartracker.localhost.index import app_index
from tests.support.functions import BASE, body_of, call, installed, sqlite_services

VOLVO = {"make": "Volvo", "model": "V70", "owner": "Alice"}
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE}-00f067aa0ba902b7-01"
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with installed(sqlite_services(tmp_path / "store.sqlite3")) as services:
        yield services


def trace_of(response: func.HttpResponse) -> tuple[str, str]:
    """(trace id, parent id) of the answer's `traceparent`."""
    match = TRACEPARENT.fullmatch(response.headers["traceparent"])
    assert match is not None, response.headers["traceparent"]
    return match.group(1), match.group(2)


def history(car_id: str) -> list[dict[str, Any]]:
    response = call(get_car_history, "GET", f"cars/{car_id}/events", route_params={"carId": car_id})
    assert response.status_code == 200
    items: list[dict[str, Any]] = body_of(response)["items"]
    return items


def oil_change(car_id: str, mileage: int, **headers: str) -> func.HttpResponse:
    return call(
        change_oil, "POST", f"cars/{car_id}/oil-changes", json_body={"mileage": mileage, "charge": 1},
        headers=headers, route_params={"carId": car_id},
    )  # fmt: skip


def test_a_command_answers_in_the_callers_trace_and_its_events_record_it(services: Services) -> None:
    added = call(add_car, "POST", "cars", json_body=VOLVO, headers={"traceparent": CALLER})
    assert added.status_code == 201
    trace_id, span_id = trace_of(added)
    assert trace_id == TRACE
    assert span_id != "00f067aa0ba902b7"  # a span of its own, a child of the caller's

    car_id = body_of(added)["carId"]
    changed = oil_change(
        car_id, 100, traceparent=f"00-{'a' * 32}-{'b' * 16}-00", **{"Idempotency-Key": "oil-1"}
    )
    assert changed.status_code == 200
    assert trace_of(changed)[0] == "a" * 32
    assert changed.headers["traceparent"].endswith("-00")  # not sampled by the caller: nor by us

    [first, second] = history(car_id)
    assert first["correlationId"] == TRACE
    assert re.fullmatch(r"[0-9a-f]{16}", first["causationId"])  # no key: a random command id
    assert (second["correlationId"], second["causationId"]) == ("a" * 32, "oil-1")
    [doc] = services.events.read_events(car_id, after_version=1)
    assert (doc["correlationId"], doc["causationId"]) == ("a" * 32, "oil-1")
    assert "commandId" not in doc


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="absent"),
        pytest.param({"traceparent": "garbage"}, id="malformed"),
        pytest.param({"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}, id="all-zero-trace-id"),
        pytest.param({"traceparent": f"ff-{TRACE}-00f067aa0ba902b7-01"}, id="version-ff"),
        pytest.param({"traceparent": "x" * 100_000}, id="huge"),
    ],
)
def test_without_a_readable_traceparent_a_command_starts_a_new_trace(
    services: Services, headers: dict[str, str]
) -> None:
    added = call(add_car, "POST", "cars", json_body=VOLVO, headers=headers)
    assert added.status_code == 201
    trace_id, _ = trace_of(added)
    assert trace_id != TRACE
    [item] = history(body_of(added)["carId"])
    assert item["correlationId"] == trace_id


def test_a_refused_command_answers_with_its_traceparent_too(services: Services) -> None:
    car_id = body_of(call(add_car, "POST", "cars", json_body=VOLVO))["carId"]
    assert oil_change(car_id, 100).status_code == 200
    refused = oil_change(car_id, 5, traceparent=CALLER)
    assert refused.status_code == 422
    assert trace_of(refused)[0] == TRACE
    headers = {"traceparent": CALLER, "Content-Type": "application/json"}
    malformed = call(add_car, "POST", "cars", body=b"{", headers=headers)
    assert malformed.status_code == 400
    assert trace_of(malformed)[0] == TRACE


@dataclass
class WorkerTraceContext:
    """The worker's trace context object, as it names its attributes."""

    Traceparent: str  # the worker's names
    Tracestate: str = ""


@dataclass
class WorkerContext:
    trace_context: WorkerTraceContext
    invocation_id: str = "7d3e1c6a-0000-0000-0000-000000000000"


def test_in_azure_a_command_runs_under_the_span_the_host_opened(services: Services) -> None:
    host = f"00-{TRACE}-b7ad6b7169203331-01"  # the host continued the caller's trace in its own span
    request = func.HttpRequest(
        "POST",
        f"{BASE}/cars",
        headers={"Content-Type": "application/json", "traceparent": CALLER},
        body=b'{"make": "Volvo", "model": "V70", "owner": "Alice"}',
    )
    added = add_car(request, context=typing.cast(func.Context, WorkerContext(WorkerTraceContext(host))))
    assert added.status_code == 201
    assert added.headers["traceparent"] == host  # what Application Insights records the request under
    [item] = history(body_of(added)["carId"])
    assert item["correlationId"] == TRACE


def test_a_replayed_command_answers_under_its_own_trace_and_its_events_keep_the_first(
    services: Services,
) -> None:
    car_id = body_of(call(add_car, "POST", "cars", json_body=VOLVO))["carId"]
    key = {"Idempotency-Key": "oil-once"}
    first = oil_change(car_id, 100, traceparent=CALLER, **key)
    again = oil_change(car_id, 100, traceparent=f"00-{'c' * 32}-{'d' * 16}-01", **key)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert trace_of(again)[0] == "c" * 32
    assert body_of(again) == body_of(first)
    [_, oil] = history(car_id)
    assert (oil["correlationId"], oil["causationId"]) == (TRACE, "oil-once")


def test_the_worker_passes_each_command_function_its_invocation_context() -> None:
    # The worker passes the context to a parameter named `context` annotated exactly `func.Context`
    # (it refuses any other annotation), and every other parameter must be a binding.
    indexed = {f.get_function_name(): f.get_user_function() for f in app_index().functions}
    for name in FUNCTIONS:
        function = indexed[name]  # what the worker calls, as it reads it
        assert list(inspect.signature(function).parameters) == ["req", "context"], name
        assert typing.get_type_hints(function)["context"] is func.Context, name
        assert getattr(commands, name) is FUNCTIONS[name]
    served = {function.name for function in app_index().http}
    assert set(FUNCTIONS) <= served


class AbstractNamedTraceContext:
    """A trace context named as azure.functions' abstract class names it (`trace_parent`)."""

    trace_parent = f"00-{TRACE}-b7ad6b7169203331-01"


def test_the_hosts_span_is_read_under_either_name_and_a_missing_one_is_none() -> None:
    host = f"00-{TRACE}-b7ad6b7169203331-01"
    assert host_traceparent(typing.cast(func.Context, WorkerContext(WorkerTraceContext(host)))) == host
    named = typing.cast(func.Context, WorkerContext(typing.cast(Any, AbstractNamedTraceContext())))
    assert host_traceparent(named) == host
    assert host_traceparent(None) is None
    assert host_traceparent(typing.cast(func.Context, WorkerContext(WorkerTraceContext("")))) is None
