"""Each command is declared once, in the catalog, and every list of commands is derived from it.

The app's own lists (functions, routes, spec operations, links, event types, the
fault matrix, the benchmark mix, the page's forms) hold exactly the declared
commands, so a list written by hand fails here as soon as a command is added.
Each declared example is accepted and records its declared event, so a missing
`decide` case fails too. And a sixth command, declared only in a throwaway
catalog, is picked up by every derivation: served under its route, documented,
linked from every command's answer.
"""

from __future__ import annotations

import importlib
import inspect
from datetime import UTC, datetime
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from pydantic import Field

from bench import commands as bench
from cartracker.domain import commands as domain_commands
from cartracker.domain.car import decide, evolve
from cartracker.domain.catalog import ADD_CAR, COMMANDS, ON_A_CAR, CommandEntry
from cartracker.domain.commands import Command
from cartracker.domain.events import EVENT_TYPES, CarAdded, Event
from cartracker.domain.money import Charge
from cartracker.functions import commands as functions
from cartracker.functions.cars import get_car_history
from cartracker.http import commands as http
from cartracker.http.openapi import ROUTES, build_document, car_links, command_routes, openapi_document
from cartracker.http.schemas import HistoryItem
from cartracker.localhost.index import app_index
from tests.support.functions import body_of, call, installed, problem_of, sqlite_services

READS = {"get_car", "get_car_history"}
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CAR_ID = "0b8f1f0e-3c1a-4a57-9d5e-2f1f6f3e9a10"


class WashCar(Command):
    """A sixth command, declared here only."""

    charge_cents: Charge = Field(alias="charge")


class CarWashed(Event):
    charge_cents: int


WASH = CommandEntry(WashCar, CarWashed, "washes", "Record a car wash", {"charge": "9.99"})
SIX = (*COMMANDS, WASH)


# --- the app's lists hold exactly the declared commands ---------------------------------------------


def test_every_command_class_is_declared_once() -> None:
    defined = [
        cls
        for _, cls in inspect.getmembers(domain_commands, inspect.isclass)
        if issubclass(cls, Command) and cls is not Command and cls.__module__ == domain_commands.__name__
    ]
    declared = [entry.command for entry in COMMANDS]
    assert sorted(declared, key=str) == sorted(defined, key=str)
    assert len({entry.name for entry in COMMANDS}) == len({entry.slug for entry in COMMANDS}) == len(COMMANDS)


def test_every_event_type_is_recorded_by_exactly_one_declared_command() -> None:
    recorded = [entry.event for entry in COMMANDS]
    assert sorted(recorded, key=str) == sorted(EVENT_TYPES.values(), key=str)


def test_every_example_is_a_valid_command() -> None:
    for entry in COMMANDS:
        entry.command.model_validate(entry.example)


def test_every_declared_command_is_an_http_function_on_its_route() -> None:
    served = {f.name: (f.route.text, f.methods, f.auth_level) for f in app_index().http}
    expected = {entry.name: (http.route(entry), {"POST"}, "function") for entry in COMMANDS}
    assert {name: served.get(name) for name in expected} == expected
    posts_on_cars = {
        name for name, (route, methods, _) in served.items() if route.startswith("cars") and "POST" in methods
    }
    assert posts_on_cars == set(expected)
    assert [getattr(functions, entry.name) for entry in COMMANDS] == list(functions.FUNCTIONS.values())


def test_every_declared_command_is_a_documented_operation() -> None:
    paths = openapi_document()["paths"]
    for entry in COMMANDS:
        operation = paths[f"/{http.route(entry)}"]["post"]
        assert (operation["operationId"], operation["summary"]) == (entry.name, entry.summary)
        body = operation["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": f"#/components/schemas/{entry.command.__name__}"}
        assert body["example"] == entry.example
        assert str(http.status(entry)) in operation["responses"]
    documented = {route.operation_id for route in ROUTES if route.tag == "commands"}
    assert documented == {entry.name for entry in COMMANDS}


def test_every_command_answer_links_to_the_car_and_every_command_on_it() -> None:
    spec = openapi_document()
    operations = {op["operationId"] for ops in spec["paths"].values() for op in ops.values()}
    for entry in COMMANDS:
        answer = spec["paths"][f"/{http.route(entry)}"]["post"]["responses"][str(http.status(entry))]
        linked = {link["operationId"] for link in answer["links"].values()}
        assert linked == READS | {e.name for e in ON_A_CAR}, entry.name
        assert linked <= operations


def test_the_history_publishes_every_event_type() -> None:
    published = HistoryItem.model_json_schema(by_alias=True)["properties"]["type"]["enum"]
    assert published == list(EVENT_TYPES)


def test_the_fault_matrix_covers_every_command_on_a_car() -> None:
    faults = importlib.import_module("tests.integration.test_http_under_faults")
    assert list(faults.ROUTES) == [entry.slug for entry in ON_A_CAR]


def test_the_benchmark_mix_has_a_body_for_every_command_on_a_car() -> None:
    slugs = [entry.slug for entry in ON_A_CAR]
    assert list(bench.ROUTES) == slugs
    assert [c.route for c in bench.command_mix(["car"], len(slugs))] == slugs


def test_every_command_s_example_records_its_declared_event() -> None:
    car = evolve(None, CarAdded(make="Volvo", model="V70", owner="Alice", occurred_at=NOW), car_id=CAR_ID)
    for entry in ON_A_CAR:
        events = decide(car, entry.command.model_validate(entry.example), NOW, car_id=CAR_ID)
        assert [type(event) for event in events] == [entry.event], entry.name


def test_every_command_s_example_is_applied_over_http_and_shows_in_the_history(tmp_path: Path) -> None:
    with installed(sqlite_services(tmp_path / "examples.sqlite3")):
        added = call(functions.add_car, "POST", http.route(ADD_CAR), json_body=ADD_CAR.example)
        assert added.status_code == http.status(ADD_CAR), added.get_body()
        car_id = body_of(added)["carId"]
        for entry in ON_A_CAR:
            path = http.route(entry).replace("{carId}", car_id)
            answer = call(
                functions.FUNCTIONS[entry.name], "POST", path, json_body=entry.example,
                route_params={"carId": car_id},
            )  # fmt: skip
            assert answer.status_code == http.status(entry), (entry.name, answer.get_body())
        history = call(get_car_history, "GET", f"cars/{car_id}/events", route_params={"carId": car_id})
    recorded = [item["type"] for item in body_of(history)["items"]]
    assert recorded == [entry.event.__name__ for entry in COMMANDS]


class _Forms(HTMLParser):
    """The page's command forms: id -> (data-path, the names of its inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, tuple[str | None, set[str]]] = {}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and "command" in (a.get("class") or "").split():
            self._open = a["id"]
            assert self._open is not None
            self.forms[self._open] = (a.get("data-path"), set())
        elif tag in {"input", "select", "textarea"} and self._open and a.get("name"):
            self.forms[self._open][1].add(str(a["name"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def test_the_page_has_a_form_for_every_declared_command_with_its_fields() -> None:
    parser = _Forms()
    parser.feed(resources.files("cartracker.ui").joinpath("static", "index.html").read_text())
    expected = {
        entry.name.replace("_", "-"): (
            None if entry is ADD_CAR else entry.slug,
            {field.alias or name for name, field in entry.command.model_fields.items()},
        )
        for entry in COMMANDS
    }
    assert parser.forms == expected


# --- a sixth command, declared in a throwaway catalog, reaches every derivation ---------------------


def test_a_sixth_command_is_documented_with_its_route_body_example_and_links() -> None:
    spec = build_document(tuple(command_routes(SIX)))
    operation = spec["paths"]["/cars/{carId}/washes"]["post"]
    assert (operation["operationId"], operation["summary"]) == ("wash_car", "Record a car wash")
    assert operation["requestBody"]["content"]["application/json"]["example"] == {"charge": "9.99"}
    assert spec["components"]["schemas"]["WashCar"]["properties"]["charge"]
    assert set(operation["responses"]) >= {"200", "404", "412", "422"}
    for path, operations in spec["paths"].items():
        links = operations["post"]["responses"]["201" if path == "/cars" else "200"]["links"]
        assert links["WashCar"]["operationId"] == "wash_car", path
    assert car_links(SIX).keys() - car_links(COMMANDS).keys() == {"WashCar"}


def test_a_sixth_command_is_registered_as_a_function_of_its_name_and_route() -> None:
    blueprint = func.Blueprint()  # type: ignore[no-untyped-call]
    functions.register(blueprint, WASH)
    app = func.FunctionApp()  # type: ignore[no-untyped-call]
    app.register_functions(blueprint)
    [function] = app.get_functions()
    trigger = function.get_trigger()
    assert function.get_function_name() == "wash_car"
    assert (trigger.route, [str(m.value) for m in trigger.methods]) == ("cars/{carId}/washes", ["POST"])


def test_a_sixth_command_s_function_reads_its_body_and_reaches_the_service(tmp_path: Path) -> None:
    wash = functions.register(func.Blueprint(), WASH)  # type: ignore[no-untyped-call]
    route: dict[str, Any] = {"route_params": {"carId": CAR_ID}}
    with installed(sqlite_services(tmp_path / "six.sqlite3")):
        refused = call(wash, "POST", f"cars/{CAR_ID}/washes", json_body={"charge": "1.234"}, **route)
        missing = call(wash, "POST", f"cars/{CAR_ID}/washes", json_body=WASH.example, **route)
    assert problem_of(refused, 400)["errors"][0]["field"] == "charge"
    assert problem_of(missing, 404)  # the service loaded the car; `decide` is what remains to write


def test_the_benchmark_refuses_a_command_it_has_no_body_for() -> None:
    with pytest.raises(LookupError, match="WashCar"):
        bench.bodies((*ON_A_CAR, WASH))
