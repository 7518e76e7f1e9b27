"""One `CosmosClient` per process, built from settings on first use, and SDK errors mapped to ours.

In Azure the client signs in with the app's managed identity
(`COSMOS_CONNECTION__accountEndpoint` + `__clientId`); locally it takes the
emulator's connection string from `COSMOS_CONNECTION`.

Every client gets two options: its HTTP transport (`create_transport`), and a hook
that hands every response's request charge to `cartracker.request_charge`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import HttpTransport
from azure.cosmos import CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError

from cartracker import request_charge
from cartracker.adapters.http_transport import HttpClientTransport
from cartracker.errors import StoreUnavailable
from cartracker.settings import CONNECTION_PREFIX, SETTING_ACCOUNT_ENDPOINT, ConfigurationError, Settings

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
# Statuses that mean "not now" once the SDK's own retries are spent (429 included).
_UNAVAILABLE = frozenset({408, 429, 449, 500, 502, 503, 504})
# Of those, the ones after which a write may have been applied: 408 and 5xx other than 503.
_AMBIGUOUS = frozenset({408, 500, 502, 504})
_client: CosmosClient | None = None
_client_lock = threading.Lock()


def create_client(settings: Settings, **client_options: Any) -> CosmosClient:
    # CustomHookPolicy calls the hook for every response, each retry included.
    client_options.setdefault("raw_response_hook", request_charge.record_response)
    if "transport" not in client_options:
        proxied = "proxy_config" in client_options or "proxies" in client_options
        client_options["transport"] = create_transport(settings, proxied=proxied)
    if settings.connection_string:
        endpoint = _endpoint_of(settings.connection_string)
        if urlparse(endpoint).hostname in _LOCAL_HOSTS:
            # The emulator serves a self-signed certificate; only a loopback endpoint skips verification.
            client_options.setdefault("connection_verify", False)
        return CosmosClient.from_connection_string(settings.connection_string, **client_options)
    if settings.account_endpoint:
        from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - only needed in Azure

        credential = DefaultAzureCredential(managed_identity_client_id=settings.managed_identity_client_id)
        return CosmosClient(settings.account_endpoint, credential=credential, **client_options)
    raise ConfigurationError(
        f"set {SETTING_ACCOUNT_ENDPOINT} (managed identity) or {CONNECTION_PREFIX} (connection string)"
    )


def create_transport(settings: Settings, *, proxied: bool = False) -> HttpTransport[Any, Any]:
    """The app's HTTP transport, `HttpClientTransport`: about half the client CPU per command.

    It has no proxy support. A deployment that reaches Cosmos DB through a proxy sets
    `CARTRACKER_COSMOS_USE_PROXY_ENV=1` and gets azure-core's `RequestsTransport`, which reads
    `HTTPS_PROXY`, `NO_PROXY`, CA bundles and `.netrc` from the environment on every request;
    a client given the SDK's own `proxy_config` or `proxies` gets it too (without those lookups).
    """
    if settings.cosmos_use_proxy_env or proxied:
        from azure.core.pipeline.transport import RequestsTransport  # noqa: PLC0415 - imports requests

        return RequestsTransport(use_env_settings=settings.cosmos_use_proxy_env)  # type: ignore[no-any-return]
    return HttpClientTransport()


def shared_client(settings: Settings) -> CosmosClient:
    """The process-wide client, created on first use (never at import, never per call)."""
    global _client  # noqa: PLW0603 - the one process-wide client is the point
    with _client_lock:
        if _client is None:
            _client = create_client(settings)
        return _client


def _endpoint_of(connection_string: str) -> str:
    parts = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    endpoint = parts.get("AccountEndpoint")
    if not endpoint:
        raise ConfigurationError(f"{CONNECTION_PREFIX} has no AccountEndpoint")
    return endpoint


@contextmanager
def store_errors() -> Iterator[None]:
    """Translate what is left after the SDK's own retries (429, 503, network) into `StoreUnavailable`."""
    try:
        yield
    except CosmosHttpResponseError as exc:
        if exc.status_code in _UNAVAILABLE:
            raise StoreUnavailable(
                f"Cosmos DB answered {exc.status_code}; try again shortly",
                retry_after_seconds=_retry_after(exc),
                write_may_have_applied=exc.status_code in _AMBIGUOUS,
            ) from exc
        raise
    except ServiceResponseError as exc:
        # The request went out but no answer came back: a write may or may not have happened.
        raise StoreUnavailable(
            "Cosmos DB did not answer in time; try again shortly", write_may_have_applied=True
        ) from exc
    except ServiceRequestError as exc:
        # The request never left: nothing was written.
        raise StoreUnavailable("Cosmos DB could not be reached; try again shortly") from exc


def _retry_after(exc: CosmosHttpResponseError) -> int:
    millis = (exc.headers or {}).get("x-ms-retry-after-ms")
    try:
        return max(1, -(-int(float(millis)) // 1000)) if millis else 1
    except ValueError:
        return 1
