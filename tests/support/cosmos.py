"""Test plumbing for running the Cosmos store against a real Cosmos-protocol server.

There is no Cosmos emulator in CI, so the integration tests start
``@vercel/cosmosdb-server`` (an in-memory server speaking the Cosmos REST protocol,
installed by ``npm ci``) and drive it with the real ``azure-cosmos`` SDK. That
server has a few quirks; they are absorbed *here*, in test-only code, and never in
the production adapter:

* its transactional-batch handler reads the partition key of replace/upsert/read/
  delete operations from a ``partitionKey`` field in each operation, while the
  Python SDK sends it once, in the ``x-ms-documentdb-partitionkey`` header
  (``cosmos_server.js`` gives each operation the header's, so no client pays to rewrite
  the body);
* it serves a self-signed, long-expired certificate, so the client cannot verify
  TLS (the SDK turns verification off for ``127.0.0.1`` itself; with a ``RequestsTransport``
  inside, the resulting ``InsecureRequestWarning`` is ignored for loopback hosts only);
* it scopes a single-partition query by its WHERE clause alone, so queries must
  also filter on the partition-key field (a rule for the tests and the adapter's
  queries, nothing to patch here);
* its batch is not atomic: operations before a failing one stay applied (see
  the plumbing tests), and it has no real change feed.

:class:`CountingTransport` also records every HTTP request the SDK actually sends,
so tests can assert that an operation costs exactly N round trips. It wraps the app's own
transport (``cartracker/adapters/http_transport.py``) unless given another.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import threading
import warnings
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from azure.core.pipeline.transport import HttpTransport
from azure.cosmos import CosmosClient, DatabaseProxy, PartitionKey
from urllib3.exceptions import InsecureRequestWarning

from cartracker.adapters.http_transport import HttpClientTransport
from cartracker.settings import (
    EMULATOR_KEY,
    EVENTS_CONTAINER,
    EVENTS_PARTITION_KEY,
    LEASES_CONTAINER,
    LEASES_PARTITION_KEY,
    VIEWS_CONTAINER,
    VIEWS_PARTITION_KEY,
)

__all__ = [
    "CosmosServer",
    "CountingTransport",
    "RoundTrip",
    "classify",
    "create_containers",
    "make_client",
    "start_cosmos_server",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = REPO_ROOT / "tests" / "support" / "cosmos_server.js"
SERVER_PACKAGE = "@vercel/cosmosdb-server"
DEFAULT_START_TIMEOUT = 20.0

# The SDK's default HTTP logging policy logs every request and response at INFO.
# The client gets this logger instead, so test output stays readable whatever
# log level pytest is run with.
_QUIET_HTTP_LOGGER = logging.getLogger("tests.support.cosmos.http")
_QUIET_HTTP_LOGGER.setLevel(logging.WARNING)

# Header names as the SDK sends them (azure.cosmos.http_constants), lower-cased.
_H_IS_BATCH = "x-ms-cosmos-is-batch-request"
_H_IS_QUERY = "x-ms-documentdb-isquery"
_H_IS_QUERY_PLAN = "x-ms-cosmos-is-query-plan-request"
_H_IS_UPSERT = "x-ms-documentdb-is-upsert"
_H_A_IM = "a-im"
_H_CROSS_PARTITION = "x-ms-documentdb-query-enablecrosspartition"

# Only this warning, and only for a loopback host: anything else stays an error.
_INSECURE_LOOPBACK = r"Unverified HTTPS request is being made to host '(127\.0\.0\.1|localhost|::1)'"


class CosmosServer:
    """A running ``cosmos_server.js`` child process; use as a context manager or call :meth:`stop`.

    The child's stdin is a pipe we never write to: the server exits when it
    closes, so even a killed test run cannot leave a server behind.
    """

    def __init__(
        self,
        process: subprocess.Popen[str],
        port: int,
        stderr_lines: deque[str],
        pumps: list[threading.Thread],
    ) -> None:
        self._process = process
        self.port = port
        self.endpoint = f"https://127.0.0.1:{port}/"
        self._stderr_lines = stderr_lines
        self._pumps = pumps

    @property
    def stderr(self) -> str:
        """What the server wrote to stderr so far (it logs handler crashes there as 500s)."""
        return "".join(self._stderr_lines)

    @property
    def process(self) -> subprocess.Popen[str]:
        """The ``node`` child process (for tests of this plumbing itself)."""
        return self._process

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (idempotent): close its lifeline, then SIGTERM, then kill."""
        process = self._process
        if process.poll() is None:
            try:
                if process.stdin is not None and not process.stdin.closed:
                    process.stdin.close()
                process.terminate()
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        # The pipes reach EOF once the process is gone; let the pumps drain them first.
        for pump in self._pumps:
            pump.join(timeout=timeout)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def __enter__(self) -> CosmosServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"CosmosServer(endpoint={self.endpoint!r}, running={self.running})"


def _pump(stream: Any, sink: queue.Queue[str | None] | deque[str]) -> None:
    """Copy lines from a child's pipe until EOF (a thread per pipe: portable, and no pipe fills up)."""
    try:
        for line in stream:
            if isinstance(sink, deque):
                sink.append(line)
            else:
                sink.put(line)
    except (OSError, ValueError):  # pipe closed under us by stop()
        pass
    finally:
        if not isinstance(sink, deque):
            sink.put(None)


def start_cosmos_server(timeout: float = DEFAULT_START_TIMEOUT, *, latency_ms: int = 0) -> CosmosServer:
    """Start the Cosmos-protocol server on a free loopback port and wait until it listens.

    `latency_ms` holds every request that long before the server handles it (a network to
    imitate, for benchmarks).

    A missing ``node`` or a missing npm package is an error, not a skip: CI must
    not turn green by silently not running the Cosmos tests.
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(
            "Cannot start the Cosmos test server: `node` is not on PATH. "
            "Install Node.js >= 20, then run `npm ci` in the repository root (`make setup-test` does both)."
        )
    try:
        process = subprocess.Popen(
            [node, str(SERVER_SCRIPT), "0", str(int(latency_ms))],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as exc:
        raise RuntimeError(f"Cannot start the Cosmos test server with {node!r}: {exc}") from exc

    stdout_lines: queue.Queue[str | None] = queue.Queue()
    stderr_lines: deque[str] = deque(maxlen=500)
    pumps = [
        threading.Thread(target=_pump, args=(stream, sink), name="cosmos-server-pipe", daemon=True)
        for stream, sink in ((process.stdout, stdout_lines), (process.stderr, stderr_lines))
    ]
    for pump in pumps:
        pump.start()
    server = CosmosServer(process, 0, stderr_lines, pumps)

    deadline = monotonic() + timeout
    seen: list[str] = []
    timed_out = False
    while True:
        try:
            line = stdout_lines.get(timeout=max(deadline - monotonic(), 0.0))
        except queue.Empty:
            timed_out = True
            break
        if line is None:  # EOF: the server exited
            break
        if line.startswith("LISTENING "):
            server.port = int(line.split()[1])
            server.endpoint = f"https://127.0.0.1:{server.port}/"
            return server
        seen.append(line)

    server.stop()
    detail = ("".join(seen) + server.stderr).strip()
    hint = ""
    if "Cannot find module" in detail and SERVER_PACKAGE in detail:
        hint = f" The npm package {SERVER_PACKAGE} is missing: run `npm ci` in the repository root."
    reason = f"did not report LISTENING within {timeout:g}s" if timed_out else "exited before listening"
    raise RuntimeError(
        f"The Cosmos test server {reason} (exit code {process.returncode}).{hint}\n"
        f"--- server output ---\n{detail}"
    )


@dataclass(frozen=True)
class RoundTrip:
    """One HTTP request the SDK sent: what it was, and the status it got (None: no response)."""

    method: str
    path: str
    kind: str
    status: int | None


def classify(method: str, path: str, headers: Mapping[str, str]) -> str:
    """Name what a Cosmos REST request does, from its method, path and headers.

    Kinds: ``account`` (``GET /``: the SDK's endpoint discovery, see
    :meth:`CountingTransport.kinds`), ``metadata`` (database, container or
    partition-key-range reads), ``read``, ``create``, ``upsert``, ``replace``,
    ``delete``, ``patch``, ``batch``, ``query``, ``queryplan``, ``readfeed``,
    ``changefeed`` (document requests), and ``admin`` (creating, changing or
    listing databases and containers).
    """
    segments = [s for s in path.split("/") if s]
    method = method.upper()
    is_docs = len(segments) >= 5 and segments[0] == "dbs" and segments[2] == "colls" and segments[4] == "docs"
    if not is_docs:
        if method == "GET":
            return "account" if not segments else "metadata"
        return "admin"
    if len(segments) == 5:  # the container's document collection
        if method == "GET":
            return "changefeed" if headers.get(_H_A_IM) else "readfeed"
        if _is_true(headers.get(_H_IS_QUERY_PLAN)):
            return "queryplan"
        if _is_true(headers.get(_H_IS_QUERY)) or "query+json" in headers.get("content-type", ""):
            return "query"
        if _is_true(headers.get(_H_IS_BATCH)):
            return "batch"
        if _is_true(headers.get(_H_IS_UPSERT)):
            return "upsert"
        return "create"
    return {"GET": "read", "PUT": "replace", "DELETE": "delete", "PATCH": "patch"}.get(method, method.lower())


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


class CountingTransport(HttpTransport[Any, Any]):
    """An azure-core transport that counts the SDK's round trips (and adapts point reads to the test server).

    It wraps the transport that really sends (`inner`; by default the app's own,
    :class:`~cartracker.adapters.http_transport.HttpClientTransport`, so the tests exercise
    what production runs). Pass it to :func:`make_client` (or ``CosmosClient(...,
    transport=...)``). Every request actually sent -- retries and metadata reads included --
    is recorded as a :class:`RoundTrip`, so a test can assert e.g. that a warm command is
    exactly one ``batch``. Thread-safe for counting; the warning filter is process-global
    (see ``__init__``), which is fine for tests.
    """

    def __init__(self, inner: HttpTransport[Any, Any] | None = None) -> None:
        self.inner: HttpTransport[Any, Any] = inner if inner is not None else HttpClientTransport()
        # With a `RequestsTransport` inside, urllib3 warns on every request to the server, whose
        # certificate cannot be verified (self-signed, expired). Ignore exactly that warning, for
        # loopback hosts, process-wide (the SDK also sends from background threads). pytest
        # re-installs its filters for each test, so pyproject.toml carries the same filter.
        warnings.filterwarnings("ignore", message=_INSECURE_LOOPBACK, category=InsecureRequestWarning)
        self._lock = threading.Lock()
        self._records: list[RoundTrip] = []

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> CountingTransport:
        self.open()
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def sleep(self, duration: float) -> None:
        self.inner.sleep(duration)

    # --- counting -------------------------------------------------------------

    @property
    def count(self) -> int:
        """Requests sent since the last :meth:`reset`."""
        with self._lock:
            return len(self._records)

    @property
    def records(self) -> list[RoundTrip]:
        """A copy of the requests sent since the last :meth:`reset`, oldest first."""
        with self._lock:
            return list(self._records)

    def kinds(self, *, skip_account: bool = False) -> list[str]:
        """The kinds of the requests sent since the last :meth:`reset`, e.g. ``['read', 'batch']``.

        ``skip_account`` leaves out ``GET /`` account reads. The SDK sends those on
        its own: one when the client is created, one health check right after from
        a background thread (:func:`make_client` waits for it), and both again from
        the background every five minutes -- so an assertion about what one
        operation costs is only robust without them.
        """
        return [r.kind for r in self.records if not (skip_account and r.kind == "account")]

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def record(self, method: str, path: str, kind: str, status: int | None) -> None:
        """Count one round trip (subclasses that answer a request themselves count it here)."""
        with self._lock:
            self._records.append(RoundTrip(method, path, kind, status))

    def __iter__(self) -> Iterator[RoundTrip]:
        return iter(self.records)

    # --- sending --------------------------------------------------------------

    def send(self, request: Any, **kwargs: Any) -> Any:
        # azure-core's request headers are case-insensitive already: read them as they are, not
        # through a lower-cased copy (which cost about a third of a raw round trip per request).
        headers = request.headers
        path = urlsplit(request.url).path
        kind = classify(request.method, path, headers)
        if kind == "read" and _H_CROSS_PARTITION not in headers:
            # The server's point-read handler crashes with a 500 ("Cannot read properties of
            # undefined") when the item does not exist, instead of answering 404 -- unless this
            # header is set, which makes it skip a redundant partition check and look the item
            # up (still scoped by the partition-key header) the way its batch "read" does.
            request.headers[_H_CROSS_PARTITION] = "True"
        status: int | None = None
        try:
            response = self.inner.send(request, **kwargs)
            status = int(response.status_code)
            return response
        finally:
            self.record(request.method, path, kind, status)


class ChargingTransport(CountingTransport):
    """A `CountingTransport` whose responses carry an `x-ms-request-charge`, as Cosmos DB's do.

    The test server reports no request charge; this adds a fixed one per kind of request
    (`charges`, e.g. ``{"batch": 10.5}``; other kinds get ``default``), so that the app's
    request-unit plumbing can be tested against the server.
    """

    def __init__(self, charges: Mapping[str, float], *, default: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.charges = dict(charges)
        self.default = default

    def charge_of(self, kind: str) -> float:
        return self.charges.get(kind, self.default)

    def send(self, request: Any, **kwargs: Any) -> Any:
        headers = {str(k).lower(): str(v) for k, v in request.headers.items()}
        kind = classify(request.method, urlsplit(request.url).path, headers)
        response = super().send(request, **kwargs)
        response.headers["x-ms-request-charge"] = f"{self.charge_of(kind):.2f}"
        return response


def make_client(
    endpoint: str, transport: HttpTransport[Any, Any] | None = None, **kwargs: Any
) -> CosmosClient:
    """A ``CosmosClient`` for the test server: emulator key, no TLS verification, quiet HTTP logging.

    Creating the client costs two ``account`` round trips (the account read and a
    health check, see :meth:`CountingTransport.kinds`); call ``reset()`` before counting.
    Without ``transport`` a fresh :class:`CountingTransport` is used, reachable as
    ``client.client_connection.pipeline_client._pipeline._transport`` -- simpler to
    pass your own.
    """
    options: dict[str, Any] = {
        "connection_verify": False,
        "logger": _QUIET_HTTP_LOGGER,
        # A local server answers at once: fail fast instead of backing off for minutes. This caps
        # both the SDK's retries of throttled (429) requests (default 9) and its connection
        # retries at 2; pass retry_total=... to test other policies.
        "retry_total": 2,
        "connection_timeout": 10,
    }
    options.update(kwargs)
    client = CosmosClient(
        endpoint,
        credential=EMULATOR_KEY,
        transport=transport if transport is not None else CountingTransport(),
        **options,
    )
    # Right after reading the account, the SDK health-checks the endpoint from a background
    # thread (one more GET /). Wait for it, so it cannot land inside a test's count.
    # (Private SDK attributes: tolerate their absence in other SDK versions.)
    manager = getattr(client.client_connection, "_global_endpoint_manager", None)
    refresh = getattr(manager, "_refresh_thread", None)
    if isinstance(refresh, threading.Thread):
        refresh.join(timeout=10)
    return client


def create_containers(client: CosmosClient, database_name: str) -> DatabaseProxy:
    """Create a database with the app's three containers (names and partition keys from the settings).

    In Azure the infrastructure creates these; in tests we do. Idempotent.
    """
    database = client.create_database_if_not_exists(database_name)
    for name, path in (
        (EVENTS_CONTAINER, EVENTS_PARTITION_KEY),
        (VIEWS_CONTAINER, VIEWS_PARTITION_KEY),
        (LEASES_CONTAINER, LEASES_PARTITION_KEY),
    ):
        database.create_container_if_not_exists(name, partition_key=PartitionKey(path=path))
    return database
