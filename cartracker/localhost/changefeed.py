"""The local host's change feed: feeds every `cosmosDBTrigger` function from the store's change feed.

What the Functions host does with leases on Cosmos DB, done here over the
embedded store, one background thread per function:

* read up to `max_items_per_invocation` changes after the function's checkpoint
  (a checkpoint per function, named after its `lease_container_prefix`);
* invoke the function with a `func.DocumentList`, retrying as its `@retry`
  policy says, with the attempt number in `context.retry_context`;
* save the checkpoint only after the invocation succeeded, so a crash or a
  restart redelivers the batch (at-least-once: the functions must be, and the
  projector is, idempotent) and loses nothing;
* when the retries are exhausted, log the error and move on, as the real host does.

The pump itself never stops on an error: whatever fails around a batch (the store
refusing the read or the checkpoint, a bug) is logged with its traceback, and the
batch, still unacknowledged, is tried again after a bounded exponential backoff
that waits on the stop event, so shutting down stays prompt. Its state (running,
retrying since when and why, stuck, stopped) is published in `cartracker.feed_status`
for the health check.

`pause()`/`resume()` and `wait_until_caught_up()` are for tests and tools.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from cartracker import feed_status
from cartracker.feed_status import FeedStatus
from cartracker.ports import ChangeFeedSource
from cartracker.settings import EVENTS_CONTAINER, SETTING_EVENTS_CONTAINER

_log = logging.getLogger("cartracker.localhost.changefeed")

DEFAULT_MAX_ITEMS = 100
DEFAULT_POLL_SECONDS = 0.2
# Health turns 503 once a pump has kept failing this long (a busy store's blip stays a 200)...
ALARM_AFTER_SECONDS = 60.0
# ...or once a batch has been in flight this long beyond its function's own retry schedule.
STUCK_MARGIN_SECONDS = 120.0
# Where the Functions host would take a %SETTING% from when the environment does not set it.
_DEFAULTS = {SETTING_EVENTS_CONTAINER: EVENTS_CONTAINER}


@dataclass(frozen=True)
class RetryPolicy:
    """A function's `@retry` settings; no policy means a single attempt."""

    max_retries: int = 0
    strategy: str = "fixed_delay"
    delay: float = 0.0
    minimum: float = 0.0
    maximum: float = 0.0

    def delay_before(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        if self.strategy == "exponential_backoff":
            return float(min(self.maximum, self.minimum * 2 ** min(retry - 1, 64)))
        return self.delay

    def total_delay(self) -> float:
        """Seconds a batch spends waiting between all its attempts."""
        return sum(self.delay_before(retry) for retry in range(1, self.max_retries + 1))


# Between failed rounds of the pump itself: 0.5 s, 1 s, 2 s ... at most 30 s.
PUMP_BACKOFF = RetryPolicy(strategy="exponential_backoff", minimum=0.5, maximum=30.0)


@dataclass(frozen=True)
class ChangeFeedFunction:
    name: str
    container: str
    checkpoint: str
    max_items: int
    poll_seconds: float
    retry: RetryPolicy
    arg_name: str
    takes_context: bool
    call: Callable[..., Any]

    @classmethod
    def from_function(cls, function: Any, env: Mapping[str, str] | None = None) -> ChangeFeedFunction:
        """Read an indexed `azure.functions` function whose trigger is a `cosmosDBTrigger`."""
        binding = function.get_trigger().get_dict_repr()
        user_function = function.get_user_function()
        name = function.get_function_name()
        delay_ms = binding.get("feedPollDelay")
        return cls(
            name=name,
            container=_resolve(binding["containerName"], os.environ if env is None else env),
            checkpoint=f"{binding.get('leaseContainerPrefix') or ''}{name}",
            max_items=int(binding.get("maxItemsPerInvocation") or DEFAULT_MAX_ITEMS),
            poll_seconds=DEFAULT_POLL_SECONDS if delay_ms is None else int(delay_ms) / 1000,
            retry=_retry_policy(function.get_settings_dict("retry_policy")),
            arg_name=binding["name"],
            takes_context="context" in inspect.signature(user_function).parameters,
            call=user_function,
        )


def change_feed_pumps(functions: Iterable[Any], feed: ChangeFeedSource) -> list[ChangeFeedPump]:
    """A pump for each indexed `cosmosDBTrigger` function (see `AppIndex.change_feed`)."""
    return [ChangeFeedPump(ChangeFeedFunction.from_function(f), feed) for f in functions]


class ChangeFeedPump:
    """One function's feed: a background thread (a `Worker` of the local host).

    `backoff` spaces the rounds after a failure; `alarm_after` and `stuck_after` are the bounds
    past which health calls the pump unhealthy (see `cartracker.feed_status`).
    """

    def __init__(
        self,
        function: ChangeFeedFunction,
        feed: ChangeFeedSource,
        *,
        backoff: RetryPolicy = PUMP_BACKOFF,
        alarm_after: float = ALARM_AFTER_SECONDS,
        stuck_after: float | None = None,
    ) -> None:
        self.function = function
        self.feed = feed
        self.name = f"change feed -> {function.name}"
        self.backoff = backoff
        if stuck_after is None:
            stuck_after = function.retry.total_delay() + STUCK_MARGIN_SECONDS
        self.status = FeedStatus(function.name, alarm_after=alarm_after, stuck_after=stuck_after)
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._batch = threading.Lock()  # held while a batch is in flight
        self._thread: threading.Thread | None = None

    # --- Worker ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.status.started(self._thread)
        feed_status.register(self.status)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.status.stopped()
        feed_status.unregister(self.status)  # stopped on purpose: no longer part of this process

    # --- control --------------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop taking batches; returns once the batch in flight (if any) is done."""
        self._paused.set()
        with self._batch:
            pass

    def resume(self) -> None:
        self._paused.clear()

    @property
    def position(self) -> int:
        return self.feed.load_checkpoint(self.function.checkpoint)

    def caught_up(self) -> bool:
        changes, _ = self.feed.read_changes(self.function.container, after=self.position, limit=1)
        return not changes

    def wait_until_caught_up(self, timeout: float = 10.0) -> None:
        """Block until every change written so far has been delivered, or raise `TimeoutError`."""
        deadline = time.monotonic() + timeout
        while not self.caught_up():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not catch up within {timeout}s (at {self.position})")
            time.sleep(0.01)

    # --- pumping --------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Deliver one batch (if any) and checkpoint it; the number of changes delivered."""
        with self._batch:
            self.status.poll_started()
            try:
                after = self.position
                changes, reached = self.feed.read_changes(
                    self.function.container, after=after, limit=self.function.max_items
                )
                if not changes:
                    self.status.succeeded()  # the feed answered, and there is nothing to do
                    return 0
                self.status.batch_started()
                delivered = self._invoke(changes)
                self.feed.save_checkpoint(self.function.checkpoint, reached)
                self.status.batch_finished()
                if delivered:
                    self.status.succeeded()
                return len(changes)
            finally:
                self.status.poll_finished()

    def _run(self) -> None:
        try:
            self._pump()
        except BaseException as exc:  # what `except Exception` lets through: the thread is ending
            self.status.died(exc)
            raise

    def _pump(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                delivered = 0 if self._paused.is_set() else self.run_once()
            except _Stopped:
                return
            except Exception as exc:  # noqa: BLE001 - the pump outlives anything: a store fault, a bug
                # The batch stays unacknowledged and comes again; the thread must live on, or the
                # projections stop for good. Logged with its traceback, whatever it was.
                failures += 1
                delay = self.backoff.delay_before(failures)
                self.status.failed(exc)
                _log.exception(
                    "%s: the batch failed (%d in a row); trying it again in %gs", self.name, failures, delay
                )
                self._stop.wait(delay)
                continue
            failures = 0
            if not delivered:
                self._stop.wait(self.function.poll_seconds)

    def _invoke(self, changes: list[dict[str, Any]]) -> bool:
        """Call the function as its retry policy says; False when every attempt failed."""
        policy = self.function.retry
        for attempt in range(policy.max_retries + 1):
            if attempt and self._stop.wait(policy.delay_before(attempt)):
                raise _Stopped  # shutting down: the batch stays unacknowledged and comes again
            documents = func.DocumentList([func.Document.from_dict(doc) for doc in changes])
            kwargs: dict[str, Any] = {self.function.arg_name: documents}
            if self.function.takes_context:
                kwargs["context"] = _Context(self.function.name, attempt, policy.max_retries)
            try:
                self.function.call(**kwargs)
                return True
            except Exception as exc:  # noqa: BLE001 - any failure of the function is retried, as the host does
                self.status.failed(exc)
                last = attempt == policy.max_retries
                _log.exception(
                    "%s failed on %d changes (attempt %d of %d)%s",
                    self.function.name,
                    len(changes),
                    attempt + 1,
                    policy.max_retries + 1,
                    "; retries exhausted, moving on as the Functions host does" if last else "",
                )
        return False


class _Stopped(Exception):
    pass


def _resolve(value: str, env: Mapping[str, str]) -> str:
    """Expand `%SETTING%` the way the Functions host expands binding expressions."""

    def setting(match: re.Match[str]) -> str:
        name = match.group(1)
        return env.get(name) or _DEFAULTS.get(name) or match.group(0)

    return re.sub(r"%([A-Za-z0-9_]+)%", setting, value)


def _retry_policy(settings: Mapping[str, Any] | None) -> RetryPolicy:
    if not settings:
        return RetryPolicy()
    return RetryPolicy(
        max_retries=int(settings["max_retry_count"]),
        strategy=str(settings["strategy"]),
        delay=_seconds(settings.get("delay_interval")),
        minimum=_seconds(settings.get("minimum_interval")),
        maximum=_seconds(settings.get("maximum_interval")),
    )


def _seconds(interval: str | None) -> float:
    """'hh:mm:ss' (what the retry decorator takes) in seconds."""
    if not interval:
        return 0.0
    hours, minutes, seconds = interval.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class _RetryContext:
    """Which attempt this is: `retry_count` 0 is the first, `max_retry_count` the last."""

    retry_count: int
    max_retry_count: int
    exception: Any = None


class _Context(func.Context):
    """The part of the invocation context the Python worker gives a function, as far as ours use it."""

    def __init__(self, function_name: str, retry_count: int, max_retry_count: int) -> None:
        self._function_name = function_name
        self._invocation_id = str(uuid.uuid4())
        self._retry = _RetryContext(retry_count, max_retry_count)

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return threading.local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return os.getcwd()

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return self._retry
