"""The local host's HTTP server: h11 framing, a bounded pool, one log line per request, a clean Ctrl-C.

`LocalHost` is the server object (tests start it in a background thread on a
free port); `serve` is the blocking entry point of `python -m cartracker serve`.
Background workers (the change-feed pump of the projection) start after the
socket is bound and stop before it closes. See docs/local-host.md for the
bounds, the timeouts and the Host allow-list.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import Protocol

from cartracker.localhost.answering import Answerer
from cartracker.localhost.hosts import AllowedHosts
from cartracker.localhost.index import AppIndex, app_index
from cartracker.localhost.limits import MAX_READ_BYTES, Limits
from cartracker.localhost.reactor import Reactor

__all__ = ["MAX_READ_BYTES", "Limits", "LocalHost", "Worker", "serve"]

_log = logging.getLogger("cartracker.localhost")

LISTEN_BACKLOG = 128  # a small backlog (the old default was 5) resets clients arriving in a burst


class Worker(Protocol):
    """Something that runs beside the HTTP server, such as a change-feed pump."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class LocalHost:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 7071,
        *,
        index: AppIndex | None = None,
        allowed_hosts: Iterable[str] = (),
        limits: Limits | None = None,
    ) -> None:
        self.index = app_index() if index is None else index
        self.limits = Limits() if limits is None else limits
        self.allowed = AllowedHosts.for_interface(host, allowed_hosts)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
        self._reactor = Reactor(self._listener, self.limits, self.allowed, Answerer(self.index, self.limits))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Serve in this thread until `stop()` or KeyboardInterrupt."""
        self._reactor.run()

    def start(self) -> None:
        """Serve in a background thread (tests)."""
        self._thread = threading.Thread(target=self.serve_forever, name="cartracker-http-io", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._reactor.stop()
        if self._thread is not None:
            self._thread.join()
        self._reactor.close()  # already done by the serving thread, unless it never ran

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
        _log.info("answering requests for Host %s (add names with --allow-host)", self.allowed.describe())


def serve(
    host: str,
    port: int,
    *,
    workers: Sequence[Worker] = (),
    allowed_hosts: Iterable[str] = (),
    limits: Limits | None = None,
) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop the workers and close the socket."""
    local = LocalHost(host, port, allowed_hosts=allowed_hosts, limits=limits)
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
        local.serve_forever()  # closes the socket and stops the pool however it ends
    except KeyboardInterrupt:
        _log.info("stopping")
    finally:
        for worker in reversed(started):
            worker.stop()
        local.stop()
        _log.info("stopped")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
