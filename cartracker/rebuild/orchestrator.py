"""A projection's rebuild as a deterministic orchestration over idempotent activities.

Durable Functions replays an orchestrator from its history after every await, so
the generator below must take the same path each time: no I/O, no clock, no
random; each decision depends only on its input and on activity results. All
I/O is in `activities`, each safe to run twice (Durable retries them, and a
worker may crash after an activity did its work but before its result was saved).

Three phases, each finished before the next starts:

1. rows: page through every car's head (`rebuild_read_heads`) and fan out
   `rebuild_rows` over chunks of each page. A row only moves forward by version
   (or is repaired at the same version), with its shard subtotal in the same
   batch: the list never empties and its totals never disagree with its rows.
2. shards: fan out `rebuild_shard` over every shard: remove rows whose car has
   no head, recompute the subtotal from the rows (etag-checked against the live
   projector).
3. parked: `rebuild_clear_parked` drops parked failures that the view now covers.

An orchestration's history grows with every activity and is replayed in full on
each wake-up, so the row phase continues-as-new every few pages, carrying its
position and running totals in its input.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from azure.durable_functions import RetryOptions

from cartracker.errors import CarTrackerError
from cartracker.projection.registry import find, names
from cartracker.rebuild import DEFAULT_PAGE_SIZE

ORCHESTRATOR = "rebuild_projection"
READ_HEADS = "rebuild_read_heads"
REBUILD_ROWS = "rebuild_rows"
REBUILD_SHARD = "rebuild_shard"
CLEAR_PARKED = "rebuild_clear_parked"

DEFAULT_CHUNK_SIZE = 25
DEFAULT_PAGES_PER_GENERATION = 20
# Every activity is idempotent, so retrying one is safe; a failure that outlives this fails the rebuild.
RETRY = RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=4)

_BEFORE_NAMES = "car-list"

Task = Any  # a Durable task (or a fake's); the orchestrator only yields it back to its driver


class RebuildFailed(CarTrackerError):
    """The rebuild stopped: an activity failed for good, or the input was malformed."""


class OrchestrationContext(Protocol):
    """What the orchestrator uses of `DurableOrchestrationContext`; fakes and the local runner offer it."""

    def get_input(self) -> Any: ...

    def call_activity_with_retry(
        self, name: str, retry_options: RetryOptions, input_: Any = None
    ) -> Task: ...

    def task_all(self, activities: list[Task]) -> Task: ...

    def continue_as_new(self, input_: Any) -> None: ...

    def set_custom_status(self, status: Any) -> None: ...


@dataclass(frozen=True)
class Progress:
    """What the rebuild did so far; the final one is the orchestration's output."""

    pages: int = 0
    cars_seen: int = 0
    cars_skipped: int = 0  # heads this code cannot read (written by a newer version?); see the log
    rows_repaired: int = 0
    rows_removed: int = 0
    subtotals_corrected: int = 0
    shards: int = 0
    parked_cleared: int = 0
    parked_remaining: int = 0

    def to_json(self) -> dict[str, int]:
        return {_camel(name): value for name, value in vars(self).items()}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Progress:
        return cls(**{name: int(doc.get(_camel(name), 0)) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class RebuildInput:
    """The orchestration's input: set by the starter, and handed on by continue-as-new."""

    projection: str  # its registered name
    shards: int
    page_size: int = DEFAULT_PAGE_SIZE
    chunk_size: int = DEFAULT_CHUNK_SIZE
    pages_per_generation: int = DEFAULT_PAGES_PER_GENERATION
    continuation: str | None = None  # where the row phase resumes; None: from the first head
    progress: Progress = field(default_factory=Progress)

    def to_json(self) -> dict[str, Any]:
        return {
            "projection": self.projection,
            "shards": self.shards,
            "pageSize": self.page_size,
            "chunkSize": self.chunk_size,
            "pagesPerGeneration": self.pages_per_generation,
            "continuation": self.continuation,
            "progress": self.progress.to_json(),
        }

    @classmethod
    def from_json(cls, doc: Any) -> RebuildInput:
        if not isinstance(doc, dict):
            raise RebuildFailed(f"the rebuild's input must be a JSON object, not {doc!r}")
        try:
            job = cls(
                # An orchestration started before rebuilds took a name rebuilt the car list.
                projection=str(doc.get("projection", _BEFORE_NAMES)),
                shards=int(doc["shards"]),
                page_size=int(doc.get("pageSize", DEFAULT_PAGE_SIZE)),
                chunk_size=int(doc.get("chunkSize", DEFAULT_CHUNK_SIZE)),
                pages_per_generation=int(doc.get("pagesPerGeneration", DEFAULT_PAGES_PER_GENERATION)),
                continuation=doc.get("continuation"),
                progress=Progress.from_json(doc.get("progress") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RebuildFailed(f"the rebuild's input is malformed: {exc!r}") from exc
        if find(job.projection) is None:
            raise RebuildFailed(
                f"the rebuild's input names no registered projection: {job.projection!r} "
                f"(registered: {', '.join(names())})"
            )
        if min(job.shards, job.page_size, job.chunk_size, job.pages_per_generation) < 1:
            raise RebuildFailed(
                f"the rebuild's input needs shards, pageSize, chunkSize, pagesPerGeneration >= 1: {doc}"
            )
        return job


def rebuild_projection(context: OrchestrationContext) -> Generator[Task, Any, dict[str, Any] | None]:
    """Re-derive the projection the input names; returns the summary, or None when it continued as new."""
    job = RebuildInput.from_json(context.get_input())
    name = job.projection
    progress, continuation = job.progress, job.continuation
    for _ in range(job.pages_per_generation):
        context.set_custom_status({"phase": "rows", **progress.to_json()})
        where = f"page {progress.pages + 1}"
        page = yield from _call(
            context,
            name,
            "rows",
            where,
            READ_HEADS,
            {"pageSize": job.page_size, "continuation": continuation},
        )
        car_ids: list[str] = page["carIds"]
        chunks = [car_ids[i : i + job.chunk_size] for i in range(0, len(car_ids), job.chunk_size)]
        done = yield from _call_all(
            context,
            name,
            "rows",
            where,
            REBUILD_ROWS,
            [{"projection": name, "carIds": ids} for ids in chunks],
        )
        progress = replace(
            progress,
            pages=progress.pages + 1,
            cars_seen=progress.cars_seen + sum(r["seen"] for r in done),
            cars_skipped=progress.cars_skipped + sum(r["skipped"] for r in done),
            rows_repaired=progress.rows_repaired + sum(r["repaired"] for r in done),
        )
        continuation = page["continuation"]
        if continuation is None:
            break
    else:
        context.continue_as_new(replace(job, continuation=continuation, progress=progress).to_json())
        return None

    context.set_custom_status({"phase": "shards", **progress.to_json()})
    shards = yield from _call_all(
        context,
        name,
        "shards",
        f"{job.shards} shards",
        REBUILD_SHARD,
        [{"projection": name, "shard": s} for s in range(job.shards)],
    )
    progress = replace(
        progress,
        shards=len(shards),
        rows_removed=sum(r["rowsRemoved"] for r in shards),
        subtotals_corrected=sum(1 for r in shards if r["subtotalCorrected"]),
    )

    context.set_custom_status({"phase": "parked", **progress.to_json()})
    parked = yield from _call(context, name, "parked", "parked items", CLEAR_PARKED, {"projection": name})
    progress = replace(progress, parked_cleared=parked["cleared"], parked_remaining=parked["remaining"])
    context.set_custom_status({"phase": "done", **progress.to_json()})
    return {"view": name, **progress.to_json()}


def _call(
    context: OrchestrationContext, view: str, phase: str, where: str, name: str, payload: dict[str, Any]
) -> Generator[Task, Any, Any]:
    try:
        result = yield context.call_activity_with_retry(name, RETRY, payload)
    except Exception as exc:  # Durable throws a plain Exception into the orchestrator for a failed activity
        raise RebuildFailed(_failure(view, phase, where, name, exc)) from exc
    return result


def _call_all(
    context: OrchestrationContext,
    view: str,
    phase: str,
    where: str,
    name: str,
    payloads: list[dict[str, Any]],
) -> Generator[Task, Any, list[Any]]:
    if not payloads:
        return []
    tasks = [context.call_activity_with_retry(name, RETRY, payload) for payload in payloads]
    try:
        results = yield context.task_all(tasks)
    except Exception as exc:  # the first failure among the fanned-out activities, as a plain Exception
        raise RebuildFailed(_failure(view, phase, where, name, exc)) from exc
    return list(results)


def _failure(view: str, phase: str, where: str, name: str, exc: Exception) -> str:
    reason = str(exc).strip() or type(exc).__name__
    return f"{view} rebuild failed in the {phase} phase ({where}): activity {name} failed: {reason}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
