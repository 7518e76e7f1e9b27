"""Names shared by the code and the infrastructure, and the settings that override them.

This module is the single source on the code side: `infra/` provisions exactly
these names, and `tests/infra` checks that the two agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Cosmos DB names (defaults; each may be overridden by the app setting beside it).
DATABASE_NAME = "cartracker"
EVENTS_CONTAINER = "events"
VIEWS_CONTAINER = "views"
LEASES_CONTAINER = "leases"

EVENTS_PARTITION_KEY = "/aggregateId"
VIEWS_PARTITION_KEY = "/partitionKey"
LEASES_PARTITION_KEY = "/id"

# Number of car-list shards. Fixed per deployment: changing it needs a rebuild.
DEFAULT_LIST_SHARDS = 16

# App setting names.
SETTING_STORE = "CARTRACKER_STORE"  # "cosmos" (default) or "sqlite"
SETTING_SQLITE_PATH = "CARTRACKER_SQLITE_PATH"
SETTING_LIST_SHARDS = "CARTRACKER_LIST_SHARDS"
SETTING_DATABASE = "COSMOS_DATABASE"
SETTING_EVENTS_CONTAINER = "COSMOS_EVENTS_CONTAINER"
SETTING_VIEWS_CONTAINER = "COSMOS_VIEWS_CONTAINER"
SETTING_LEASES_CONTAINER = "COSMOS_LEASES_CONTAINER"
# "1": the Cosmos client's HTTP session reads the environment again (HTTP(S)_PROXY, NO_PROXY,
# REQUESTS_CA_BUNDLE, .netrc) on every request. Off by default: those lookups cost client CPU on
# every round trip and grow with the size of the environment (docs/performance.md).
SETTING_COSMOS_USE_PROXY_ENV = "CARTRACKER_COSMOS_USE_PROXY_ENV"
# The Functions "connection" prefix: either a connection string in COSMOS_CONNECTION
# (emulator) or identity-based settings COSMOS_CONNECTION__accountEndpoint (+ __credential,
# __clientId) in Azure. The Cosmos trigger and our SDK client read the same settings.
CONNECTION_PREFIX = "COSMOS_CONNECTION"
SETTING_ACCOUNT_ENDPOINT = f"{CONNECTION_PREFIX}__accountEndpoint"
SETTING_CREDENTIAL = f"{CONNECTION_PREFIX}__credential"
SETTING_CLIENT_ID = f"{CONNECTION_PREFIX}__clientId"

# Change-feed lease prefixes, one per projector so that each keeps its own checkpoints.
CAR_LIST_LEASE_PREFIX = "carList-"
SERVICE_DUE_LEASE_PREFIX = "serviceDue-"


# The Cosmos emulator's published, well-known key (not a secret).
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    store: str
    sqlite_path: str
    list_shards: int
    database: str
    events_container: str
    views_container: str
    leases_container: str
    connection_string: str | None
    account_endpoint: str | None
    managed_identity_client_id: str | None
    cosmos_use_proxy_env: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ) if env is None else env
        store = e.get(SETTING_STORE, "cosmos").strip().lower()
        if store not in ("cosmos", "sqlite"):
            raise ConfigurationError(f"{SETTING_STORE} must be 'cosmos' or 'sqlite', not {store!r}")
        shards_text = e.get(SETTING_LIST_SHARDS, str(DEFAULT_LIST_SHARDS))
        try:
            shards = int(shards_text)
        except ValueError:
            shards = 0
        if not 1 <= shards <= 1000:
            raise ConfigurationError(f"{SETTING_LIST_SHARDS} must be an integer 1-1000, not {shards_text!r}")
        return cls(
            store=store,
            sqlite_path=e.get(SETTING_SQLITE_PATH, ".data/cartracker.sqlite3"),
            list_shards=shards,
            database=e.get(SETTING_DATABASE, DATABASE_NAME),
            events_container=e.get(SETTING_EVENTS_CONTAINER, EVENTS_CONTAINER),
            views_container=e.get(SETTING_VIEWS_CONTAINER, VIEWS_CONTAINER),
            leases_container=e.get(SETTING_LEASES_CONTAINER, LEASES_CONTAINER),
            connection_string=e.get(CONNECTION_PREFIX) or None,
            account_endpoint=e.get(SETTING_ACCOUNT_ENDPOINT) or None,
            managed_identity_client_id=e.get(SETTING_CLIENT_ID) or None,
            cosmos_use_proxy_env=_flag(e, SETTING_COSMOS_USE_PROXY_ENV),
        )


def _flag(env: dict[str, str], name: str) -> bool:
    text = env.get(name, "0").strip().lower()
    if text not in ("0", "1", "true", "false", ""):
        raise ConfigurationError(f"{name} must be 1 or 0, not {text!r}")
    return text in ("1", "true")
