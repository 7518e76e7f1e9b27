"""Shared fixtures: every store-backed test runs once on SQLite and once on a Cosmos-protocol server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.cosmos import CosmosClient, DatabaseProxy

from cartracker.bootstrap import Services, bootstrap
from cartracker.settings import (
    CONNECTION_PREFIX,
    EMULATOR_KEY,
    SETTING_DATABASE,
    SETTING_SQLITE_PATH,
    SETTING_STORE,
    Settings,
)
from tests.support.cosmos import (
    CosmosServer,
    CountingTransport,
    create_containers,
    make_client,
    start_cosmos_server,
)


@pytest.fixture(scope="session")
def cosmos_server() -> Iterator[CosmosServer]:
    # No skip: `make test` installs the server, so a server that cannot start is a failure.
    server = start_cosmos_server()
    yield server
    server.stop()


@dataclass
class CosmosEnv:
    client: CosmosClient
    transport: CountingTransport
    database: DatabaseProxy
    settings: Settings


@pytest.fixture
def cosmos(cosmos_server: CosmosServer) -> Iterator[CosmosEnv]:
    """A fresh database (events, views, leases) on the shared server, with a round-trip counter."""
    transport = CountingTransport()
    client = make_client(cosmos_server.endpoint, transport)
    name = f"cartracker-{uuid.uuid4().hex[:10]}"
    database = create_containers(client, name)
    settings = Settings.from_env(
        {
            SETTING_STORE: "cosmos",
            SETTING_DATABASE: name,
            CONNECTION_PREFIX: f"AccountEndpoint={cosmos_server.endpoint};AccountKey={EMULATOR_KEY};",
        }
    )
    transport.reset()
    yield CosmosEnv(client=client, transport=transport, database=database, settings=settings)
    client.delete_database(name)
    client.close()


def sqlite_settings(path: Path) -> Settings:
    return Settings.from_env({SETTING_STORE: "sqlite", SETTING_SQLITE_PATH: str(path)})


@pytest.fixture(params=["sqlite", "cosmos"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Services:
    """The application's services over each store in turn."""
    if request.param == "sqlite":
        return bootstrap(sqlite_settings(tmp_path / "store.sqlite3"))
    env: CosmosEnv = request.getfixturevalue("cosmos")
    return bootstrap(env.settings, cosmos_client=env.client)
