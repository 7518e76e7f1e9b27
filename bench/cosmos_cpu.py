"""Client CPU per Cosmos command, as a ratio to a raw HTTPS round trip to the same server.

What a Functions instance spends per command besides waiting: parsing, the
domain, the SDK's pipeline, the HTTP transport and TLS. Measured in this
process (`time.process_time`, the test server runs in another one) for warm
commands through the function layer, one thread, on the Cosmos test server.

The floor is one HTTPS request on a kept-alive `http.client` connection to the
same server (TLS and HTTP framing, nothing else): a command costs at least one
of those, and the ratio does not depend on how fast the machine is.

Variants, interleaved round by round (the median of each is reported), all but
`proxyEnv` with the app's request-charge hook:

* `proxyEnv`: the transport as azure-core builds it by default, `RequestsTransport`
  asking the environment for proxies on every request (the app before issue 15);
* `requests`: `RequestsTransport(use_env_settings=False)` (the app's client before its own
  transport, and still its client with `CARTRACKER_COSMOS_USE_PROXY_ENV=1`);
* `app`: the app's client, `HttpClientTransport` (`cartracker/adapters/http_transport.py`);
* `httpConnection`, `urllib3`: the two transports it was chosen over (`bench/transports.py`);
* `proxyEnv` and `app` again with `EXTRA_VARIABLES` more environment variables, about what a
  Functions worker's environment adds: the lookups grow with the environment.

Every variant sends through the tests' `CountingTransport`, which only classifies and counts
each request (the test server's batch quirk is fixed in the server, not by rewriting bodies),
so the ratios overstate the client's share by that little.
"""

from __future__ import annotations

import http.client
import os
import ssl
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from azure.core.pipeline.transport import HttpTransport

from bench.context import Context
from bench.report import Figure, Section, Target
from bench.stores import CosmosDatabase, app_client_options, cosmos_database
from bench.throughput import function_calls
from bench.transports import HttpConnectionTransport, Urllib3Transport
from cartracker.adapters.cosmos_client import create_transport
from cartracker.settings import SETTING_COSMOS_USE_PROXY_ENV, Settings
from tests.support.cosmos import CountingTransport
from tests.support.functions import installed

EXTRA_VARIABLES = 120
WARM_UP = 100


BEFORE_RATIO = 13.0  # cosmosCpu.proxyEnv.ratio before issue 15 (bench/results.json, 2026-12-01)


def _requests(*, use_env_settings: bool) -> HttpTransport[Any, Any]:
    """azure-core's `RequestsTransport`, built as `create_transport` builds it for a proxied deployment."""
    from azure.core.pipeline.transport import RequestsTransport  # noqa: PLC0415 - as the app imports it

    return RequestsTransport(use_env_settings=use_env_settings)  # type: ignore[no-any-return]


def _app_transport() -> HttpTransport[Any, Any]:
    return create_transport(Settings.from_env({SETTING_COSMOS_USE_PROXY_ENV: "0"}))


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    transport: Callable[[], HttpTransport[Any, Any]]
    app_options: bool  # the app's client options (the request-charge hook); False: the SDK's defaults
    extra_variables: int = 0


VARIANTS = (
    Variant(
        "proxyEnv",
        "RequestsTransport, environment lookups on (before)",
        lambda: _requests(use_env_settings=True),
        False,
    ),
    Variant(
        "requests",
        "RequestsTransport, lookups off (the app before its transport)",
        lambda: _requests(use_env_settings=False),
        True,
    ),
    Variant("app", "the app's client, HttpClientTransport (after)", _app_transport, True),
    Variant(
        "httpConnection", "http.client HTTPSConnection transport (not chosen)", HttpConnectionTransport, True
    ),
    Variant("urllib3", "urllib3 PoolManager transport (not chosen)", Urllib3Transport, True),
    Variant(
        "proxyEnvBigEnv",
        f"lookups on, {EXTRA_VARIABLES} more variables",
        lambda: _requests(use_env_settings=True),
        False,
        EXTRA_VARIABLES,
    ),
    Variant(
        "appBigEnv",
        f"the app's client, {EXTRA_VARIABLES} more variables",
        _app_transport,
        True,
        EXTRA_VARIABLES,
    ),
)


def run(ctx: Context) -> Section:
    count, rounds = ctx.scale.cosmos_cpu_commands, ctx.scale.cosmos_cpu_rounds
    floor: list[float] = []
    per_variant: dict[str, list[float]] = {v.key: [] for v in VARIANTS}
    with ExitStack() as stack:
        databases = {v.key: stack.enter_context(_database(ctx, v)) for v in VARIANTS}
        for _ in range(rounds):
            floor.append(raw_round_trip_cpu(ctx.cosmos_server.port, 2 * count))
            for variant in VARIANTS:
                with extra_environment(variant.extra_variables):
                    per_variant[variant.key].append(command_cpu(databases[variant.key], count))
    raw = statistics.median(floor)
    medians = {key: statistics.median(values) for key, values in per_variant.items()}

    section = Section("Client CPU per Cosmos command (test server, 1 thread)")
    section.add(
        Figure(
            "cosmosCpu.rawHttps",
            "raw HTTPS round trip (http.client, kept alive): the floor",
            "ms",
            {"cosmos": raw * 1000},
            digits=3,
            note="process CPU per request, median of the rounds",
            detail={"rounds": [round(x * 1000, 4) for x in floor]},
        )
    )
    for variant in VARIANTS:
        cpu = medians[variant.key]
        section.add(
            Figure(
                f"cosmosCpu.{variant.key}.ratio",
                f"CPU per command ÷ raw round trip: {variant.label}",
                "ratio",
                {"cosmos": cpu / raw},
                target=Target("<=", BEFORE_RATIO / 2, f"≤ {BEFORE_RATIO / 2:g}")
                if variant.key == "app"
                else None,
                digits=2,
                detail={
                    "msPerCommand": round(cpu * 1000, 4),
                    "rounds": [round(x * 1000, 4) for x in per_variant[variant.key]],
                    "commandsPerRound": count,
                },
            )
        )
    before, after = medians["proxyEnv"], medians["app"]
    section.add(
        Figure(
            "cosmosCpu.afterOverBefore",
            "CPU per command, the app's client ÷ environment lookups on",
            "ratio",
            {"cosmos": after / before},
            target=Target("<=", 0.5, "≤ 0.5"),
            digits=2,
            detail={
                "bigEnvironment": round(medians["appBigEnv"] / medians["proxyEnvBigEnv"], 3),
                "overRequests": round(after / medians["requests"], 3),
            },
        )
    )
    return section


def _database(ctx: Context, variant: Variant) -> AbstractContextManager[CosmosDatabase]:
    transport = CountingTransport(variant.transport())
    return cosmos_database(
        ctx.cosmos_server, transport, **(app_client_options() if variant.app_options else {})
    )


def command_cpu(database: CosmosDatabase, count: int) -> float:
    """Process CPU seconds per warm command through the function layer."""
    with installed(database.services):
        for function, request in function_calls(WARM_UP):
            function(request)
        calls = function_calls(count)
        started = time.process_time()
        for function, request in calls:
            response = function(request)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.get_body()[:200]!r}")
        return (time.process_time() - started) / count


def raw_round_trip_cpu(port: int, count: int) -> float:
    """Process CPU seconds per HTTPS request on one kept-alive connection (the server's cost not counted)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test server's certificate is self-signed (loopback only)
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        for _ in range(50):  # the handshake and first requests are not the steady state
            _get(connection)
        started = time.process_time()
        for _ in range(count):
            _get(connection)
        return (time.process_time() - started) / count
    finally:
        connection.close()


def _get(connection: http.client.HTTPSConnection) -> None:
    connection.request("GET", "/", headers={"Accept": "application/json"})
    connection.getresponse().read()


@contextmanager
def extra_environment(count: int) -> Iterator[None]:
    names = [f"BENCH_EXTRA_SETTING_{n:03d}" for n in range(count)]
    for name in names:
        os.environ[name] = "x" * 40
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)
