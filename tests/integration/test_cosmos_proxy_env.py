"""The app's own transport, or proxies from the environment when CARTRACKER_COSMOS_USE_PROXY_ENV says so."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from azure.core.exceptions import ServiceRequestError

from cartracker.adapters.cosmos_client import create_client, create_transport
from cartracker.adapters.http_transport import HttpClientTransport
from cartracker.settings import SETTING_COSMOS_USE_PROXY_ENV, ConfigurationError, Settings
from tests.conftest import CosmosEnv


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def dead_proxy(cosmos: CosmosEnv, monkeypatch: pytest.MonkeyPatch) -> CosmosEnv:
    """A fresh database, then an environment naming a proxy that refuses every connection."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return cosmos


def test_by_default_the_client_ignores_a_proxy_in_the_environment(dead_proxy: CosmosEnv) -> None:
    database = dead_proxy.settings.database
    client = create_client(dead_proxy.settings, retry_total=0)
    assert client.get_database_client(database).read()["id"] == database
    client.close()


def test_with_the_setting_on_the_client_goes_through_the_environments_proxy(dead_proxy: CosmosEnv) -> None:
    settings = replace(dead_proxy.settings, cosmos_use_proxy_env=True)
    with pytest.raises(ServiceRequestError):
        create_client(settings, retry_total=0, retry_connect=0, retry_backoff_max=0).close()


def test_the_setting_takes_1_or_0_and_nothing_else() -> None:
    assert Settings.from_env({}).cosmos_use_proxy_env is False
    assert Settings.from_env({SETTING_COSMOS_USE_PROXY_ENV: "1"}).cosmos_use_proxy_env is True
    assert Settings.from_env({SETTING_COSMOS_USE_PROXY_ENV: "0"}).cosmos_use_proxy_env is False
    with pytest.raises(ConfigurationError):
        Settings.from_env({SETTING_COSMOS_USE_PROXY_ENV: "yes"})


def test_the_app_uses_its_own_transport_unless_a_proxy_is_wanted() -> None:
    from azure.core.pipeline.transport import RequestsTransport  # noqa: PLC0415 - imports requests

    assert isinstance(create_transport(Settings.from_env({})), HttpClientTransport)
    proxied = create_transport(Settings.from_env({SETTING_COSMOS_USE_PROXY_ENV: "1"}))
    assert isinstance(proxied, RequestsTransport)
    assert proxied._use_env_settings  # reads HTTPS_PROXY and NO_PROXY (test above)
    # The SDK's own proxy_config needs RequestsTransport too, with or without the environment.
    assert isinstance(create_transport(Settings.from_env({}), proxied=True), RequestsTransport)
