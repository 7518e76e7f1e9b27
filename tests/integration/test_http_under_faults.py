"""Commands through the HTTP functions while Cosmos DB misbehaves: each lands exactly once, or is answered
503 with `Retry-After` and lands nothing, and no stream is ever left half-written.

The functions are called as the Functions worker calls them (`func.HttpRequest`), over the Cosmos test
server, through a client whose transport injects faults: throttling (429 with retry-after), 503s,
connection resets before a request leaves, and the two ambiguous cases -- a lost answer and a 408 after
the write was applied. The SDK's own retries are capped at 2 (see `make_client`), so "once" is absorbed
and "every time" outlives them.

After every request the car's stream is checked whole: versions contiguous from 1, the head at the last
event, and the head equal to the fold of the events. The embedded store's own fault -- its write lock
held by another writer past the busy timeout -- gets the same 503.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from cartracker.bootstrap import Services, bootstrap
from cartracker.documents import head_from_document, stored_event_from_document
from cartracker.domain.car import fold
from cartracker.domain.catalog import ON_A_CAR
from cartracker.domain.money import format_cents
from cartracker.functions.car_list import list_cars
from cartracker.functions.cars import get_car, get_car_history
from cartracker.functions.commands import FUNCTIONS, add_car
from cartracker.ports import Document
from tests.conftest import CosmosEnv
from tests.support.cosmos import CosmosServer, make_client
from tests.support.faults import AMBIGUOUS, FAULTS, Fault, FaultyTransport
from tests.support.functions import body_of, call, installed, problem_of, sqlite_services

Handler = Callable[[func.HttpRequest], func.HttpResponse]
ROUTES: dict[str, Handler] = {entry.slug: FUNCTIONS[entry.name] for entry in ON_A_CAR}


@dataclass
class Api:
    """The app's functions over a Cosmos client whose transport breaks on demand."""

    services: Services
    transport: FaultyTransport

    def events(self, car_id: str) -> list[Document]:
        return self.services.events.read_events(car_id, limit=10_000)

    def car_ids(self) -> set[str]:
        heads, continuation = self.services.events.read_heads(limit=1_000)
        assert continuation is None
        return {head["aggregateId"] for head in heads}

    def new_car(self) -> str:
        response = post(add("Volvo", "V70", "Alice"))
        assert response.status_code == 201
        car_id: str = body_of(response)["carId"]
        return car_id

    def cold(self, car_id: str) -> None:
        """Forget the cached head, as a fresh Functions instance would not have it."""
        self.services.commands.cache.forget(car_id)


@pytest.fixture
def api(cosmos: CosmosEnv, cosmos_server: CosmosServer) -> Iterator[Api]:
    transport = FaultyTransport()
    # The SDK backs off between connection retries by 1 s, 2 s, ...: the same retries, minus the waiting.
    client = make_client(cosmos_server.endpoint, transport, retry_backoff_factor=0.01)
    with installed(bootstrap(cosmos.settings, cosmos_client=client)) as services:
        yield Api(services, transport)
    transport.clear()
    client.close()


# --- what a client sends, and the event it must produce --------------------------------------------


@dataclass(frozen=True)
class Write:
    car_id: str | None  # None: add a car
    route: str
    body: dict[str, Any]
    event_type: str
    event_data: dict[str, Any]  # as stored: amounts in integer cents


def add(make: str, model: str, owner: str) -> Write:
    body = {"make": make, "model": model, "owner": owner}
    return Write(None, "", body, "CarAdded", body)


def oil_change(car_id: str, mileage: int, cents: int) -> Write:
    body = {"mileage": mileage, "charge": format_cents(cents)}
    return Write(car_id, "oil-changes", body, "OilChanged", {"mileage": mileage, "chargeCents": cents})


def brake_inspection(car_id: str, mileage: int, pad: int) -> Write:
    body = {"mileage": mileage, "remainingPad": pad}
    return Write(car_id, "brake-inspections", body, "BrakesInspected", body)


def tire_replacement(car_id: str, tires: int, cents: int) -> Write:
    body = {"numberOfTiresReplaced": tires, "charge": format_cents(cents)}
    data = {"numberOfTiresReplaced": tires, "chargeCents": cents}
    return Write(car_id, "tire-replacements", body, "TiresReplaced", data)


def owner_change(car_id: str, owner: str) -> Write:
    return Write(car_id, "owner-changes", {"newOwner": owner}, "OwnerChanged", {"newOwner": owner})


def post(write: Write, *, key: str | None = None) -> func.HttpResponse:
    """Send the write to its function, as the Functions worker would."""
    headers = {} if key is None else {"Idempotency-Key": key}
    if write.car_id is None:
        return call(add_car, "POST", "cars", json_body=write.body, headers=headers)
    return call(
        ROUTES[write.route],
        "POST",
        f"cars/{write.car_id}/{write.route}",
        json_body=write.body,
        headers=headers,
        route_params={"carId": write.car_id},
    )


# --- the checks --------------------------------------------------------------------------------------


def assert_whole(api: Api, car_id: str) -> list[Document]:
    """Never a partial append: versions 1..n, the head at version n, and the head is the events' fold."""
    docs = api.events(car_id)
    assert [d["version"] for d in docs] == list(range(1, len(docs) + 1))
    stored = api.services.events.read_head(car_id)
    assert stored is not None
    head = head_from_document(stored.doc, stored.etag)
    assert head is not None
    assert head.version == len(docs)
    assert head.car == fold(None, (stored_event_from_document(d).event for d in docs), car_id=car_id)
    return docs


def assert_retry_later(response: func.HttpResponse) -> None:
    problem = problem_of(response, 503)
    assert problem["type"] == "urn:cartracker:problem:store-unavailable"
    assert int(response.headers["Retry-After"]) >= 1


def assert_landed_once(response: func.HttpResponse, write: Write, before: int, docs: list[Document]) -> None:
    """A 2xx wrote exactly one event, the one asked for, at the version it answered."""
    assert response.status_code == (201 if write.car_id is None else 200), response.get_body()
    assert len(docs) == before + 1
    new = docs[-1]
    assert (new["type"], new["data"]) == (write.event_type, write.event_data)
    assert body_of(response)["version"] == new["version"]


def assert_outcome(api: Api, response: func.HttpResponse, write: Write, before: int) -> None:
    """Exactly one event and a 2xx, or no event and a 503 with Retry-After."""
    assert write.car_id is not None
    docs = assert_whole(api, write.car_id)
    if response.status_code == 503:
        assert_retry_later(response)
        assert len(docs) == before
    else:
        assert_landed_once(response, write, before, docs)


# --- one fault at a time -----------------------------------------------------------------------------

# (fault, how many requests it hits (-1: all), the status the client gets)
BATCH_FAULTS = [
    ("throttle", 2, 200),  # the SDK waits out retry-after and tries again
    ("throttle", -1, 503),
    ("unavailable", 1, 200),
    ("unavailable", -1, 503),
    ("reset", 1, 200),
    ("reset", -1, 503),
    ("lost_answer", 1, 200),  # the service finds its own event by command id
    ("lost_answer", -1, 200),
    ("timeout", 1, 200),
    ("timeout", -1, 200),
]


@pytest.mark.parametrize(("fault", "times", "status"), BATCH_FAULTS, ids=str)
def test_a_command_under_a_batch_fault_lands_once_or_answers_503_with_retry_after(
    api: Api, fault: Fault, times: int, status: int
) -> None:
    car_id = api.new_car()
    write = oil_change(car_id, 1200, 4999)
    api.transport.inject("batch", fault, times=times)

    response = post(write)

    api.transport.clear()
    assert response.status_code == status, response.get_body()
    assert_outcome(api, response, write, before=1)


@pytest.mark.parametrize(
    ("fault", "times", "status"),
    [
        ("throttle", -1, 503),
        ("unavailable", -1, 503),
        ("reset", 1, 201),
        ("lost_answer", 1, 201),
        ("timeout", 1, 201),
    ],
    ids=str,
)
def test_adding_a_car_under_a_batch_fault_creates_one_car_or_answers_503(
    api: Api, fault: Fault, times: int, status: int
) -> None:
    write = add("Saab", "900", "Bob")
    api.transport.inject("batch", fault, times=times)

    response = post(write)

    api.transport.clear()
    assert response.status_code == status, response.get_body()
    if status == 503:
        assert_retry_later(response)
        assert api.car_ids() == set()
        return
    car_id = body_of(response)["carId"]
    assert api.car_ids() == {car_id}
    assert_landed_once(response, write, 0, assert_whole(api, car_id))


HEAD_READ_FAULTS = [
    ("throttle", 1, 200),
    ("throttle", -1, 503),
    ("unavailable", 1, 200),
    ("unavailable", -1, 503),
    ("reset", 1, 200),
    ("reset", -1, 503),
    ("lost_answer", 1, 200),  # a read is safe to repeat: the SDK does
    ("lost_answer", -1, 503),
    ("timeout", -1, 503),
]


@pytest.mark.parametrize(("fault", "times", "status"), HEAD_READ_FAULTS, ids=str)
def test_a_command_under_a_head_read_fault_lands_once_or_answers_503_with_retry_after(
    api: Api, fault: Fault, times: int, status: int
) -> None:
    car_id = api.new_car()
    api.cold(car_id)
    write = tire_replacement(car_id, 4, 52_000)
    api.transport.inject("read", fault, times=times)

    response = post(write)

    api.transport.clear()
    assert response.status_code == status, response.get_body()
    assert_outcome(api, response, write, before=1)


@pytest.mark.parametrize("fault", FAULTS)
def test_reading_while_the_store_keeps_failing_answers_503_with_retry_after(api: Api, fault: Fault) -> None:
    car_id = api.new_car()
    api.transport.inject("read", fault, times=-1)
    api.transport.inject("query", fault, times=-1)

    car = call(get_car, "GET", f"cars/{car_id}", route_params={"carId": car_id})
    history = call(get_car_history, "GET", f"cars/{car_id}/events", route_params={"carId": car_id})
    listed = call(list_cars, "GET", "cars")

    assert_retry_later(car)
    assert_retry_later(history)
    assert_retry_later(listed)
    api.transport.clear()
    assert body_of(call(get_car, "GET", f"cars/{car_id}", route_params={"carId": car_id}))["version"] == 1


# --- the client's retry, with its Idempotency-Key -----------------------------------------------------


def test_a_keyed_retry_after_a_503_lands_exactly_one_event(api: Api) -> None:
    car_id = api.new_car()
    write = oil_change(car_id, 800, 2_550)
    key = str(uuid.uuid4())
    api.transport.inject("batch", "unavailable", times=-1)
    assert_retry_later(post(write, key=key))
    api.transport.clear()

    retried = post(write, key=key)
    again = post(write, key=key)

    assert_landed_once(retried, write, 1, assert_whole(api, car_id))
    assert again.status_code == 200
    assert body_of(again) == body_of(retried)


def test_a_503_after_a_lost_answer_may_have_landed_and_the_keyed_retry_returns_that_event(api: Api) -> None:
    car_id = api.new_car()
    write = owner_change(car_id, "Carol")
    key = str(uuid.uuid4())
    # The batch lands but its answer is lost, and the store then stays unreachable for the checks.
    api.transport.inject("batch", "lost_answer", times=1)
    api.transport.inject("read", "reset", times=-1)
    api.transport.inject("query", "reset", times=-1)

    first = post(write, key=key)

    api.transport.clear()
    assert_retry_later(first)
    assert len(assert_whole(api, car_id)) == 2  # it did land: this is why a client retries with its key
    retried = post(write, key=key)
    assert_landed_once(retried, write, 1, assert_whole(api, car_id))


def test_a_client_that_lost_our_answer_gets_the_first_outcome_again(api: Api) -> None:
    car_id = api.new_car()
    write = brake_inspection(car_id, 15_000, 60)
    key = str(uuid.uuid4())
    api.transport.inject("batch", "timeout", times=1)
    first = post(write, key=key)
    assert first.status_code == 200

    retried = post(write, key=key)  # as if our 200 never reached the client

    assert retried.status_code == 200
    assert body_of(retried) == body_of(first)
    assert_landed_once(first, write, 1, assert_whole(api, car_id))


def test_a_keyed_add_car_retried_after_an_ambiguous_503_creates_one_car(api: Api) -> None:
    write = add("Fiat", "Panda", "Dora")
    key = str(uuid.uuid4())
    api.transport.inject("batch", "lost_answer", times=1)
    api.transport.inject("read", "reset", times=-1)

    first = post(write, key=key)

    api.transport.clear()
    assert_retry_later(first)
    retried = post(write, key=key)
    again = post(write, key=key)
    car_id = body_of(retried)["carId"]
    assert api.car_ids() == {car_id}
    assert_landed_once(retried, write, 0, assert_whole(api, car_id))
    assert (again.status_code, body_of(again)) == (201, body_of(retried))


# --- many commands, many faults ---------------------------------------------------------------------

STEPS = 60
FAULTY_KINDS = ("batch", "read", "query")


@dataclass
class Client:
    """What one client knows: the cars it added and every event it was told (or found) had landed."""

    rng: random.Random
    cars: list[str] = field(default_factory=list)
    landed: dict[str, list[Write]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)

    def next_write(self, api: Api, step: int) -> Write:
        if not self.cars or self.rng.random() < 0.1:
            return add("Volvo", f"Model {step}", f"Owner {step}")
        car_id = self.rng.choice(self.cars)
        car = api.services.queries.car(car_id)  # faults are off between steps
        mileage = (car.last_mileage or 0) + self.rng.randrange(0, 5_000)
        return self.rng.choice(
            [
                oil_change(car_id, mileage, self.rng.randrange(0, 100_000)),
                brake_inspection(car_id, mileage, self.rng.randrange(0, 101)),
                tire_replacement(car_id, self.rng.randrange(1, 5), self.rng.randrange(0, 100_000)),
                owner_change(car_id, f"Owner {step}"),
            ]
        )

    def inject_faults(self, api: Api) -> None:
        for _ in range(self.rng.choice([0, 1, 1, 2])):
            kind = self.rng.choice(FAULTY_KINDS)
            api.transport.inject(kind, self.rng.choice(FAULTS), times=self.rng.choice([1, 2, -1]))
            if kind == "read" and self.rng.random() < 0.7:
                for car_id in self.cars:
                    api.cold(car_id)


def test_a_random_sequence_of_commands_under_random_faults_keeps_every_stream_whole(api: Api) -> None:
    client = Client(random.Random(20260308))
    for step in range(STEPS):
        write = client.next_write(api, step)
        key = str(uuid.uuid4()) if client.rng.random() < 0.5 else None
        before = 0 if write.car_id is None else len(api.events(write.car_id))
        known = api.car_ids()
        api.transport.injected.clear()
        client.inject_faults(api)

        response = post(write, key=key)

        api.transport.clear()
        ambiguous = any(kind == "batch" and fault in AMBIGUOUS for kind, fault in api.transport.injected)
        client.outcomes[f"{response.status_code}{' after an ambiguous write' if ambiguous else ''}"] += 1
        assert response.status_code in (200, 201, 503), response.get_body()
        if response.status_code == 503:
            assert_retry_later(response)
            if key is not None:  # the client retries the same request with the same key, store healthy
                response = post(write, key=key)
                assert response.status_code in (200, 201), response.get_body()
        new_cars = api.car_ids() - known
        if response.status_code == 503:
            # Only an ambiguous write may have landed behind a 503, and then only once.
            assert len(new_cars) <= (1 if ambiguous and write.car_id is None else 0)
            car_id = write.car_id or next(iter(new_cars), None)
            if car_id is None:
                continue
            docs = assert_whole(api, car_id)
            assert before <= len(docs) <= before + (1 if ambiguous else 0)
        else:
            car_id = write.car_id or body_of(response)["carId"]
            assert new_cars == (set() if write.car_id else {car_id})
            docs = assert_whole(api, car_id)
            assert_landed_once(response, write, before, docs)
        if len(docs) > before:
            assert (docs[-1]["type"], docs[-1]["data"]) == (write.event_type, write.event_data)
            if write.car_id is None:
                client.cars.append(car_id)
            client.landed.setdefault(car_id, []).append(write)

    for car_id in client.cars:
        docs = assert_whole(api, car_id)
        assert [(d["type"], d["data"]) for d in docs] == [
            (w.event_type, w.event_data) for w in client.landed[car_id]
        ]
        cents = sum(w.event_data.get("chargeCents", 0) for w in client.landed[car_id])
        shown = body_of(call(get_car, "GET", f"cars/{car_id}", route_params={"carId": car_id}))
        assert shown["totalCharges"] == format_cents(cents)
    # The seed makes every kind of outcome happen; a change that stopped injecting would show here.
    assert {"200", "201", "503"} <= set(client.outcomes), client.outcomes
    assert any("ambiguous" in outcome for outcome in client.outcomes), client.outcomes


# --- the embedded store ----------------------------------------------------------------------------


def test_a_write_that_waits_out_the_sqlite_lock_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Another process (a rebuild, a second host) holding the write lock past the busy timeout makes
    the store busy, not broken: the client is told to come back, and nothing is written."""
    path = tmp_path / "store.sqlite3"
    with installed(sqlite_services(path)) as services:
        car_id = body_of(post(add("Saab", "900", "Eve")))["carId"]
        # This thread's connection gives up after 50 ms instead of 30 s.
        services.backend.connection().execute("PRAGMA busy_timeout = 50")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            response = post(oil_change(car_id, 10, 100))
        finally:
            other.execute("ROLLBACK")
            other.close()

        assert_retry_later(response)
        assert [d["version"] for d in services.events.read_events(car_id)] == [1]
