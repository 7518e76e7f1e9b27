"""Run the rebuild orchestration without Durable Functions (for `python -m cartracker rebuild NAME`).

The local host cannot run Durable Functions (they need the Functions host and a
task hub in Azure Storage), so this runs the *same* orchestrator generator with
a context that executes each activity inline, one after the other, and hands the
result back -- or throws the failure in, as Durable does. Payloads and results
go through JSON on the way, as they would in a task hub.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from azure.durable_functions import RetryOptions

from cartracker.bootstrap import Services
from cartracker.errors import CarTrackerError
from cartracker.rebuild.activities import ACTIVITIES
from cartracker.rebuild.orchestrator import RebuildInput, rebuild_projection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """A task that already ran: its result, or the error the orchestrator will see."""

    result: Any = None
    error: Exception | None = None


class LocalContext:
    """The part of `DurableOrchestrationContext` the orchestrator uses, running activities at once."""

    def __init__(self, services: Services, input_: Any, *, retry_pause: float = 0.1) -> None:
        self.services = services
        self.input = input_
        self.retry_pause = retry_pause
        self.next_input: Any = None
        self.status: Any = None

    def get_input(self) -> Any:
        return self.input

    def call_activity_with_retry(
        self, name: str, retry_options: RetryOptions, input_: Any = None
    ) -> Finished:
        activity = ACTIVITIES[name]
        attempts = max(1, int(retry_options.max_number_of_attempts))
        for attempt in range(1, attempts + 1):
            try:
                return Finished(result=_json(activity(self.services, _json(input_))))
            # A busy store or a race lost too often is worth retrying; a bug propagates as it is.
            except CarTrackerError as exc:
                if attempt == attempts:
                    return Finished(error=exc)
                log.warning("%s failed (attempt %d of %d), retrying: %s", name, attempt, attempts, exc)
                time.sleep(self.retry_pause * attempt)
        raise AssertionError("unreachable: the last attempt returns")

    def task_all(self, activities: list[Finished]) -> Finished:
        failed = next((task.error for task in activities if task.error is not None), None)
        if failed is not None:
            return Finished(error=failed)
        return Finished(result=[task.result for task in activities])

    def continue_as_new(self, input_: Any) -> None:
        self.next_input = _json(input_)

    def set_custom_status(self, status: Any) -> None:
        self.status = status
        log.info("rebuild: %s", ", ".join(f"{key} {value}" for key, value in status.items()))


def run_rebuild(services: Services, job: RebuildInput) -> dict[str, Any]:
    """Run the orchestration to the end, generation after generation; returns its summary.

    Raises `RebuildFailed` (with the failing activity's error as its cause) if an activity fails for good.
    """
    input_: Any = job.to_json()
    while True:
        context = LocalContext(services, input_)
        result = _drive(rebuild_projection(context))
        if context.next_input is None:
            assert result is not None, "an orchestration that did not continue as new returns its summary"
            return result
        input_ = context.next_input


def _drive(orchestration: Generator[Any, Any, dict[str, Any] | None]) -> dict[str, Any] | None:
    try:
        task: Finished = next(orchestration)
        while True:
            if task.error is not None:
                task = orchestration.throw(task.error)
            else:
                task = orchestration.send(task.result)
    except StopIteration as stop:
        result: dict[str, Any] | None = stop.value
        return result


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))
