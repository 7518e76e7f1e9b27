"""An azure-core HTTP transport on kept-alive sockets: the Cosmos SDK's requests without `requests`.

Under azure-core's `RequestsTransport`, `requests` and urllib3 cost more client CPU than TLS
and HTTP framing together (docs/performance.md#client-cpu-per-cosmos-command). The Cosmos
SDK needs little of what they do: it sends a JSON body with its length, reads every answer
in full, and follows no redirects, cookies or proxies. So this transport writes the request
head itself (`http_wire.request_head`) and leaves reading the answer to the standard
library's parser (`http.client.HTTPResponse`): framing, chunking and limits are not ours to
get wrong. Connections are kept alive per origin; any number may be in use at once (the
projector writes from 8 threads), and up to `pool_maxsize` are kept idle.

What the SDK's retry policies get when something breaks (`azure.core.exceptions`)::

    ServiceRequestError             no connection, TLS refused, or the request was not fully
    └── ServiceRequestTimeoutError  written: nothing was applied, the SDK may send it again
    ServiceResponseError            the request went out, no complete answer came back (reset,
    └── ServiceResponseTimeoutError closed, cut short, not HTTP): a write may have applied

A connection goes back to the pool only after a complete answer that did not say
`Connection: close`; after any error it is closed. An idle connection is dropped instead of
reused when the server has closed it meanwhile (its socket turned readable) or when it has
been idle for `max_idle` seconds. TLS is verified by default (`ssl.create_default_context()`);
`connection_verify=False` turns that off, a path names a CA bundle or directory. No proxies:
with `CARTRACKER_COSMOS_USE_PROXY_ENV=1` the app keeps `RequestsTransport`
(`cosmos_client.create_transport`).
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from azure.core.configuration import ConnectionConfiguration
from azure.core.exceptions import ServiceRequestError, ServiceRequestTimeoutError
from azure.core.pipeline.transport import HttpRequest, HttpResponse, HttpTransport

from cartracker.adapters.http_wire import BufferedResponse, body_of, exchange, request_head, ssl_context

__all__ = ["BufferedResponse", "HttpClientTransport"]

DEFAULT_POOL_MAXSIZE = 16  # idle connections kept per origin
# Seconds a connection may stay idle and still be reused: well under the 4-minute idle timeout of
# Azure's load balancers and NAT for outbound flows, after which a reused connection can hang.
DEFAULT_MAX_IDLE = 60.0
_DEFAULT_PORTS = {"https": 443, "http": 80}
# What the pipeline may pass to `send`; `stream` is accepted and ignored (answers are read in full).
_OPTIONS = frozenset({"connection_timeout", "read_timeout", "connection_verify", "connection_cert", "stream"})

Verify = bool | str | None
Cert = str | tuple[str | None, str | None] | None
_Origin = tuple[str, str, int, Verify, Cert]  # scheme, host, port, and for https the TLS settings


class _Connection:
    """One socket to an origin, the timeout it is set to, and since when it has been idle."""

    __slots__ = ("idle_since", "sock", "timeout")

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        self.sock = sock
        self.timeout = timeout
        self.idle_since = 0.0

    def close(self) -> None:
        self.sock.close()


class HttpClientTransport(HttpTransport[HttpRequest, HttpResponse]):
    """Sends azure-core `HttpRequest`s on pooled sockets; thread-safe.

    Takes azure-core's connection options (`connection_timeout`, `read_timeout`,
    `connection_verify`, `connection_cert`, `connection_data_block_size`) here as defaults,
    and per request in `send`, as the SDK passes them.
    """

    def __init__(
        self, *, pool_maxsize: int = DEFAULT_POOL_MAXSIZE, max_idle: float = DEFAULT_MAX_IDLE, **kwargs: Any
    ) -> None:
        self.connection_config = ConnectionConfiguration(**kwargs)
        self._pool_maxsize = pool_maxsize
        self._max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._contexts: dict[tuple[Verify, Cert], ssl.SSLContext] = {}
        self._closed = False

    def __enter__(self) -> HttpClientTransport:
        self.open()
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def open(self) -> None:
        if self._closed:
            raise ValueError("HTTP transport has already been closed (was its client closed?)")

    def close(self) -> None:
        """Close the idle connections, and each busy one when it comes back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.open()
        if kwargs.pop("proxies", None):
            raise ValueError("HttpClientTransport does not support proxies; use RequestsTransport")
        unknown = kwargs.keys() - _OPTIONS
        if unknown:
            raise TypeError(f"HttpClientTransport got unexpected options: {sorted(unknown)}")
        config = self.connection_config
        connect_timeout = kwargs.get("connection_timeout", config.timeout)
        read_timeout = kwargs.get("read_timeout", config.read_timeout)
        if isinstance(connect_timeout, tuple):  # (connect, read), as requests takes it
            connect_timeout, read_timeout = connect_timeout
        url = urlsplit(request.url)
        scheme, host = url.scheme.lower(), url.hostname
        if scheme not in _DEFAULT_PORTS or not host:
            raise ValueError(f"cannot send to {request.url!r}: only http:// and https:// URLs")
        port = url.port or _DEFAULT_PORTS[scheme]
        origin: _Origin = (scheme, host, port, None, None)
        if scheme == "https":
            verify = kwargs.get("connection_verify", config.verify)
            origin = (scheme, host, port, verify, kwargs.get("connection_cert", config.cert))
        body = body_of(request.data, request.files)
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        name = f"[{host}]" if ":" in host else host
        authority = name if port == _DEFAULT_PORTS[scheme] else f"{name}:{port}"
        # Checked and built before any connection is touched: a bad request never reaches the network.
        head, keep_alive = request_head(request.method, target, authority, request.headers, body)

        connection = self._checkout(origin) or self._connect(origin, connect_timeout)
        try:
            if connection.timeout != read_timeout:
                connection.sock.settimeout(read_timeout)
                connection.timeout = read_timeout
            response, will_close = exchange(connection.sock, request, head, body, config.data_block_size)
        except BaseException:
            connection.close()  # its state is unknown: never reused
            raise
        if keep_alive and not will_close:
            self._checkin(origin, connection)
        else:
            connection.close()
        return response

    # --- the pool ------------------------------------------------------------------------

    def _checkout(self, origin: _Origin) -> _Connection | None:
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                if not idle:
                    return None
                connection = idle.pop()  # the newest: the least likely to have been closed
            if time.monotonic() - connection.idle_since < self._max_idle and _still_open(connection.sock):
                return connection
            connection.close()

    def _checkin(self, origin: _Origin, connection: _Connection) -> None:
        with self._lock:
            if not self._closed:
                idle = self._idle.setdefault(origin, [])
                if len(idle) < self._pool_maxsize:
                    connection.idle_since = time.monotonic()
                    idle.append(connection)
                    return
        connection.close()

    def _connect(self, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, host, port, verify, cert = origin
        where = f"{host}:{port}"
        # Built first: a CA bundle or client certificate that cannot be loaded is a configuration
        # error (OSError, ssl.SSLError), not a connection failure for the SDK to retry.
        context = self._context(verify, cert) if scheme == "https" else None
        try:
            sock = socket.create_connection((host, port), timeout)
        except TimeoutError as exc:
            raise ServiceRequestTimeoutError(f"connecting to {where} timed out", error=exc) from exc
        except OSError as exc:  # refused, unreachable, unknown name
            raise ServiceRequestError(f"cannot connect to {where}: {exc}", error=exc) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname=host)
        except TimeoutError as exc:
            sock.close()
            raise ServiceRequestTimeoutError(f"TLS handshake with {where} timed out", error=exc) from exc
        except OSError as exc:  # ssl.SSLError, certificate verification included
            sock.close()
            raise ServiceRequestError(f"TLS with {where} failed: {exc}", error=exc) from exc
        return _Connection(sock, timeout)

    def _context(self, verify: Verify, cert: Cert) -> ssl.SSLContext:
        with self._lock:
            context = self._contexts.get((verify, cert))
            if context is None:
                context = self._contexts[(verify, cert)] = ssl_context(verify, cert)
            return context


def _still_open(sock: socket.socket) -> bool:
    """False if the peer closed it or sent something unasked while it was idle (it is readable)."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)  # Windows
        return not readable
    except (OSError, ValueError):
        return False
