"""The local host's HTTP server: threads, one log line per request, workers beside it, a clean Ctrl-C.

`LocalHost` is the server object (tests start it in a background thread on a
free port); `serve` is the blocking entry point of `python -m cartracker serve`.
Background workers (the change-feed pump of the projection) start after the
socket is bound and stop before it closes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Protocol

from cartracker.http.problems import problem_response
from cartracker.localhost.dispatch import Reply, dispatch, to_reply
from cartracker.localhost.index import AppIndex, app_index

_log = logging.getLogger("cartracker.localhost")

# Bodies above this are refused by the host without being read; the functions' own limit is lower.
MAX_READ_BYTES = 1024 * 1024


class Worker(Protocol):
    """Something that runs beside the HTTP server, such as a change-feed pump."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class LocalHost:
    def __init__(self, host: str = "127.0.0.1", port: int = 7071, *, index: AppIndex | None = None) -> None:
        self.index = app_index() if index is None else index
        self.server = _Server((host, port), _Handler)
        self.server.local_host = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a background thread (tests)."""
        self._thread = threading.Thread(target=self.server.serve_forever, name="localhost", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join()

    def log_startup(self) -> None:
        prefix = f"/{self.index.route_prefix}"
        for function in sorted(self.index.http, key=lambda f: f.route.text):
            methods = ",".join(sorted(function.methods))
            _log.info(
                "  %-7s %s/%s  (%s, auth %s)",
                methods,
                prefix,
                function.route.text,
                function.name,
                function.auth_level,
            )
        for name, why in self.index.unserved:
            _log.info("  not run here: %s (%s)", name, why)
        if any(why == "orchestrationTrigger" for _, why in self.index.unserved):
            _log.info(
                "Durable Functions do not run here: rebuild with `python -m cartracker rebuild car-list`"
            )
        _log.info("function keys are not checked by the local host; every route is open")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not hold up Ctrl-C
    request_queue_size = 128  # the default listen backlog (5) resets clients arriving in a burst
    local_host: LocalHost


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds an idle keep-alive connection may hold its thread
    # TCP_NODELAY: the head and the body of a reply are two writes, and with Nagle's algorithm the
    # second waits for the client's delayed ACK of the first -- 40 ms per keep-alive request.
    disable_nagle_algorithm = True

    def _handle(self) -> None:
        started = time.perf_counter()
        host = self.server.local_host
        reply = self._read_and_dispatch(host)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        _log.info(
            '%s "%s %s" %d %dB %.1fms %s',
            self.client_address[0],
            self.command,
            self.path,
            reply.status,
            len(reply.body),
            (time.perf_counter() - started) * 1000,
            reply.function,
        )

    def _read_and_dispatch(self, host: LocalHost) -> Reply:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return to_reply(
                problem_response(
                    411, "send a Content-Length; chunked bodies are not supported", slug="length-required"
                )
            )
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_READ_BYTES:
            self.close_connection = True  # the body stays unread, so this connection cannot be reused
            return to_reply(
                problem_response(
                    413,
                    f"the body must be 0-{MAX_READ_BYTES} bytes",
                    slug="payload-too-large",
                    errors=[("body", "too large or a bad Content-Length")],
                )
            )
        body = self.rfile.read(length) if length else b""
        # As in the Functions host, request URLs (and so Location headers) use the Host the client sent.
        base_url = f"http://{self.headers['Host']}" if self.headers.get("Host") else host.url
        return dispatch(host.index, self.command, self.path, self.headers.items(), body, base_url)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format: str, *args: object) -> None:
        _log.debug(format, *args)  # the one line per request comes from _handle


def serve(host: str, port: int, *, workers: Sequence[Worker] = ()) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop the workers and close the socket."""
    local = LocalHost(host, port)
    local.log_startup()
    # Explicit handlers: a process started in the background may inherit SIGINT as ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    started: list[Worker] = []
    try:
        for worker in workers:
            worker.start()
            started.append(worker)
            _log.info("started %s", worker.name)
        _log.info(
            "CarTracker local host listening on %s/%s (Ctrl-C to stop)", local.url, local.index.route_prefix
        )
        local.server.serve_forever()
    except KeyboardInterrupt:
        _log.info("stopping")
    finally:
        for worker in reversed(started):
            worker.stop()
        local.server.server_close()
        _log.info("stopped")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
