"""What this process's change-feed pumps are doing, for the health check to read.

The local host runs one pump per change-feed function (`localhost.changefeed`). Each
keeps a `FeedStatus` up to date and registers it here from `start()` to `stop()`, so
`GET /api/health` can report them without importing the local host. In Azure the
Functions host runs the triggers itself and this registry stays empty.

A pump is unhealthy (health answers 503) when its thread is gone, when a batch has
been in flight longer than `stuck_after`, or when it has kept failing for longer
than `alarm_after`. Both bounds belong to the pump, so tests can set them to zero.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, NamedTuple

State = Literal["running", "retrying", "stopped", "stuck"]
_MAX_ERROR_TEXT = 500


class _Moment(NamedTuple):
    monotonic: float  # for bounds: never jumps
    wall: datetime  # for people

    @classmethod
    def now(cls) -> _Moment:
        return cls(time.monotonic(), datetime.now(UTC))


@dataclass(frozen=True)
class FeedReport:
    """One pump at one moment; `problem` says why it makes the process unhealthy, if it does."""

    name: str
    state: State
    since: datetime  # when it entered this state (stuck: when the batch started)
    last_error: str | None
    consecutive_failures: int
    last_batch_started_at: datetime | None
    last_batch_finished_at: datetime | None
    alive: bool  # its thread runs
    problem: str | None


class FeedStatus:
    """The live record one pump keeps; every method is cheap and thread-safe."""

    def __init__(self, name: str, *, alarm_after: float, stuck_after: float) -> None:
        self.name = name
        self.alarm_after = alarm_after
        self.stuck_after = stuck_after
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state: Literal["running", "retrying", "stopped"] = "stopped"
        self._since = _Moment.now()
        self._failures = 0
        self._last_error: str | None = None
        self._in_flight: _Moment | None = None
        self._batch_started: datetime | None = None
        self._batch_finished: datetime | None = None

    # --- what the pump reports ----------------------------------------------------------------

    def started(self, thread: threading.Thread) -> None:
        with self._lock:
            self._thread = thread
            self._set("running")
            self._failures = 0

    def stopped(self) -> None:
        with self._lock:
            self._set("stopped")
            self._in_flight = None

    def died(self, error: BaseException) -> None:
        """The thread is ending on something nothing caught."""
        with self._lock:
            self._last_error = _describe(error)
            self._set("stopped")

    def poll_started(self) -> None:
        with self._lock:
            self._in_flight = _Moment.now()

    def poll_finished(self) -> None:
        with self._lock:
            self._in_flight = None

    def batch_started(self) -> None:
        with self._lock:
            self._batch_started = (self._in_flight or _Moment.now()).wall

    def batch_finished(self) -> None:
        with self._lock:
            self._batch_finished = datetime.now(UTC)

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self._failures += 1
            self._last_error = _describe(error)
            if self._state != "retrying":
                self._set("retrying")

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            if self._state == "retrying":
                self._set("running")

    def _set(self, state: Literal["running", "retrying", "stopped"]) -> None:
        self._state = state
        self._since = _Moment.now()

    # --- what health reads --------------------------------------------------------------------

    def report(self) -> FeedReport:
        with self._lock:
            now = time.monotonic()
            thread = self._thread
            # A thread not started yet (`ident` None) is about to run: only an ended one is dead.
            alive = thread is not None and (thread.is_alive() or thread.ident is None)
            state: State = self._state
            since = self._since
            problem = None
            if state == "stopped" or not alive:
                state = "stopped"
                problem = f"{self.name} has stopped: its changes are not being delivered"
                if self._last_error:
                    problem += f" (last error: {self._last_error})"
            elif self._in_flight is not None and now - self._in_flight.monotonic >= self.stuck_after:
                state, since = "stuck", self._in_flight
                problem = (
                    f"{self.name} is stuck: a batch has been in flight since {since.wall.isoformat()} "
                    f"(the bound is {self.stuck_after:g}s)"
                )
            elif state == "retrying" and now - since.monotonic >= self.alarm_after:
                problem = (
                    f"{self.name} has been failing since {since.wall.isoformat()} "
                    f"({self._failures} failures in a row): {self._last_error}"
                )
            return FeedReport(
                name=self.name,
                state=state,
                since=since.wall,
                last_error=self._last_error,
                consecutive_failures=self._failures,
                last_batch_started_at=self._batch_started,
                last_batch_finished_at=self._batch_finished,
                alive=alive,
                problem=problem,
            )


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:_MAX_ERROR_TEXT]


# --- the registry ---------------------------------------------------------------------------------

# Weak: a pump dropped without `stop()` (a test that failed) leaves no ghost behind.
_registered: weakref.WeakSet[FeedStatus] = weakref.WeakSet()
_registry_lock = threading.Lock()


def register(status: FeedStatus) -> None:
    with _registry_lock:
        _registered.add(status)


def unregister(status: FeedStatus) -> None:
    with _registry_lock:
        _registered.discard(status)


def reports() -> list[FeedReport]:
    """Every registered pump, by name."""
    with _registry_lock:
        statuses = list(_registered)
    return sorted((status.report() for status in statuses), key=lambda report: report.name)
