"""Many clients writing one car at once through the local host: no lost or duplicated write, exact money."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import requests

from tests.e2e.conftest import LiveApi

CLIENTS = 20
CHANGES_PER_CLIENT = 10


def test_concurrent_oil_changes_each_land_once_or_are_refused_with_409(live_api: LiveApi) -> None:
    car_id = live_api.post("cars", {"make": "Volvo", "model": "V70", "owner": "Alice"}).json()["carId"]
    url = f"{live_api.api}/cars/{car_id}/oil-changes"
    applied: list[tuple[int, str]] = []  # (version, charge) of every 200
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        with requests.Session() as session:
            start.wait()
            for change in range(CHANGES_PER_CLIENT):
                # A distinct charge per request, so each event can be traced to the request that wrote it.
                charge = f"{number}.{change:02d}"
                answer = session.post(url, json={"mileage": 1000, "charge": charge}, timeout=30)
                with lock:
                    statuses[answer.status_code] += 1
                    if answer.status_code == 200:
                        applied.append((answer.json()["version"], charge))

    with ThreadPoolExecutor(CLIENTS) as pool:
        for finished in [pool.submit(client, n) for n in range(CLIENTS)]:
            finished.result()  # re-raises a client's exception here

    assert sum(statuses.values()) == CLIENTS * CHANGES_PER_CLIENT
    assert set(statuses) <= {200, 409}, statuses
    assert statuses[200] > 0
    history = live_api.services.events.read_events(car_id, limit=1000)
    assert [e["version"] for e in history] == list(range(1, statuses[200] + 2))  # contiguous, CarAdded first
    assert [e["type"] for e in history] == ["CarAdded"] + ["OilChanged"] * statuses[200]
    # Each 200 is exactly one event: the one at the version it answered, with its charge.
    assert sorted(applied) == sorted((e["version"], f"{Decimal(e['data']['chargeCents']) / 100:.2f}")
                                     for e in history[1:])  # fmt: skip
    expected_total = sum(Decimal(charge) for _, charge in applied)
    assert Decimal(live_api.get(f"cars/{car_id}").json()["totalCharges"]) == expected_total
