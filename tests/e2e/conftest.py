"""The local host, started in-process on a free port over a fresh SQLite file, for real HTTP clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from cartracker.bootstrap import Services
from cartracker.localhost.changefeed import ChangeFeedPump, change_feed_pumps
from cartracker.localhost.index import app_index
from cartracker.localhost.server import LocalHost
from tests.support.functions import installed, sqlite_services


@dataclass
class LiveApi:
    url: str  # the host's root, e.g. http://127.0.0.1:54321
    api: str  # url + "/api"
    services: Services
    http: requests.Session

    def post(self, path: str, json: object, **headers: str) -> requests.Response:
        return self.http.post(f"{self.api}/{path}", json=json, headers=headers, timeout=10)

    def get(self, path: str, **headers: str) -> requests.Response:
        return self.http.get(f"{self.api}/{path}", headers=headers, timeout=10)


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """One host per test module: port 0 lets the OS pick a free port, so modules never collide."""
    path: Path = tmp_path_factory.mktemp("live") / "store.sqlite3"
    with installed(sqlite_services(path)) as services, requests.Session() as session:
        host = LocalHost("127.0.0.1", 0)
        host.start()
        try:
            yield LiveApi(url=host.url, api=f"{host.url}/api", services=services, http=session)
        finally:
            host.stop()


@pytest.fixture(scope="module")
def pump(live_api: LiveApi) -> Iterator[ChangeFeedPump]:
    """The car-list projector fed from the store's change feed, as `python -m cartracker serve` runs it.

    Tests `pause()` it to watch predictions, `resume()` it, and `wait_until_caught_up()`.
    """
    pumps = change_feed_pumps(app_index().change_feed, live_api.services.backend)
    [projector] = [p for p in pumps if p.function.name == "project_car_list"]
    for each in pumps:  # every projection runs, as under `serve`; tests steer the car list's
        each.start()
    try:
        yield projector
    finally:
        for each in pumps:
            each.stop()
