"""Predictions end to end, through the local host: real HTTP, the real change-feed pump.

With the projector paused, a client's own writes show in the list at once,
folded in from the cars' heads and marked `predicted`; once the projector runs,
the same query answers `deferred` with the same numbers.
"""

from __future__ import annotations

from typing import Any

from cartracker.localhost.changefeed import ChangeFeedPump
from tests.e2e.conftest import LiveApi


def without_freshness(page: dict[str, Any]) -> dict[str, Any]:
    items = [{k: v for k, v in item.items() if k != "freshness"} for item in page["items"]]
    return {**{k: v for k, v in page.items() if k != "freshness"}, "items": items}


def test_own_writes_are_predicted_until_the_projector_catches_up(
    live_api: LiveApi, pump: ChangeFeedPump
) -> None:
    existing = live_api.post("cars", {"make": "Saab", "model": "900", "owner": "Bob"}).json()
    live_api.post(f"cars/{existing['carId']}/oil-changes", {"mileage": 10, "charge": "0.01"})
    pump.wait_until_caught_up()
    pump.pause()

    added = live_api.post("cars", {"make": "Volvo", "model": "V70", "owner": "Ann"})
    assert added.status_code == 201
    car_id = added.json()["carId"]
    changed = live_api.post(f"cars/{car_id}/oil-changes", {"mileage": 12000, "charge": 49.99})
    assert changed.status_code == 200
    tokens = [added.json()["consistencyToken"], changed.json()["consistencyToken"]]

    assert live_api.get("cars").json()["carCount"] == 1, "the projection has not seen the new car"
    response = live_api.http.get(f"{live_api.api}/cars", params={"after": tokens}, timeout=10)
    assert response.status_code == 200
    predicted = response.json()
    assert predicted["freshness"] == "predicted"
    first = predicted["items"][0]
    assert (first["carId"], first["version"], first["freshness"]) == (car_id, 2, "predicted")
    assert (first["totalCharges"], predicted["totalCharges"], predicted["carCount"]) == ("49.99", "50.00", 2)
    assert [item["freshness"] for item in predicted["items"][1:]] == ["deferred"]
    realtime = live_api.get(f"cars/{car_id}").json()
    assert (first["owner"], first["lastServiced"]) == (realtime["owner"], realtime["lastServiced"])

    pump.resume()
    pump.wait_until_caught_up()
    deferred = live_api.http.get(f"{live_api.api}/cars", params={"after": tokens}, timeout=10).json()
    assert deferred["freshness"] == "deferred"
    assert {item["freshness"] for item in deferred["items"]} == {"deferred"}
    assert without_freshness(deferred) == without_freshness(predicted), "the same numbers, now projected"


def test_too_many_tokens_is_a_400_problem(live_api: LiveApi) -> None:
    token = live_api.post("cars", {"make": "Fiat", "model": "500", "owner": "Cy"}).json()["consistencyToken"]
    response = live_api.http.get(f"{live_api.api}/cars", params={"after": [token] * 21}, timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["after"]
