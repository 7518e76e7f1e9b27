"""`GET cars/{carId}?asOfVersion=` and `?asOf=`: the car as it was, its headers, and every refusal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import jsonschema_rs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cartracker.bootstrap import Services
from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner
from cartracker.errors import InvalidRequest
from cartracker.functions.cars import get_car
from cartracker.http.openapi import openapi_document
from cartracker.http.requests import AS_OF_PATTERN, MAX_VERSION, as_of
from cartracker.service.commands import CommandService
from tests.support.functions import BASE, body_of, call, fields_of, installed, problem_of, sqlite_services

ADDED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
OILED = ADDED + timedelta(minutes=1)
SOLD = ADDED + timedelta(minutes=2)
IMMUTABLE = "private, max-age=31536000, immutable"


@dataclass
class Clock:
    now: datetime = ADDED

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with installed(sqlite_services(tmp_path / "store.sqlite3")) as services:
        yield services


@pytest.fixture
def car_id(services: Services) -> str:
    """Added at 09:30 (version 1), oil changed at 09:31 (2), sold to Bob at 09:32 (3)."""
    clock = Clock()
    commands = CommandService(services.events, clock=clock)
    added = commands.add_car(AddCar(make="Volvo", model="V70", owner="Alice")).car_id
    clock.now = OILED
    commands.execute(added, ChangeOil(mileage=12000, charge="49.99"))
    clock.now = SOLD
    commands.execute(added, ChangeOwner(newOwner="Bob"))
    return added


def read(car_id: str, headers: dict[str, str] | None = None, **params: str) -> func.HttpResponse:
    return call(
        get_car, "GET", f"cars/{car_id}", params=params, headers=headers, route_params={"carId": car_id}
    )


# --- answers --------------------------------------------------------------------------------------


def test_a_version_is_the_car_right_after_that_event_marked_historical(car_id: str) -> None:
    response = read(car_id, asOfVersion="2")

    assert response.status_code == 200
    car = body_of(response)
    assert (car["version"], car["owner"], car["totalCharges"], car["freshness"]) == (
        2,
        "Alice",
        "49.99",
        "historical",
    )
    assert car["updatedAt"] == "2026-03-01T09:31:00Z"
    assert response.headers["ETag"] == '"2"'
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert "Content-Location" not in response.headers


def test_the_latest_version_is_the_car_now_but_historical_and_cacheable(car_id: str) -> None:
    now, then = body_of(read(car_id)), body_of(read(car_id, asOfVersion="3"))

    assert (now.pop("freshness"), then.pop("freshness")) == ("realtime", "historical")
    assert now == then


def test_a_time_between_two_events_is_the_car_after_the_earlier_one_and_names_that_versions_url(
    car_id: str,
) -> None:
    response = read(
        car_id, asOf="2026-03-01T10:31:30+01:00"
    )  # 09:31:30Z: after the oil change, before the sale

    assert response.status_code == 200
    assert body_of(response)["version"] == 2
    assert body_of(response)["freshness"] == "historical"
    assert response.headers["ETag"] == '"2"'
    assert response.headers["Content-Location"] == f"{BASE}/cars/{car_id}?asOfVersion=2"
    # It can still change (a command decided before that time may land later): revalidated every time.
    assert response.headers["Cache-Control"] == "no-cache"


def test_the_content_location_carries_no_other_query_parameter(car_id: str) -> None:
    response = read(car_id, asOf="2026-03-01T09:32:00Z", code="the-function-key")

    assert response.headers["Content-Location"] == f"{BASE}/cars/{car_id}?asOfVersion=3"


@pytest.mark.parametrize(
    "moment",
    [
        "2026-03-01t09:31:00z",
        "2026-03-01T09:31:00.999999999Z",
        "2026-03-01T09:31:00-00:00",
        "2026-03-01T23:31:00+14:00",
    ],
)
def test_every_spelling_rfc_3339_allows_is_read(car_id: str, moment: str) -> None:
    assert body_of(read(car_id, asOf=moment))["version"] == 2


def test_fraction_digits_past_the_microsecond_are_cut_never_rounded_up(car_id: str) -> None:
    # 09:30:59.9999999: rounded, it would reach 09:31:00 and take the oil change in.
    assert body_of(read(car_id, asOf="2026-03-01T09:30:59.9999999Z"))["version"] == 1


# --- revalidation ---------------------------------------------------------------------------------


def test_if_none_match_on_a_version_is_304_with_its_cache_headers(car_id: str) -> None:
    response = read(car_id, {"If-None-Match": '"1"'}, asOfVersion="1")

    assert response.status_code == 304
    assert response.get_body() == b""
    assert (response.headers["ETag"], response.headers["Cache-Control"]) == ('"1"', IMMUTABLE)


def test_if_none_match_on_a_version_the_car_does_not_have_is_still_404(car_id: str) -> None:
    problem = problem_of(read(car_id, {"If-None-Match": '"4"'}, asOfVersion="4"), 404)

    assert fields_of(problem) == {"asOfVersion"}


def test_if_none_match_on_a_time_is_304_when_it_resolves_to_the_same_version(car_id: str) -> None:
    same = read(car_id, {"If-None-Match": '"2"'}, asOf="2026-03-01T09:31:30Z")
    moved = read(car_id, {"If-None-Match": '"2"'}, asOf="2026-03-01T09:32:30Z")

    assert same.status_code == 304
    assert same.headers["Content-Location"] == f"{BASE}/cars/{car_id}?asOfVersion=2"
    assert moved.status_code == 200
    assert moved.headers["ETag"] == '"3"'


# --- refusals -------------------------------------------------------------------------------------


def test_a_version_beyond_the_cars_is_404_naming_asofversion_and_the_cars_version(car_id: str) -> None:
    problem = problem_of(read(car_id, asOfVersion="4"), 404)

    assert problem["type"] == "urn:cartracker:problem:version-not-found"
    assert fields_of(problem) == {"asOfVersion"}
    assert problem["detail"] == f"car {car_id} is at version 3; it has no version 4"


def test_a_time_before_the_car_was_added_is_404_naming_asof_and_when_it_was(car_id: str) -> None:
    problem = problem_of(read(car_id, asOf="2026-03-01T09:29:59.999999Z"), 404)

    assert problem["type"] == "urn:cartracker:problem:version-not-found"
    assert fields_of(problem) == {"asOf"}
    assert "was added at 2026-03-01T09:30:00Z" in problem["detail"]


@pytest.mark.parametrize(
    "params", [{"asOfVersion": "1"}, {"asOf": "2026-03-01T09:30:00Z"}], ids=["version", "time"]
)
def test_an_unknown_car_at_any_point_is_car_not_found(services: Services, params: dict[str, str]) -> None:
    problem = problem_of(read(str(uuid.uuid4()), **params), 404)

    assert problem["type"] == "urn:cartracker:problem:car-not-found"
    assert fields_of(problem) == {"carId"}


def test_both_a_version_and_a_time_is_400_naming_both(car_id: str) -> None:
    problem = problem_of(read(car_id, asOfVersion="1", asOf="2026-03-01T09:30:00Z"), 400)

    assert fields_of(problem) == {"asOfVersion", "asOf"}
    assert problem["detail"] == "give asOfVersion or asOf, not both"


REFUSED_VERSIONS = [
    "",
    "0",
    "01",
    "-1",
    "+1",
    "1.0",
    "1e3",
    " 1",
    "1 ",
    "1\n",
    "\uff11",
    "1,2",
    "9" * 19,
    "9" * 5000,
]


@pytest.mark.parametrize("version", REFUSED_VERSIONS, ids=repr)
def test_a_version_that_is_not_one_as_versions_are_written_is_400(car_id: str, version: str) -> None:
    assert fields_of(problem_of(read(car_id, asOfVersion=version), 400)) == {"asOfVersion"}


REFUSED_TIMES = {
    "": "empty",
    "2026-03-01": "a date",
    "2026-03-01T09:30:00": "no offset",
    "2026-03-01 09:30:00Z": "space for T",
    "2026-03-01T09:30Z": "no seconds",
    "2026-03-01T09:30:00+0100": "offset without colon",
    "2026-03-01T09:30:00+24:00": "offset hour 24",
    "2026-03-01T24:00:00Z": "hour 24",
    "2026-03-01T09:30:60Z": "leap second",
    "2026-02-29T09:30:00Z": "not a leap year",
    "2026-04-31T09:30:00Z": "April 31",
    "0000-01-01T00:00:00Z": "year 0",
    "0001-01-01T00:00:00+01:00": "before year 1 in UTC",
    "9999-12-31T23:59:59-01:00": "after 9999 in UTC",
    "2026-03-01T09:30:00.1234567890Z": "ten fraction digits",
    "2026-03-01T09:30:00.Z": "an empty fraction",
    "+2026-03-01T09:30:00Z": "a sign",
    "20260301T093000Z": "basic format",
    "2026-03-01T09:30:00Z\n": "a final newline",
    "\uff12026-03-01T09:30:00Z": "a fullwidth digit",
    "now": "a word",
    "1" * 5000: "5000 digits",
}


@pytest.mark.parametrize("moment", REFUSED_TIMES, ids=REFUSED_TIMES.values())
def test_a_time_that_is_not_rfc_3339_with_an_offset_is_400(car_id: str, moment: str) -> None:
    assert fields_of(problem_of(read(car_id, asOf=moment), 400)) == {"asOf"}


def test_a_plus_that_became_a_space_in_the_url_is_explained(car_id: str) -> None:
    # `asOf=2026-03-01T10:30:00+01:00` unescaped in a URL: the query decoder turns + into a space.
    problem = problem_of(read(car_id, asOf="2026-03-01T10:30:00 01:00"), 400)

    assert "write %2B" in problem["detail"]


# --- the grammar is the published one -------------------------------------------------------------


def spec_parameter(name: str) -> dict[str, Any]:
    parameters = openapi_document()["paths"]["/cars/{carId}"]["get"]["parameters"]
    schema: dict[str, Any] = next(p["schema"] for p in parameters if p["name"] == name)
    return schema


AS_OF_SPEC = jsonschema_rs.validator_for(spec_parameter("asOf"), validate_formats=True)


def accepted(**params: str) -> int | datetime | InvalidRequest | None:
    try:
        return as_of(func.HttpRequest("GET", f"{BASE}/cars/x", params=params, body=b""))
    except InvalidRequest as refused:
        return refused


rfc3339ish = st.text(alphabet="0123456789-:.+TtZz ", max_size=40)
near_the_edges = st.sampled_from(["0000", "0001", "2026", "9999"]).flatmap(
    lambda year: st.from_regex(AS_OF_PATTERN, fullmatch=True).map(lambda text: year + text[4:])
)


@given(st.from_regex(AS_OF_PATTERN, fullmatch=True) | near_the_edges | rfc3339ish)
@example("2026-02-29T00:00:00Z")
@example("2024-02-29T00:00:00Z")
@example("0001-01-01T00:30:00+01:00")
def test_as_of_is_refused_exactly_when_the_spec_refuses_it_but_for_datetimes_range(text: str) -> None:
    answer = accepted(asOf=text)
    by_spec = AS_OF_SPEC.is_valid(text)
    if isinstance(answer, datetime):
        assert by_spec, text
        assert answer.tzinfo is UTC
    else:
        assert isinstance(answer, InvalidRequest)
        # The spec's date-time (RFC 3339) has a year 0000, and instants an offset moves out of
        # datetime's years 1-9999: only those does the code refuse beyond it.
        assert not by_spec or text[:4] in ("0000", "0001", "9999"), text


@given(
    st.text(alphabet="0123456789+- .e", max_size=20) | st.integers(min_value=-5, max_value=10**19).map(str)
)
@example(str(MAX_VERSION))
@example(str(MAX_VERSION + 1))
def test_as_of_version_is_a_whole_number_in_the_published_range_written_canonically(text: str) -> None:
    schema = spec_parameter("asOfVersion")
    canonical = (
        text.isdigit() and str(int(text)) == text and schema["minimum"] <= int(text) <= schema["maximum"]
    )
    answer = accepted(asOfVersion=text)
    if canonical:
        assert answer == int(text)
    else:
        assert isinstance(answer, InvalidRequest), text
