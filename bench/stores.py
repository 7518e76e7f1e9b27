"""The two stores the bench measures, set up the way the tests set them up.

* SQLite: the app's services over a fresh file in a temporary directory.
* Cosmos protocol: the app's services over a fresh database on
  `@vercel/cosmosdb-server` (started once per run by `tests.support.cosmos`),
  driven by the real `azure-cosmos` SDK through the tests' `CountingTransport`
  (around the app's own transport), which records every HTTP request the SDK sends.

SQLite has no transport to count at. There, a *round trip* is one call of a
store port (`EventStore` / `ViewStore`): each is one SQLite transaction or one
query, the unit that Cosmos turns into one HTTP request. `PortCalls` wraps the
ports and counts those calls.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from azure.cosmos import CosmosClient

from cartracker import request_charge
from cartracker.bootstrap import Services, bootstrap
from cartracker.ports import EventStore
from cartracker.projection.car_list import CAR_LIST
from cartracker.projection.engine import Projector
from cartracker.projection.ports import ViewStore
from cartracker.service.car_list import CarListQueries
from cartracker.service.commands import CommandService
from cartracker.service.queries import CarQueries
from cartracker.settings import (
    CONNECTION_PREFIX,
    EMULATOR_KEY,
    SETTING_DATABASE,
    SETTING_SQLITE_PATH,
    SETTING_STORE,
    Settings,
)
from tests.support.cosmos import CosmosServer, CountingTransport, create_containers, make_client


def sqlite_services(directory: Path, name: str) -> Services:
    """The app's services over a new SQLite file `name` in `directory`."""
    return bootstrap(sqlite_settings(directory / f"{name}-{uuid.uuid4().hex[:8]}.sqlite3"))


def sqlite_settings(path: Path) -> Settings:
    """The app's settings for the SQLite file at `path`."""
    return Settings.from_env({SETTING_STORE: "sqlite", SETTING_SQLITE_PATH: str(path)})


def cosmos_settings(endpoint: str, database: str, **more: str) -> Settings:
    """The app's settings for `database` on the test server at `endpoint` (plus any other settings)."""
    return Settings.from_env(
        {
            SETTING_STORE: "cosmos",
            SETTING_DATABASE: database,
            CONNECTION_PREFIX: f"AccountEndpoint={endpoint};AccountKey={EMULATOR_KEY};",
            **more,
        }
    )


@dataclass
class CosmosDatabase:
    services: Services
    client: CosmosClient
    transport: CountingTransport


@contextmanager
def cosmos_database(
    server: CosmosServer, transport: CountingTransport | None = None, **client_options: Any
) -> Iterator[CosmosDatabase]:
    """The app's services over a fresh database on the test server; the database is deleted after.

    The containers are created by a client of their own, as infrastructure creates them in
    Azure, so that the app's client starts cold. The app's transport opens a connection per
    concurrent caller and keeps up to 16 per host, enough for the bench's 8. By default the
    client is built as the app builds its own (its transport inside a `CountingTransport`, and
    `app_client_options`); pass `transport` and options to compare others.
    """
    name = f"bench-{uuid.uuid4().hex[:10]}"
    admin = make_client(server.endpoint, CountingTransport())
    create_containers(admin, name)
    if transport is None:
        transport = CountingTransport()
        client_options = {**app_client_options(), **client_options}
    client = make_client(server.endpoint, transport, **client_options)
    transport.reset()
    settings = cosmos_settings(server.endpoint, name)
    try:
        yield CosmosDatabase(bootstrap(settings, cosmos_client=client), client, transport)
    finally:
        client.close()
        admin.delete_database(name)
        admin.close()


def app_client_options() -> dict[str, Any]:
    """What `cartracker.adapters.cosmos_client.create_client` adds to every client, but the transport."""
    return {"raw_response_hook": request_charge.record_response}


class PortCalls:
    """Counts the calls made to store ports: SQLite's round trips (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[str] = []

    def kinds(self) -> list[str]:
        with self._lock:
            return list(self._calls)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def record(self, name: str) -> None:
        with self._lock:
            self._calls.append(name)

    def counted(self, services: Services) -> Services:
        """The same services, with every call to their event and view stores counted here."""
        events = cast(EventStore, _Counted(services.events, self))
        views = cast(ViewStore, _Counted(services.views, self))
        shards = services.settings.list_shards
        return replace(
            services,
            events=events,
            views=views,
            commands=CommandService(events),
            queries=CarQueries(events),
            projector=Projector(CAR_LIST, views, events, shards=shards, clock=services.commands.clock),
            car_list=CarListQueries(views, events, shards=shards),
        )


class _Counted:
    """A port whose public methods record their name before they run."""

    def __init__(self, port: object, calls: PortCalls) -> None:
        self._port = port
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._port, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls.record(name)
            return attribute(*args, **kwargs)

        return counted
