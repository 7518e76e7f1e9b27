"""`traceparent` over real HTTP through the local host: back in the answer, on the events, in the history."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import LiveApi

VOLVO = {"make": "Volvo", "model": "V70", "owner": "Alice"}
TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER = f"00-{TRACE}-b7ad6b7169203331-01"
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]")


def trace_id_of(traceparent: str) -> str:
    match = TRACEPARENT.fullmatch(traceparent)
    assert match is not None, traceparent
    return match.group(1)


def test_a_traceparent_sent_with_commands_comes_back_on_their_answers_and_events(live_api: LiveApi) -> None:
    added = live_api.post("cars", VOLVO, traceparent=CALLER)
    assert added.status_code == 201, added.text
    assert trace_id_of(added.headers["traceparent"]) == TRACE
    assert added.headers["traceparent"] != CALLER  # the same trace, a span of this handling
    car_id = added.json()["carId"]

    oil = live_api.post(f"cars/{car_id}/oil-changes", {"mileage": 1000, "charge": 49.99}, traceparent=CALLER)
    assert oil.status_code == 200, oil.text
    assert trace_id_of(oil.headers["traceparent"]) == TRACE

    items = live_api.get(f"cars/{car_id}/events").json()["items"]
    assert [i["correlationId"] for i in items] == [TRACE, TRACE]
    assert all(re.fullmatch(r"[0-9a-f]{16}", i["causationId"]) for i in items)
    assert items[0]["causationId"] != items[1]["causationId"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="absent"),
        pytest.param({"traceparent": "00-not-a-trace-01"}, id="malformed"),
        pytest.param({"traceparent": CALLER.upper()}, id="upper-case"),
    ],
)
def test_without_a_readable_traceparent_a_fresh_one_is_generated_never_a_400(
    live_api: LiveApi, headers: dict[str, str]
) -> None:
    added = live_api.post("cars", VOLVO, **headers)
    assert added.status_code == 201, added.text
    trace_id = trace_id_of(added.headers["traceparent"])
    assert trace_id != TRACE
    [item] = live_api.get(f"cars/{added.json()['carId']}/events").json()["items"]
    assert item["correlationId"] == trace_id


def test_a_replay_answers_under_its_own_traceparent_and_the_history_keeps_the_first(
    live_api: LiveApi,
) -> None:
    key = {"Idempotency-Key": f"add-{TRACE}"}
    first = live_api.post("cars", VOLVO, traceparent=CALLER, **key)
    again = live_api.post("cars", VOLVO, **key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert trace_id_of(again.headers["traceparent"]) != TRACE
    [item] = live_api.get(f"cars/{first.json()['carId']}/events").json()["items"]
    assert (item["correlationId"], item["causationId"]) == (TRACE, key["Idempotency-Key"])
