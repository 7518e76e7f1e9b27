"""The projector every projection shares: applies a change-feed batch of `events` to its views.

Delivery is at-least-once, ordered only per car, and a batch may be redelivered,
interleaved with another instance's, or skipped after a failure. So, per car,
the target row is computed from the best information at hand:

* a head in the batch newer than the row is authoritative (it is the fold of all
  events, written atomically with them);
* events contiguous after that fold onto it;
* a gap (row at v3, events from v5) is healed by one point read of the car's head;
* input at or below the row's version changes nothing.

Work is grouped by shard: per shard one query reads the rows, and one
transactional batch writes the changed rows, each checked against its etag, and
adds their change to the shard's subtotal. The add is an atomic increment with
no etag (Cosmos DB's patch `incr`), so instances that project different cars of
one shard never conflict on it, while the rows still gate the batch: a
redelivered or interleaved change that a row has seen already writes nothing and
adds nothing, and a row that lost a race rolls its add back with it. Totals stay
exact. A lost race re-reads and recomputes the shard.

The shards of a batch are written in parallel (a bounded pool), in a random
order, so a batch costs about its slowest shard rather than the sum of them, and
instances that start together do not walk the shards in lock-step. A shard that
fails leaves the others written. Poison documents are parked under the
projection's name and never block other cars. What a projection's rows are is
its `Projection` declaration's business (`cartracker.projection.spec`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic

from pydantic import ValidationError

from cartracker.domain.events import UnknownEvent
from cartracker.errors import CarTrackerError, ConcurrencyConflict, ShardConflict
from cartracker.heads import load_head
from cartracker.ports import Document, EventStore, VersionedDocument
from cartracker.projection.changes import CarChanges, sort_changes
from cartracker.projection.documents import parked_document
from cartracker.projection.ports import MAX_ROWS_PER_WRITE, RowWrite, ViewStore
from cartracker.projection.spec import BrokenHistory, Projection, R
from cartracker.projection.status import StatusRecorder, batch_mark

log = logging.getLogger(__name__)

# Shards one batch writes at once: each is a query and a batch on a connection of its own (the app's
# transport keeps up to 16 idle per host, so they are reused); SQLite serialises the writes themselves.
PARALLEL_SHARD_WRITES = 8


class ProjectionFailed(CarTrackerError):
    """Some shards could not be written; the batch must be delivered again (the Functions retry policy)."""


@dataclass(frozen=True)
class AppliedChange:
    """An event a row took in: which request and command caused it, and how long it took to arrive."""

    car_id: str
    version: int
    correlation_id: str | None
    causation_id: str | None
    delay_seconds: float  # from the event's occurredAt to the write of its row (0 if clocks disagree)


@dataclass
class ProjectionReport:
    rows_written: int = 0
    heads_read: int = 0
    parked: list[Document] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # `reproject`: car id -> why it was not
    # Shard batches that lost a race and were read again: on a row (another writer of that car)
    # or on the subtotal (adding to it never conflicts; a rebuild replacing it can).
    row_conflicts: int = 0
    subtotal_conflicts: int = 0
    applied: list[AppliedChange] = field(default_factory=list)  # the events of the rows written

    def merge(self, other: ProjectionReport) -> None:
        self.applied.extend(other.applied)
        self.rows_written += other.rows_written
        self.heads_read += other.heads_read
        self.parked.extend(p for p in other.parked if all(p["id"] != q["id"] for q in self.parked))
        self.unreadable.update(other.unreadable)
        self.row_conflicts += other.row_conflicts
        self.subtotal_conflicts += other.subtotal_conflicts


Chunk = tuple[str, list[CarChanges]]  # a shard's partition key and at most MAX_ROWS_PER_WRITE of its cars


def backoff(attempt: int) -> None:
    """Jitter before a retry, so that two writers of a shard do not collide again in lockstep."""
    if attempt:
        time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311 - jitter, not security


class Projector(Generic[R]):
    def __init__(
        self,
        projection: Projection[R],
        views: ViewStore,
        events: EventStore,
        *,
        shards: int,
        clock: Callable[[], datetime],
        max_attempts: int = 5,
        parallel: int = PARALLEL_SHARD_WRITES,
    ) -> None:
        if parallel < 1:
            raise ValueError(f"parallel must be at least 1, not {parallel}")
        self.projection = projection
        self.views = views
        self.events = events
        self.shards = shards
        self.clock = clock
        self.max_attempts = max_attempts
        self.parallel = parallel
        self.status = StatusRecorder(projection.name, views, clock)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._order = random.Random()  # noqa: S311 - spreads instances over the shards, not security

    @property
    def name(self) -> str:
        return self.projection.name

    def apply(self, changes: Iterable[Document], *, park_failures: bool = False) -> ProjectionReport:
        """Project a batch. A shard that cannot be written raises `ProjectionFailed` after the others
        are done -- or, on the last delivery attempt (`park_failures`), parks its documents instead.
        """
        report = ProjectionReport()
        changes = list(changes)
        batch = sort_changes(changes)
        for doc, reason in batch.poison:
            self._park(doc, reason, report)
        by_shard: dict[str, list[CarChanges]] = {}
        for car in batch.cars.values():
            by_shard.setdefault(self.projection.partition_of(car.car_id, self.shards), []).append(car)
        failures: list[str] = []
        for (partition_key, cars), error in self._write_chunks(_chunks(by_shard), report):
            if error is None:
                continue
            if not isinstance(
                error, CarTrackerError
            ):  # a bug or an unexpected store answer: not ours to park
                raise error
            if not park_failures:  # conflicts that outlived the retries, an unavailable store
                log.warning("%s: shard %s failed, batch will be retried: %s", self.name, partition_key, error)
                failures.append(f"{partition_key}: {error.message}")
                continue
            for car in cars:
                for doc in car.documents:
                    self._park(doc, f"write kept failing after retries: {error.message}", report)
        if failures:
            raise ProjectionFailed(f"{self.name} shards not written: " + "; ".join(failures))
        mark = batch_mark(changes)
        if mark is not None:  # change-feed documents (not events read back by a tool): status moves on
            self.status.record(mark, [change.delay_seconds for change in report.applied])
        return report

    def reproject(self, car_ids: Sequence[str]) -> ProjectionReport:
        """Bring these cars' rows up to their heads through the same shard writes as a batch (a parked
        change's retry): one head read per car, one query and one batch per shard touched.

        Forward-only and etag-checked like any batch, so safe beside the live projector. A car whose
        head cannot be read is left out, with why, in `report.unreadable`; nothing is parked again.
        A shard that cannot be written raises its error once the others are written.
        """
        report = ProjectionReport()
        by_shard: dict[str, list[CarChanges]] = {}
        for car_id in dict.fromkeys(car_ids):
            try:
                head = load_head(self.events, car_id)
            except (UnknownEvent, ValidationError) as exc:
                report.unreadable[car_id] = f"its head cannot be read: {exc}"
                continue
            report.heads_read += 1
            if head is None:
                report.unreadable[car_id] = f"car {car_id} has no head and no events"
                continue
            partition_key = self.projection.partition_of(car_id, self.shards)
            by_shard.setdefault(partition_key, []).append(CarChanges(car_id, head=head.car))
        for _, error in self._write_chunks(_chunks(by_shard), report):
            if error is not None:
                raise error
        return report

    def _write_chunks(
        self, chunks: list[Chunk], report: ProjectionReport
    ) -> list[tuple[Chunk, Exception | None]]:
        """Project every chunk, up to `parallel` at once, in a random order; each chunk's outcome.

        Each chunk fills a report of its own (merged into `report` whatever its outcome), so the
        workers share nothing but the stores, whose clients are safe to share between threads.
        """
        self._order.shuffle(chunks)
        reports = [ProjectionReport() for _ in chunks]

        def run(index: int) -> Exception | None:
            partition_key, cars = chunks[index]
            try:
                self._project_chunk(partition_key, cars, reports[index])
            except Exception as exc:  # noqa: BLE001 - handed back to the caller, which decides
                return exc
            return None

        if self.parallel == 1 or len(chunks) <= 1:
            errors = [run(index) for index in range(len(chunks))]
        else:
            errors = list(self._executor().map(run, range(len(chunks))))
        for chunk_report in reports:
            report.merge(chunk_report)
        return list(zip(chunks, errors, strict=True))

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:  # two batches of one projector may arrive together (the Functions host)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.parallel, thread_name_prefix=f"{self.name}-shards"
                )
            return self._pool

    def _project_chunk(
        self, partition_key: str, cars: Sequence[CarChanges], report: ProjectionReport
    ) -> None:
        spec = self.projection
        healed: dict[str, R] = {}  # heads read to heal gaps, kept across attempts
        broken: set[str] = set()
        for attempt in range(self.max_attempts):
            backoff(attempt)
            state = self.views.read_shard(partition_key, [car.car_id for car in cars])
            writes: list[RowWrite] = []
            moved: list[tuple[CarChanges, int, int]] = []  # each written car: from version, to version
            delta = spec.empty_totals()  # what these writes add to the shard's subtotal
            for car in cars:
                if car.car_id in broken:
                    continue
                stored = state.rows.get(car.car_id)
                row = None if stored is None else spec.from_document(stored.doc)
                try:
                    target = self._target(car, row, healed, report)
                except (UnknownEvent, BrokenHistory) as exc:
                    broken.add(car.car_id)
                    for doc in car.documents:
                        self._park(doc, str(exc), report)
                    continue
                if target is None or (row is not None and target.version <= row.version):
                    continue  # stale or duplicate input: rows only move forward
                doc = spec.to_document(target, partition_key)
                writes.append(RowWrite(doc, None if stored is None else stored.etag))
                moved.append((car, 0 if row is None else row.version, target.version))
                if spec.subtotal is not None:
                    delta = spec.subtotal.moved(delta, doc, None if stored is None else stored.doc)
            if not writes:
                return
            try:
                write_rows(self.views, spec, partition_key, writes, state.subtotal, delta)
            except ConcurrencyConflict as exc:  # another writer changed this shard since we read it
                if isinstance(exc, ShardConflict) and exc.on_subtotal:
                    report.subtotal_conflicts += 1
                else:
                    report.row_conflicts += 1
                continue
            report.rows_written += len(writes)
            self._applied(partition_key, moved, report)
            return
        raise ConcurrencyConflict(f"shard {partition_key} kept changing under {self.max_attempts} attempts")

    def _applied(
        self, partition_key: str, moved: Sequence[tuple[CarChanges, int, int]], report: ProjectionReport
    ) -> None:
        """Log each event the written rows took in, with the ids of the request and command behind it,
        so that a log query joins a request to the rows it changed; and note how late it arrived.

        The ids are in the message as well as in the record's attributes: the Functions host sends
        only the message of a worker's log record to Application Insights.
        """
        applied_at = self.clock()
        logging_on = log.isEnabledFor(logging.INFO)  # the batch's hot loop: build records only if kept
        for car, after, up_to in moved:
            for version in sorted(v for v in car.events if after < v <= up_to):
                stored = car.events[version]
                delay = max(0.0, (applied_at - stored.event.occurred_at).total_seconds())
                change = AppliedChange(car.car_id, version, stored.correlation_id, stored.command_id, delay)
                report.applied.append(change)
                if not logging_on:
                    continue
                log.info(
                    "%s applied %s v%d to %s after %.3f s (correlationId=%s causationId=%s)",
                    self.name,
                    car.car_id,
                    version,
                    partition_key,
                    delay,
                    change.correlation_id,
                    change.causation_id,
                    extra={
                        "projection": self.name,
                        "carId": car.car_id,
                        "version": version,
                        "correlationId": change.correlation_id,
                        "causationId": change.causation_id,
                        "delaySeconds": delay,
                    },
                )

    def _target(
        self, car: CarChanges, row: R | None, healed: dict[str, R], report: ProjectionReport
    ) -> R | None:
        """The newest row this batch (plus, for a gap, one head read) can justify."""
        spec = self.projection
        best = row
        for candidate in (healed.get(car.car_id), None if car.head is None else spec.from_car(car.head)):
            if candidate is not None and (best is None or candidate.version > best.version):
                best = candidate
        for version in sorted(car.events):
            reached = 0 if best is None else best.version
            if version <= reached:
                continue
            if version != reached + 1:
                return self._heal(car.car_id, best, healed, report)
            best = spec.evolve(best, car.events[version].event, car.car_id)
        return best

    def _heal(self, car_id: str, best: R | None, healed: dict[str, R], report: ProjectionReport) -> R | None:
        # Events are missing between what we know and what arrived (a skipped batch, or a head
        # that did not come with them): the head is the fold of all events, one point read.
        report.heads_read += 1
        head = load_head(self.events, car_id)
        if head is None:
            raise BrokenHistory(f"car {car_id} has events but no head and no CarAdded")
        row = self.projection.from_car(head.car)
        healed[car_id] = row
        return row if best is None or row.version > best.version else best

    def _park(self, doc: Document, reason: str, report: ProjectionReport) -> None:
        parked = parked_document(doc, reason, self.clock(), projection=self.name)
        if any(p["id"] == parked["id"] for p in report.parked):
            return  # parked already in this batch, with the first (more specific) reason
        log.error("%s: parked %s (%s)", self.name, parked["documentId"], reason)
        self.views.park(parked)
        report.parked.append(parked)


AnyProjector = Projector[Any]


def _chunks(by_shard: Mapping[str, Sequence[CarChanges]]) -> list[Chunk]:
    return [
        (partition_key, list(cars[start : start + MAX_ROWS_PER_WRITE]))
        for partition_key, cars in by_shard.items()
        for start in range(0, len(cars), MAX_ROWS_PER_WRITE)
    ]


def write_rows(
    views: ViewStore,
    spec: Projection[Any],
    partition_key: str,
    writes: Sequence[RowWrite],
    subtotal: VersionedDocument | None,
    delta: Mapping[str, int],
) -> None:
    """One shard batch: the rows, and `delta` added to the shard's subtotal.

    The subtotal is added to, never replaced, so there is nothing to race on. A shard read
    without one (its first rows) gets a zero subtotal first, created only if still absent,
    so instances writing a shard's first rows at once all add to the same one. A delta of
    zeros (a row changed, its sums did not) leaves the subtotal unwritten.
    """
    if spec.subtotal is None:
        views.write_shard(partition_key, writes)
        return
    if subtotal is None:
        views.ensure_subtotal(partition_key, spec.subtotal.document(partition_key, spec.empty_totals()))
    amounts = {name: amount for name, amount in delta.items() if amount}
    views.write_shard(partition_key, writes, add_to_subtotal=amounts or None)
