"""The original sample's journeys over real HTTP, and every error a client can cause, as problem+json."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from cartracker.errors import ConcurrencyConflict
from tests.e2e.conftest import LiveApi

VOLVO = {"make": "Volvo", "model": "V70", "owner": "Alice"}


def problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


def fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body["errors"]}


def test_a_car_is_added_serviced_sold_and_read_back(live_api: LiveApi) -> None:
    added = live_api.post("cars", VOLVO)
    assert added.status_code == 201
    car_id = added.json()["carId"]
    assert added.headers["Location"] == f"{live_api.api}/cars/{car_id}"
    assert live_api.http.get(added.headers["Location"], timeout=10).json()["owner"] == "Alice"

    steps = [
        ("oil-changes", {"mileage": 10_000, "charge": 49.99}),
        ("brake-inspections", {"mileage": 12_000, "remainingPad": 45}),
        ("tire-replacements", {"numberOfTiresReplaced": 4, "charge": "520.00"}),
        ("oil-changes", {"mileage": 20_000, "charge": "59.99"}),
        ("owner-changes", {"newOwner": "Bob"}),
    ]
    for step, (route, body) in enumerate(steps, start=2):
        answer = live_api.post(f"cars/{car_id}/{route}", body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == step
        assert answer.headers["ETag"] == f'"{step}"'

    read = live_api.get(f"cars/{car_id}")
    assert read.status_code == 200
    assert read.headers["ETag"] == '"6"'
    car = read.json()
    assert car["owner"] == "Bob"
    assert car["totalCharges"] == "629.98"
    assert (car["oilChanges"], car["brakeInspections"], car["tiresReplaced"], car["ownerChanges"]) == (
        2,
        1,
        4,
        1,
    )
    assert (car["lastMileage"], car["lastRemainingPad"]) == (20_000, 45)
    assert live_api.get(f"cars/{car_id}", **{"If-None-Match": read.headers["ETag"]}).status_code == 304

    history = live_api.get(f"cars/{car_id}/events?pageSize=4").json()
    rest = live_api.get(f"cars/{car_id}/events?continuationToken={history['continuationToken']}").json()
    assert rest["continuationToken"] is None
    items = history["items"] + rest["items"]
    assert [i["type"] for i in items] == [
        "CarAdded", "OilChanged", "BrakesInspected", "TiresReplaced", "OilChanged", "OwnerChanged",
    ]  # fmt: skip
    assert [i["version"] for i in items] == [1, 2, 3, 4, 5, 6]
    assert items[1]["data"] == {"mileage": 10_000, "charge": "49.99"}
    assert items[5]["data"] == {"newOwner": "Bob"}


def test_a_retried_request_with_its_idempotency_key_changes_nothing(live_api: LiveApi) -> None:
    key = {"Idempotency-Key": f"add-{uuid.uuid4()}"}
    first = live_api.post("cars", VOLVO, **key)
    again = live_api.post("cars", VOLVO, **key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()

    car_id = first.json()["carId"]
    oil = {"Idempotency-Key": f"oil-{uuid.uuid4()}"}
    answers = [
        live_api.post(f"cars/{car_id}/oil-changes", {"mileage": 5, "charge": 1}, **oil) for _ in range(3)
    ]
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["version"] for a in answers} == {2}
    assert live_api.get(f"cars/{car_id}").json()["version"] == 2

    reused = live_api.post(f"cars/{car_id}/oil-changes", {"mileage": 6, "charge": 1}, **oil)
    assert fields(problem(reused, 422)) == {"Idempotency-Key"}


def test_every_client_error_is_a_problem_naming_the_field(live_api: LiveApi) -> None:
    car_id = live_api.post("cars", VOLVO).json()["carId"]
    oil = f"{live_api.api}/cars/{car_id}/oil-changes"
    post = live_api.http.post

    malformed = post(oil, data=b'{"mileage": 1,', headers={"Content-Type": "application/json"}, timeout=10)
    assert fields(problem(malformed, 400)) == {"body"}
    assert fields(problem(post(oil, json={"mileage": "far", "charge": 1}, timeout=10), 400)) == {"mileage"}
    assert fields(problem(post(oil, json={"mileage": 1, "charge": 1, "x": 1}, timeout=10), 400)) == {"x"}
    assert fields(problem(live_api.get("cars/not-a-uuid"), 400)) == {"carId"}
    assert fields(problem(live_api.get(f"cars/{uuid.uuid4()}"), 404)) == {"carId"}
    too_big = post(oil, data=b" " * (64 * 1024 + 1), headers={"Content-Type": "application/json"}, timeout=10)
    assert fields(problem(too_big, 413)) == {"body"}
    as_text = post(
        oil, data=b'{"mileage": 1, "charge": 1}', headers={"Content-Type": "text/plain"}, timeout=10
    )
    assert fields(problem(as_text, 415)) == {"Content-Type"}

    assert live_api.post(f"cars/{car_id}/oil-changes", {"mileage": 100, "charge": 1}).status_code == 200
    below = live_api.post(f"cars/{car_id}/oil-changes", {"mileage": 99, "charge": 1})
    assert fields(problem(below, 422)) == {"mileage"}
    same_owner = live_api.post(f"cars/{car_id}/owner-changes", {"newOwner": " alice "})
    assert fields(problem(same_owner, 422)) == {"newOwner"}
    stale = live_api.post(f"cars/{car_id}/oil-changes", {"mileage": 100, "charge": 1}, **{"If-Match": '"1"'})
    assert problem(stale, 412)["currentVersion"] == 2


def test_a_conflict_that_outlives_the_retries_is_a_409_problem(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    car_id = live_api.post("cars", VOLVO).json()["carId"]

    def another_writer_always_wins(*args: object, **kwargs: object) -> str:
        raise ConcurrencyConflict(f"car {car_id} was changed by another writer")

    monkeypatch.setattr(live_api.services.events, "append", another_writer_always_wins)
    answer = live_api.post(f"cars/{car_id}/oil-changes", {"mileage": 1, "charge": 1})
    assert problem(answer, 409)["type"] == "urn:cartracker:problem:conflict"


def test_the_host_answers_unknown_routes_and_wrong_methods_itself(live_api: LiveApi) -> None:
    assert problem(live_api.get("no/such/route"), 404)["instance"] == "/api/no/such/route"
    wrong = live_api.http.delete(f"{live_api.api}/cars/{uuid.uuid4()}", timeout=10)
    problem(wrong, 405)
    assert wrong.headers["Allow"] == "GET"
    root = live_api.http.get(live_api.url, allow_redirects=False, timeout=10)
    assert root.status_code == 302
    assert root.headers["Location"] == "/api/ui"


def test_health_and_spec_are_served(live_api: LiveApi) -> None:
    answer = live_api.get("health").json()
    assert (answer["status"], answer["store"], answer["storeChecks"]["writable"]) == ("ok", "sqlite", True)
    assert all(feed["state"] == "running" for feed in answer["changeFeeds"])
    spec = live_api.get("openapi.json")
    assert spec.headers["Content-Type"] == "application/json"
    assert "/cars/{carId}/oil-changes" in spec.json()["paths"]
