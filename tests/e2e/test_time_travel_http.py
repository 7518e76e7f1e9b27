"""The car as it was, over real HTTP through the local host: versions, times, caching and refusals."""

from __future__ import annotations

from datetime import datetime, timedelta

import jsonschema_rs
import requests

from tests.e2e.conftest import LiveApi

IMMUTABLE = "private, max-age=31536000, immutable"


def a_serviced_car(live: LiveApi) -> tuple[str, list[str]]:
    """A car with three events; its id and when each event occurred, as its history says."""
    car_id: str = live.post("cars", {"make": "Saab", "model": "900", "owner": "Ann"}).json()["carId"]
    for mileage in (1000, 2000):
        assert (
            live.post(f"cars/{car_id}/oil-changes", {"mileage": mileage, "charge": "10.00"}).status_code
            == 200
        )
    history = live.get(f"cars/{car_id}/events").json()["items"]
    return car_id, [item["occurredAt"] for item in history]


def get(live: LiveApi, car_id: str, query: str, **headers: str) -> requests.Response:
    return live.http.get(f"{live.api}/cars/{car_id}?{query}", headers=headers, timeout=10)


def as_the_spec_says(live: LiveApi, answer: requests.Response) -> None:
    """The answer's body and headers are what openapi.json documents for `GET cars/{carId}`."""
    spec = live.get("openapi.json").json()
    reply = spec["paths"]["/cars/{carId}"]["get"]["responses"][str(answer.status_code)]
    for name, header in reply.get("headers", {}).items():
        assert name in answer.headers or not header["required"], name
        if name in answer.headers:
            assert jsonschema_rs.validator_for(header["schema"]).is_valid(answer.headers[name]), name
    for media_type, content in reply.get("content", {}).items():
        assert answer.headers["Content-Type"].startswith(media_type)
        schema = {**content["schema"], "components": spec["components"]}
        jsonschema_rs.validator_for(schema).validate(answer.json())


def test_a_version_is_served_historical_cacheable_for_good_and_revalidated_with_a_304(
    live_api: LiveApi,
) -> None:
    car_id, _ = a_serviced_car(live_api)

    first = get(live_api, car_id, "asOfVersion=2")
    again = get(live_api, car_id, "asOfVersion=2", **{"If-None-Match": first.headers["ETag"]})

    assert first.status_code == 200
    assert first.json()["version"] == 2
    assert first.json()["freshness"] == "historical"
    assert first.json()["totalCharges"] == "10.00"
    assert (first.headers["ETag"], first.headers["Cache-Control"]) == ('"2"', IMMUTABLE)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["Cache-Control"] == IMMUTABLE
    as_the_spec_says(live_api, first)
    as_the_spec_says(live_api, again)


def test_a_time_names_the_version_it_resolved_to_and_that_url_serves_the_same_car(live_api: LiveApi) -> None:
    car_id, occurred = a_serviced_car(live_api)

    at_the_second = get(live_api, car_id, f"asOf={occurred[1]}")
    followed = live_api.http.get(at_the_second.headers["Content-Location"], timeout=10)

    assert at_the_second.status_code == 200
    assert at_the_second.json()["version"] == 2
    assert at_the_second.headers["Cache-Control"] == "no-cache"
    assert at_the_second.headers["Content-Location"] == f"{live_api.api}/cars/{car_id}?asOfVersion=2"
    assert followed.status_code == 200
    assert followed.json() == at_the_second.json()
    assert followed.headers["Cache-Control"] == IMMUTABLE
    as_the_spec_says(live_api, at_the_second)
    as_the_spec_says(live_api, followed)


def test_an_offset_is_sent_as_percent_2b_and_an_unescaped_plus_is_explained(live_api: LiveApi) -> None:
    car_id, occurred = a_serviced_car(live_api)
    in_plus_one = (datetime.fromisoformat(occurred[1]) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")

    escaped = get(live_api, car_id, f"asOf={in_plus_one}%2B01:00")
    unescaped = get(live_api, car_id, f"asOf={in_plus_one}+01:00")

    assert escaped.status_code == 200
    assert escaped.json()["version"] == 2
    assert unescaped.status_code == 400
    assert unescaped.headers["Content-Type"].startswith("application/problem+json")
    assert unescaped.json()["errors"][0]["field"] == "asOf"
    assert "%2B" in unescaped.json()["detail"]


def test_refusals_are_problem_json_naming_the_parameter(live_api: LiveApi) -> None:
    car_id, occurred = a_serviced_car(live_api)
    before = (datetime.fromisoformat(occurred[0]) - timedelta(microseconds=1)).isoformat()

    answers = {
        "beyond": (get(live_api, car_id, "asOfVersion=4"), 404, ["asOfVersion"]),
        "before": (get(live_api, car_id, "asOf=" + before.replace("+00:00", "Z")), 404, ["asOf"]),
        "both": (get(live_api, car_id, f"asOfVersion=1&asOf={occurred[0]}"), 400, ["asOfVersion", "asOf"]),
        "twice": (get(live_api, car_id, "asOfVersion=1&asOfVersion=2"), 400, ["asOfVersion"]),
        "leading zero": (get(live_api, car_id, "asOfVersion=01"), 400, ["asOfVersion"]),
    }

    for name, (answer, status, fields) in answers.items():
        assert answer.status_code == status, name
        assert answer.headers["Content-Type"].startswith("application/problem+json"), name
        assert [error["field"] for error in answer.json()["errors"]] == fields, name
