"""Fifty clients for a bounded time against the local host: no 5xx, no lost or duplicated event, exact money.

Each client is a thread with its own `requests.Session` on loopback, mixing every command (some with an
`Idempotency-Key` and a deliberate retry of the same request, some with `If-Match`), deliberately bad
requests (400, 422, stale `If-Match` -> 412) and queries (a car, its whole history, the list with `after`
tokens, page by page). It logs every write it got a 2xx for. The change-feed pump projects the list all
along. Afterwards every car's history, read through the API, must be exactly the logged events, its total
exactly the sum of the logged charges, and -- once the pump has caught up -- the list's totals the sums
over all cars.

The run lasts `CARTRACKER_LOAD_SECONDS` (default 30) and stops by itself; it prints one summary line.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from cartracker.domain.money import format_cents
from cartracker.localhost.changefeed import ChangeFeedPump
from tests.e2e.conftest import LiveApi

CLIENTS = 50
SECONDS = float(os.environ.get("CARTRACKER_LOAD_SECONDS", "30"))
REQUEST_TIMEOUT = 30.0  # seconds; bounds how long a client can outlive the deadline
WRITE_OK = {200, 409}  # 409: the car kept changing under the service's retries (shared cars)


@dataclass(frozen=True)
class Landed:
    """A write the client got a 2xx for: the event it must find in the car's history."""

    car_id: str
    version: int
    type: str
    data: dict[str, Any]  # as the history shows it: amounts as two-decimal strings
    cents: int


@dataclass
class OwnCar:
    version: int
    mileage: int = 0  # only the owner records mileage, so it knows the last one


class Fleet:
    """Every car any client has added: the others may replace its tires or change its owner."""

    def __init__(self) -> None:
        self._cars: list[str] = []
        self._lock = threading.Lock()

    def add(self, car_id: str) -> None:
        with self._lock:
            self._cars.append(car_id)

    def pick(self, rng: random.Random) -> str | None:
        with self._lock:
            return rng.choice(self._cars) if self._cars else None


@dataclass
class LoadClient:
    number: int
    api: str
    fleet: Fleet
    deadline: float
    rng: random.Random
    session: requests.Session = field(default_factory=requests.Session)
    own: dict[str, OwnCar] = field(default_factory=dict)
    landed: list[Landed] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"GET": [], "POST": []})
    surprises: list[str] = field(default_factory=list)
    tokens: deque[tuple[str, int, str]] = field(default_factory=lambda: deque(maxlen=3))
    names: int = 0

    def run(self) -> None:
        actions = [
            (self.add_car, 8),
            (self.change_oil, 14),
            (self.inspect_brakes, 7),
            (self.replace_tires, 9),
            (self.change_owner, 5),
            (self.keyed_write_retried, 7),
            (self.malformed_write, 4),
            (self.mileage_going_back, 2),
            (self.stale_if_match, 3),
            (self.read_car, 14),
            (self.read_history, 10),
            (self.read_list, 17),
        ]
        functions, weights = zip(*actions, strict=True)
        with self.session:
            self.add_car()
            while time.monotonic() < self.deadline:
                self.rng.choices(functions, weights)[0]()

    # --- plumbing --------------------------------------------------------------------------------

    def send(self, method: str, path: str, expect: set[int], **kwargs: Any) -> requests.Response:
        started = time.perf_counter()
        response = self.session.request(method, f"{self.api}/{path}", timeout=REQUEST_TIMEOUT, **kwargs)
        self.latencies[method].append(time.perf_counter() - started)
        self.statuses[response.status_code] += 1
        if response.status_code not in expect:
            self.surprises.append(f"{method} {path} -> {response.status_code} {response.text[:300]}")
        return response

    def record(self, body: dict[str, Any], event_type: str, data: dict[str, Any], cents: int = 0) -> None:
        car_id, version = body["carId"], body["version"]
        self.landed.append(Landed(car_id, version, event_type, data, cents))
        self.tokens.append((car_id, version, body["consistencyToken"]))
        if car_id in self.own:
            self.own[car_id].version = max(self.own[car_id].version, version)
            if "mileage" in data:
                self.own[car_id].mileage = data["mileage"]

    def command(
        self,
        car_id: str,
        route: str,
        body: dict[str, Any],
        event: tuple[str, dict[str, Any], int],
        *,
        headers: dict[str, str] | None = None,
        expect: set[int] = WRITE_OK,
        resend: bool = False,
    ) -> None:
        """Send a command (twice with `resend`, as a client that lost the first answer) and log its event."""
        answers = [
            self.send("POST", f"cars/{car_id}/{route}", expect, json=body, headers=headers)
            for _ in range(2 if resend else 1)
        ]
        landed = [answer.json() for answer in answers if answer.status_code == 200]
        if landed:
            self.record(landed[0], *event)  # once: a keyed retry replays the first outcome
        if resend and answers[0].status_code == 200 and landed[1:] != landed[:1]:
            self.surprises.append(f"a keyed retry answered {answers[1].status_code} {answers[1].text[:300]}")

    def own_car(self) -> str:
        return self.rng.choice(list(self.own))

    def any_car(self) -> str:
        return self.fleet.pick(self.rng) or self.own_car()

    def charge(self) -> tuple[Any, str, int]:
        """A charge as sent (a decimal string, or now and then a whole JSON number), as shown, in cents."""
        if self.rng.random() < 0.2:
            units = self.rng.randrange(0, 500)
            return units, format_cents(units * 100), units * 100
        cents = self.rng.randrange(0, 100_000)
        return format_cents(cents), format_cents(cents), cents

    def new_name(self) -> str:
        self.names += 1
        return f"Owner {self.number}-{self.names}"

    # --- writes ----------------------------------------------------------------------------------

    def add_car(self) -> None:
        body = {"make": "Volvo", "model": f"V{self.rng.randrange(40, 90)}", "owner": self.new_name()}
        keyed = self.rng.random() < 0.3
        headers = (
            {"Idempotency-Key": f"add-{self.number}-{self.names}-{self.rng.random()}"} if keyed else None
        )
        response = self.send("POST", "cars", {201}, json=body, headers=headers)
        if response.status_code != 201:
            return
        if keyed:  # the client retries, as if the first answer had been lost: the same car comes back
            again = self.send("POST", "cars", {201}, json=body, headers=headers)
            if again.status_code == 201 and again.json() != response.json():
                self.surprises.append(f"a retried add car answered {again.json()} after {response.json()}")
        created = response.json()
        self.own[created["carId"]] = OwnCar(version=1)
        self.record(created, "CarAdded", body)
        self.fleet.add(created["carId"])

    def change_oil(self, *, key: str | None = None) -> None:
        car_id = self.own_car()
        car = self.own[car_id]
        mileage = car.mileage + self.rng.randrange(0, 3_000)
        sent, shown, cents = self.charge()
        headers, expect = ({"Idempotency-Key": key} if key else None), WRITE_OK
        if key is None and self.rng.random() < 0.25:  # If-Match the version we know: 412 if others wrote
            headers, expect = {"If-Match": f'"{car.version}"'}, {200, 409, 412}
        event = ("OilChanged", {"mileage": mileage, "charge": shown}, cents)
        body = {"mileage": mileage, "charge": sent}
        self.command(car_id, "oil-changes", body, event, headers=headers, expect=expect, resend=bool(key))

    def inspect_brakes(self) -> None:
        car_id = self.own_car()
        body = {"mileage": self.own[car_id].mileage + self.rng.randrange(0, 3_000), "remainingPad": 50}
        self.command(car_id, "brake-inspections", body, ("BrakesInspected", body, 0))

    def replace_tires(self, *, key: str | None = None) -> None:
        tires = self.rng.randrange(1, 5)
        sent, shown, cents = self.charge()
        event = ("TiresReplaced", {"numberOfTiresReplaced": tires, "charge": shown}, cents)
        body = {"numberOfTiresReplaced": tires, "charge": sent}
        headers = {"Idempotency-Key": key} if key else None
        self.command(self.any_car(), "tire-replacements", body, event, headers=headers, resend=bool(key))

    def change_owner(self) -> None:
        body = {"newOwner": self.new_name()}
        self.command(self.any_car(), "owner-changes", body, ("OwnerChanged", body, 0))

    def keyed_write_retried(self) -> None:
        """A write with an Idempotency-Key, sent twice: one event, and the same answer both times."""
        key = f"{self.number}-{self.rng.getrandbits(64):016x}"
        if self.rng.random() < 0.5:
            self.change_oil(key=key)
        else:
            self.replace_tires(key=key)

    # --- requests that must be refused -----------------------------------------------------------

    def malformed_write(self) -> None:
        car_id = self.own_car()
        body, field_name = self.rng.choice(
            [
                ({"mileage": -1, "charge": "1.00"}, "mileage"),
                ({"mileage": 10, "charge": "1.001"}, "charge"),
                ({"mileage": 10, "charge": "1.00", "color": "red"}, "color"),
                ({"mileage": "ten", "charge": "1.00"}, "mileage"),
            ]
        )
        response = self.send("POST", f"cars/{car_id}/oil-changes", {400}, json=body)
        self.expect_problem(response, 400, field_name)

    def mileage_going_back(self) -> None:
        car_id = self.own_car()
        mileage = self.own[car_id].mileage
        if mileage == 0:
            return
        body = {"mileage": mileage - 1, "charge": "10.00"}
        self.expect_problem(self.send("POST", f"cars/{car_id}/oil-changes", {422}, json=body), 422, "mileage")

    def stale_if_match(self) -> None:
        car_id = self.own_car()
        if self.own[car_id].version < 2:
            return
        body = {"numberOfTiresReplaced": 1, "charge": "5.00"}
        response = self.send(
            "POST", f"cars/{car_id}/tire-replacements", {412}, json=body, headers={"If-Match": '"1"'}
        )
        self.expect_problem(response, 412, "If-Match")

    def expect_problem(self, response: requests.Response, status: int, field_name: str) -> None:
        if response.status_code != status:
            return  # already a surprise
        problem = response.json()
        if response.headers["Content-Type"] != "application/problem+json" or field_name not in {
            error["field"] for error in problem["errors"]
        }:
            self.surprises.append(f"the {status} problem does not name {field_name}: {problem}")

    # --- queries ---------------------------------------------------------------------------------

    def read_car(self) -> None:
        car_id = self.any_car()
        known = self.own.get(car_id)
        if known is not None and self.rng.random() < 0.3:
            headers = {"If-None-Match": f'"{known.version}"'}
            self.send("GET", f"cars/{car_id}", {200, 304}, headers=headers)
            return
        response = self.send("GET", f"cars/{car_id}", {200})
        if known is not None and response.status_code == 200 and response.json()["version"] < known.version:
            self.surprises.append(f"car {car_id} read at {response.json()['version']} after {known.version}")

    def read_history(self) -> None:
        car_id = self.any_car()
        versions = [item["version"] for item in self.history(car_id, page_size=self.rng.randrange(2, 30))]
        if versions != list(range(1, len(versions) + 1)):
            self.surprises.append(f"car {car_id} history has versions {versions}")

    def history(self, car_id: str, *, page_size: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"pageSize": page_size}
        while True:
            response = self.send("GET", f"cars/{car_id}/events", {200}, params=params)
            if response.status_code != 200:
                return items
            page = response.json()
            items.extend(page["items"])
            if page["continuationToken"] is None:
                return items
            params["continuationToken"] = page["continuationToken"]

    def read_list(self) -> None:
        tokens = list(self.tokens)[: self.rng.randrange(0, len(self.tokens) + 1)]
        params: dict[str, Any] = {"pageSize": 10, "after": [token for _, _, token in tokens]}
        for _ in range(self.rng.choice([1, 1, 2])):
            response = self.send("GET", "cars", {200}, params=params)
            if response.status_code != 200:
                return
            page = response.json()
            written = {car_id: version for car_id, version, _ in tokens}
            for item in page["items"]:  # read your own writes: never older than a token says
                if item["version"] < written.get(item["carId"], 0):
                    self.surprises.append(f"the list shows {item} behind the client's own write")
            if page["continuationToken"] is None:
                return
            params["continuationToken"] = page["continuationToken"]


def history_of(api: str, car_id: str) -> list[tuple[int, str, dict[str, Any]]]:
    """The car's whole history through the API, page after page: (version, type, data)."""
    items: list[tuple[int, str, dict[str, Any]]] = []
    params: dict[str, Any] = {"pageSize": 200}
    while True:
        response = requests.get(f"{api}/cars/{car_id}/events", params=params, timeout=REQUEST_TIMEOUT)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend((item["version"], item["type"], item["data"]) for item in page["items"])
        if page["continuationToken"] is None:
            return items
        params["continuationToken"] = page["continuationToken"]


def percentiles(clients: list[LoadClient], method: str | None = None) -> str:
    """p50 and p99 latency in ms, of one method's requests or of all."""
    values = sorted(t for c in clients for m, ts in c.latencies.items() if method in (None, m) for t in ts)
    p50, p99 = (values[min(len(values) - 1, int(f * len(values)))] * 1000 for f in (0.5, 0.99))
    return f"p50 {p50:.0f} ms, p99 {p99:.0f} ms"


def test_fifty_clients_for_a_bounded_time_lose_nothing_duplicate_nothing_and_get_no_5xx(
    live_api: LiveApi, pump: ChangeFeedPump, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = Fleet()
    started = time.monotonic()
    deadline = started + SECONDS
    clients = [
        LoadClient(n, live_api.api, fleet, deadline, random.Random(f"load-{n}")) for n in range(CLIENTS)
    ]
    with ThreadPoolExecutor(CLIENTS) as pool:
        for finished in [pool.submit(client.run) for client in clients]:
            finished.result(timeout=SECONDS + 2 * REQUEST_TIMEOUT)  # re-raises a client's exception
    elapsed = time.monotonic() - started

    statuses = sum((client.statuses for client in clients), Counter[int]())
    with capsys.disabled():
        print(
            f"\nload: {CLIENTS} clients, {elapsed:.1f} s, {statuses.total()} requests, "
            f"{statuses.total() / elapsed:.0f} req/s, {percentiles(clients)} "
            f"(reads {percentiles(clients, 'GET')}; writes {percentiles(clients, 'POST')}), "
            f"statuses {dict(sorted(statuses.items()))}"
        )
    assert [status for status in statuses if status >= 500] == []
    surprises = [surprise for client in clients for surprise in client.surprises]
    assert surprises == [], f"{len(surprises)} unexpected answers, e.g. {surprises[:5]}"

    landed: dict[str, list[Landed]] = {}
    for event in sorted((e for client in clients for e in client.landed), key=lambda e: e.version):
        landed.setdefault(event.car_id, []).append(event)
    assert min(statuses[400], statuses[412], statuses[422]) > 0, "every refusal was exercised"
    assert len(landed) > CLIENTS

    def check(car_id: str) -> int:
        """The car's history is exactly what the clients were told landed; its total, their sum."""
        history = history_of(live_api.api, car_id)
        assert [version for version, _, _ in history] == list(range(1, len(history) + 1))
        assert history == [(e.version, e.type, e.data) for e in landed[car_id]]
        cents = sum(e.cents for e in landed[car_id])
        car = requests.get(f"{live_api.api}/cars/{car_id}", timeout=REQUEST_TIMEOUT).json()
        assert (car["version"], car["totalCharges"]) == (len(landed[car_id]), format_cents(cents))
        return cents

    with ThreadPoolExecutor(8) as pool:
        total = sum(pool.map(check, landed))

    pump.wait_until_caught_up(timeout=60)
    listed = live_api.get("cars").json()
    assert (listed["totalCharges"], listed["carCount"]) == (format_cents(total), len(landed))
