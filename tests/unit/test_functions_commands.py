"""The command functions, called with `func.HttpRequest` objects over a SQLite store (no server)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cartracker.bootstrap import Services
from cartracker.errors import ConcurrencyConflict, StoreUnavailable
from cartracker.functions.commands import add_car, change_oil, change_owner, inspect_brakes, replace_tires
from tests.support.functions import body_of, call, fields_of, installed, problem_of, sqlite_services

VOLVO = {"make": "Volvo", "model": "V70", "owner": "Alice"}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with installed(sqlite_services(tmp_path / "store.sqlite3")) as services:
        yield services


def new_car(**headers: str) -> dict[str, Any]:
    response = call(add_car, "POST", "cars", json_body=VOLVO, headers=headers)
    assert response.status_code == 201, response.get_body()
    answer: dict[str, Any] = body_of(response)
    return answer


def oil_change(car_id: str, body: Any, **headers: str) -> Any:
    return call(
        change_oil, "POST", f"cars/{car_id}/oil-changes", json_body=body, headers=headers,
        route_params={"carId": car_id},
    )  # fmt: skip


def test_adding_a_car_answers_201_with_its_location_etag_and_state(services: Services) -> None:
    response = call(add_car, "POST", "cars", json_body={"make": " Volvo ", "model": "V70", "owner": "Alice"})

    assert response.status_code == 201
    answer = body_of(response)
    car_id = answer["carId"]
    assert uuid.UUID(car_id)
    assert response.headers["Location"] == f"http://localhost:7071/api/cars/{car_id}"
    assert response.headers["ETag"] == '"1"'
    assert answer["version"] == 1
    assert answer["consistencyToken"]
    assert answer["car"]["make"] == "Volvo"
    assert answer["car"]["totalCharges"] == "0.00"
    assert answer["car"]["lastMileage"] is None


def test_each_service_command_moves_the_car_one_version_on(services: Services) -> None:
    car_id = new_car()["carId"]
    route = {"carId": car_id}
    answers = [
        oil_change(car_id, {"mileage": 1000, "charge": 49.99}),
        call(inspect_brakes, "POST", f"cars/{car_id}/brake-inspections",
             json_body={"mileage": 1200, "remainingPad": 60}, route_params=route),
        call(replace_tires, "POST", f"cars/{car_id}/tire-replacements",
             json_body={"numberOfTiresReplaced": 4, "charge": "400.01"}, route_params=route),
        call(change_owner, "POST", f"cars/{car_id}/owner-changes",
             json_body={"newOwner": "Bob"}, route_params=route),
    ]  # fmt: skip

    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert [body_of(a)["version"] for a in answers] == [2, 3, 4, 5]
    assert [a.headers["ETag"] for a in answers] == ['"2"', '"3"', '"4"', '"5"']
    car = body_of(answers[-1])["car"]
    assert car["totalCharges"] == "450.00"
    assert (car["lastMileage"], car["lastRemainingPad"], car["tiresReplaced"]) == (1200, 60, 4)
    assert (car["owner"], car["ownerChanges"], car["oilChanges"], car["brakeInspections"]) == ("Bob", 1, 1, 1)


def test_an_unknown_field_is_refused_by_name(services: Services) -> None:
    response = call(add_car, "POST", "cars", json_body={**VOLVO, "colour": "red"})

    problem = problem_of(response, 400)
    assert fields_of(problem) == {"colour"}
    assert problem["type"] == "urn:cartracker:problem:invalid-request"


def test_every_invalid_field_is_listed_with_its_reason(services: Services) -> None:
    car_id = new_car()["carId"]
    problem = problem_of(oil_change(car_id, {"mileage": -1, "charge": "1.234"}), 400)

    reasons = {e["field"]: e["message"] for e in problem["errors"]}
    assert set(reasons) == {"mileage", "charge"}
    assert "at most 2 decimal places" in reasons["charge"]


def test_a_missing_field_is_named(services: Services) -> None:
    problem = problem_of(call(add_car, "POST", "cars", json_body={"make": "Volvo", "model": "V70"}), 400)
    assert fields_of(problem) == {"owner"}


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"make": NaN}', b"[" * 5000 + b"]" * 5000, b"\xff\xfe", b""],
    ids=["truncated", "nan", "deeply-nested", "not-utf8", "empty"],
)
def test_a_body_that_is_not_json_is_400(services: Services, body: bytes) -> None:
    response = call(add_car, "POST", "cars", body=body, headers={"Content-Type": "application/json"})
    assert fields_of(problem_of(response, 400)) == {"body"}


def test_json_that_is_not_an_object_is_400(services: Services) -> None:
    problem_of(call(add_car, "POST", "cars", json_body=["Volvo"]), 400)


def test_a_body_over_64_kib_is_413(services: Services) -> None:
    response = call(add_car, "POST", "cars", json_body={**VOLVO, "make": "x" * 70_000})
    assert fields_of(problem_of(response, 413)) == {"body"}


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_declared_as_json_is_415(services: Services, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = call(add_car, "POST", "cars", body=b'{"make": "Volvo"}', headers=headers)
    assert fields_of(problem_of(response, 415)) == {"Content-Type"}


def test_json_with_a_charset_or_a_json_suffix_is_accepted(services: Services) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = call(add_car, "POST", "cars", json_body=VOLVO, headers={"Content-Type": content_type})
        assert response.status_code == 201


@pytest.mark.parametrize("car_id", ["not-a-uuid", "1234", "00000000-0000-0000-0000-00000000000g"])
def test_a_car_id_that_is_not_a_uuid_is_400(services: Services, car_id: str) -> None:
    assert fields_of(problem_of(oil_change(car_id, {"mileage": 1, "charge": 1}), 400)) == {"carId"}


def test_a_command_on_an_unknown_car_is_404(services: Services) -> None:
    problem = problem_of(oil_change(str(uuid.uuid4()), {"mileage": 1, "charge": 1}), 404)
    assert fields_of(problem) == {"carId"}


def test_an_upper_case_car_id_finds_the_car(services: Services) -> None:
    car_id = new_car()["carId"]
    assert oil_change(car_id.upper(), {"mileage": 1, "charge": 1}).status_code == 200


def test_mileage_below_the_last_recorded_is_422(services: Services) -> None:
    car_id = new_car()["carId"]
    oil_change(car_id, {"mileage": 5000, "charge": 1})

    problem = problem_of(oil_change(car_id, {"mileage": 4999, "charge": 1}), 422)
    assert fields_of(problem) == {"mileage"}
    assert "below the last recorded mileage 5000" in problem["detail"]


def test_a_stale_if_match_is_412_with_the_current_version(services: Services) -> None:
    car_id = new_car()["carId"]
    oil_change(car_id, {"mileage": 10, "charge": 1})

    problem = problem_of(oil_change(car_id, {"mileage": 20, "charge": 1}, **{"If-Match": '"1"'}), 412)
    assert problem["currentVersion"] == 2
    assert fields_of(problem) == {"If-Match"}
    assert oil_change(car_id, {"mileage": 20, "charge": 1}, **{"If-Match": '"2"'}).status_code == 200


@pytest.mark.parametrize("if_match", ["2", '"0"', '"two"', 'W/"two"', "", '*, "2"'])
def test_a_malformed_if_match_is_400(services: Services, if_match: str) -> None:
    car_id = new_car()["carId"]
    problem = problem_of(oil_change(car_id, {"mileage": 1, "charge": 1}, **{"If-Match": if_match}), 400)
    assert fields_of(problem) == {"If-Match"}


def test_if_match_takes_a_list_of_etags_and_never_matches_a_weak_one(services: Services) -> None:
    car_id = new_car()["carId"]
    assert oil_change(car_id, {"mileage": 10, "charge": 1}, **{"If-Match": '"3", "1"'}).status_code == 200

    problem = problem_of(oil_change(car_id, {"mileage": 20, "charge": 1}, **{"If-Match": 'W/"2"'}), 412)
    assert problem["currentVersion"] == 2
    assert oil_change(car_id, {"mileage": 20, "charge": 1}, **{"If-Match": "*"}).status_code == 200


def test_a_replayed_command_returns_the_first_outcome_without_a_new_event(services: Services) -> None:
    car_id = new_car()["carId"]
    key = {"Idempotency-Key": f"oil-{uuid.uuid4()}"}
    first = oil_change(car_id, {"mileage": 10, "charge": "9.99"}, **key)
    again = oil_change(car_id, {"mileage": 10, "charge": "9.99"}, **key)

    assert (first.status_code, again.status_code) == (200, 200)
    assert body_of(again) == body_of(first)
    assert [d["version"] for d in services.events.read_events(car_id)] == [1, 2]


def test_a_replayed_add_answers_201_for_the_same_car(services: Services) -> None:
    key = {"Idempotency-Key": f"add-{uuid.uuid4()}"}
    first, again = new_car(**key), new_car(**key)
    assert again == first


def test_an_idempotency_key_reused_with_another_payload_is_422(services: Services) -> None:
    car_id = new_car()["carId"]
    key = {"Idempotency-Key": f"oil-{uuid.uuid4()}"}
    oil_change(car_id, {"mileage": 10, "charge": 1}, **key)

    problem = problem_of(oil_change(car_id, {"mileage": 11, "charge": 1}, **key), 422)
    assert problem["type"] == "urn:cartracker:problem:idempotency-key-reused"
    assert fields_of(problem) == {"Idempotency-Key"}


@pytest.mark.parametrize("key", ["", "x" * 201, "caf\u00e9", "tab\there"])
def test_a_malformed_idempotency_key_is_400(services: Services, key: str) -> None:
    response = call(add_car, "POST", "cars", json_body=VOLVO, headers={"Idempotency-Key": key})
    assert fields_of(problem_of(response, 400)) == {"Idempotency-Key"}


def test_a_conflict_that_outlives_the_retries_is_409(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    car_id = new_car()["carId"]

    def always_conflicts(*args: object, **kwargs: object) -> str:
        raise ConcurrencyConflict(f"car {car_id} was changed by another writer")

    monkeypatch.setattr(services.events, "append", always_conflicts)
    problem = problem_of(oil_change(car_id, {"mileage": 1, "charge": 1}), 409)
    assert "retry" in problem["detail"]


def test_an_unavailable_store_is_503_with_retry_after(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def throttled(*args: object, **kwargs: object) -> str:
        raise StoreUnavailable("Cosmos DB answered 429; try again shortly", retry_after_seconds=3)

    monkeypatch.setattr(services.events, "append", throttled)
    response = call(add_car, "POST", "cars", json_body=VOLVO)
    problem_of(response, 503)
    assert response.headers["Retry-After"] == "3"


def test_a_bug_is_a_500_problem_and_its_traceback_is_logged(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise KeyError("a bug")

    monkeypatch.setattr(services.events, "append", broken)
    with caplog.at_level(logging.ERROR):
        response = call(add_car, "POST", "cars", json_body=VOLVO)

    problem = problem_of(response, 500)
    assert "a bug" not in problem["detail"]  # internals stay in the log
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError


def test_a_whole_number_written_with_a_fraction_is_an_integer_as_json_schema_says(services: Services) -> None:
    car_id = new_car()["carId"]
    response = call(
        change_oil, "POST", f"cars/{car_id}/oil-changes", route_params={"carId": car_id},
        body=b'{"mileage": 1.0e3, "charge": 49.99}', headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert body_of(response)["car"]["lastMileage"] == 1000
    assert body_of(response)["car"]["totalCharges"] == "49.99"
    problem = problem_of(oil_change(car_id, {"mileage": 1000.5, "charge": 1}), 400)
    assert fields_of(problem) == {"mileage"}
