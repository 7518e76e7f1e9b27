"""What reading a car as it was costs on the Cosmos adapter: round trips and bytes, counted at the
SDK's HTTP transport, for a small car and for one with 1,000 events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cartracker.bootstrap import Services, bootstrap
from cartracker.documents import StoredEvent, event_document, head_document
from cartracker.domain.car import Car, evolve
from cartracker.domain.commands import AddCar
from cartracker.domain.events import CarAdded, Event, OilChanged
from cartracker.functions.cars import get_car
from cartracker.heads import EVENT_PAGE
from tests.conftest import CosmosEnv
from tests.support.cosmos import CosmosServer, CountingTransport, make_client
from tests.support.functions import call, installed

ADDED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
HISTORY = 1000
BATCH = 99  # events per transactional batch: with the head, Cosmos DB's limit of 100 operations


class MeteredTransport(CountingTransport):
    """A `CountingTransport` that also adds up the bytes of every response body."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.received = 0

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        self.received += len(response.body())
        return response

    def reset(self) -> None:
        super().reset()
        self.received = 0


@pytest.fixture
def metered(cosmos: CosmosEnv, cosmos_server: CosmosServer) -> Iterator[tuple[Services, MeteredTransport]]:
    transport = MeteredTransport()
    client = make_client(cosmos_server.endpoint, transport)
    services = bootstrap(cosmos.settings, cosmos_client=client)
    # A new client reads account and container metadata on first use: warm it before counting.
    services.commands.add_car(AddCar(make="Volvo", model="V70", owner="Alice"))
    transport.reset()
    with installed(services):
        yield services, transport
    client.close()


def a_car_with_events(services: Services, count: int) -> str:
    """A car with `count` events a minute apart (added, then oil changes), appended 99 to a batch."""
    car_id = str(uuid.uuid4())
    car: Car | None = None
    etag: str | None = None
    version = 0
    while version < count:
        stored = []
        for _ in range(min(BATCH, count - version)):
            version += 1
            at = ADDED + timedelta(minutes=version - 1)
            event: Event = (
                CarAdded(make="Volvo", model="V70", owner="Alice", occurred_at=at)
                if version == 1
                else OilChanged(mileage=version, charge_cents=4999, occurred_at=at)
            )
            car = evolve(car, event, car_id=car_id)
            stored.append(StoredEvent(car_id=car_id, version=version, event=event))
        assert car is not None
        etag = services.events.append(
            car_id, [event_document(s) for s in stored], head_document(car), head_etag=etag
        )
    return car_id


def read(car_id: str, **params: str) -> int:
    return call(get_car, "GET", f"cars/{car_id}", params=params, route_params={"carId": car_id}).status_code


def moment(version: int) -> str:
    """When the event at `version` occurred, as `asOf` takes it."""
    return (ADDED + timedelta(minutes=version - 1)).isoformat().replace("+00:00", "Z")


def test_a_small_car_as_it_was_is_one_query_and_revalidating_a_version_one_point_read(
    metered: tuple[Services, MeteredTransport],
) -> None:
    _, transport = metered
    car_id = a_car_with_events(metered[0], 3)
    unknown = str(uuid.uuid4())
    costs = {
        "asOfVersion=2": ({"asOfVersion": "2"}, {}, 200, ["query"]),
        "asOfVersion=latest+1": ({"asOfVersion": "4"}, {}, 404, ["query"]),
        "asOfVersion=largest": ({"asOfVersion": str(10**18 - 1)}, {}, 404, ["query"]),
        "asOf between events": ({"asOf": moment(2).replace(":00Z", ":30Z")}, {}, 200, ["query"]),
        # Nothing folded: one point read more, only to tell "added later" from "no such car".
        "asOf before the car": ({"asOf": "2026-03-01T09:29:59Z"}, {}, 404, ["query", "read"]),
        "asOfVersion, unknown car": ({"asOfVersion": "1"}, {}, 404, ["query"]),
        "asOfVersion, If-None-Match": ({"asOfVersion": "2"}, {"If-None-Match": '"2"'}, 304, ["read"]),
        "now": ({}, {}, 200, ["read"]),
    }
    for name, (params, headers, status, kinds) in costs.items():
        transport.reset()
        target = unknown if "unknown" in name else car_id
        answer = call(
            get_car, "GET", f"cars/{target}", params=params, headers=headers, route_params={"carId": target}
        )
        assert (answer.status_code, transport.kinds(skip_account=True)) == (status, kinds), name


def test_a_car_with_1000_events_is_one_query_of_one_page_at_any_version(
    metered: tuple[Services, MeteredTransport],
) -> None:
    services, transport = metered
    car_id = a_car_with_events(services, HISTORY)
    assert EVENT_PAGE == HISTORY, "the figures in docs/api.md are for a history that fits one page"
    figures: dict[str, tuple[int, list[str], int]] = {}
    for name, params in {
        "asOfVersion=1": {"asOfVersion": "1"},
        "asOfVersion=500": {"asOfVersion": "500"},
        "asOfVersion=1000": {"asOfVersion": "1000"},
        "asOfVersion=1001": {"asOfVersion": "1001"},
        "asOfVersion=largest": {"asOfVersion": str(10**18 - 1)},
        "asOf=event 1": {"asOf": moment(1)},
        "asOf=event 500": {"asOf": moment(500)},
        "asOf=event 1000": {"asOf": moment(1000)},
        "now": {},
    }.items():
        transport.reset()
        status = read(car_id, **params)
        figures[name] = (status, transport.kinds(skip_account=True), transport.received)
    print(
        "\n"
        + "\n".join(
            f"{name}: {status} {kinds} {size} bytes" for name, (status, kinds, size) in figures.items()
        )
    )

    event_bytes = figures["asOfVersion=1000"][2] / HISTORY
    assert figures["asOfVersion=1000"][:2] == (200, ["query"]), "1,000 events: one query, one page"
    assert figures["asOfVersion=500"][2] < 0.55 * figures["asOfVersion=1000"][2], "reads only what it folds"
    assert figures["asOfVersion=1"][2] < 2 * event_bytes
    for beyond in ("asOfVersion=1001", "asOfVersion=largest"):
        status, kinds, size = figures[beyond]
        # The page of 1,000, then an empty one: as far as the car's last event, however large the version.
        assert (status, kinds) == (404, ["query", "query"]), beyond
        assert size - figures["asOfVersion=1000"][2] < event_bytes
    # asOf reads whole pages until one shows an event after the time; at the last event, an empty one too.
    assert figures["asOf=event 1"][:2] == figures["asOf=event 500"][:2] == (200, ["query"])
    assert figures["asOf=event 1"][2] == figures["asOfVersion=1000"][2]
    assert figures["asOf=event 1000"][:2] == (200, ["query", "query"])
    assert figures["now"][:2] == (200, ["read"])
