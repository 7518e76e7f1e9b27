"""The projector every projection shares: applies a change-feed batch of `events` to its views.

Delivery is at-least-once, ordered only per car, and a batch may be redelivered,
interleaved with another instance's, or skipped after a failure. So, per car,
the target row is computed from the best information at hand:

* a head in the batch newer than the row is authoritative (it is the fold of all
  events, written atomically with them);
* events contiguous after that fold onto it;
* a gap (row at v3, events from v5) is healed by one point read of the car's head;
* input at or below the row's version changes nothing.

Work is grouped by shard: per shard one query reads the rows and the subtotal,
one transactional batch writes the changed rows and the subtotal with etag
checks, so totals stay exact under redelivery and concurrent instances. A lost
race re-reads and recomputes the shard. Poison documents are parked under the
projection's name and never block other cars. What a projection's rows are is
its `Projection` declaration's business (`cartracker.projection.spec`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic

from pydantic import ValidationError

from cartracker.domain.events import UnknownEvent
from cartracker.errors import CarTrackerError, ConcurrencyConflict
from cartracker.heads import load_head
from cartracker.ports import Document, EventStore
from cartracker.projection.changes import CarChanges, sort_changes
from cartracker.projection.documents import parked_document
from cartracker.projection.ports import MAX_ROWS_PER_WRITE, RowWrite, ViewStore
from cartracker.projection.spec import BrokenHistory, Projection, R
from cartracker.projection.status import StatusRecorder, batch_mark

log = logging.getLogger(__name__)


class ProjectionFailed(CarTrackerError):
    """Some shards could not be written; the batch must be delivered again (the Functions retry policy)."""


@dataclass
class ProjectionReport:
    rows_written: int = 0
    heads_read: int = 0
    parked: list[Document] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # `reproject`: car id -> why it was not


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
    ) -> None:
        self.projection = projection
        self.views = views
        self.events = events
        self.shards = shards
        self.clock = clock
        self.max_attempts = max_attempts
        self.status = StatusRecorder(projection.name, views, clock)

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
        for partition_key in sorted(by_shard):
            cars = by_shard[partition_key]
            for start in range(0, len(cars), MAX_ROWS_PER_WRITE):
                chunk = cars[start : start + MAX_ROWS_PER_WRITE]
                try:
                    self._project_chunk(partition_key, chunk, report)
                except CarTrackerError as exc:  # conflicts that outlived the retries, an unavailable store
                    if not park_failures:
                        log.warning(
                            "%s: shard %s failed, batch will be retried: %s", self.name, partition_key, exc
                        )
                        failures.append(f"{partition_key}: {exc.message}")
                        continue
                    for car in chunk:
                        for doc in car.documents:
                            self._park(doc, f"write kept failing after retries: {exc.message}", report)
        if failures:
            raise ProjectionFailed(f"{self.name} shards not written: " + "; ".join(failures))
        mark = batch_mark(changes)
        if mark is not None:  # change-feed documents (not events read back by a tool): status moves on
            self.status.record(mark)
        return report

    def reproject(self, car_ids: Sequence[str]) -> ProjectionReport:
        """Bring these cars' rows up to their heads through the same shard writes as a batch (a parked
        change's retry): one head read per car, one query and one batch per shard touched.

        Forward-only and etag-checked like any batch, so safe beside the live projector. A car whose
        head cannot be read is left out, with why, in `report.unreadable`; nothing is parked again.
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
        for partition_key in sorted(by_shard):
            cars = by_shard[partition_key]
            for start in range(0, len(cars), MAX_ROWS_PER_WRITE):
                self._project_chunk(partition_key, cars[start : start + MAX_ROWS_PER_WRITE], report)
        return report

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
            totals: dict[str, int] | None = None
            if spec.subtotal is not None:
                stored_total = state.subtotal
                totals = (
                    spec.empty_totals() if stored_total is None else spec.subtotal.totals(stored_total.doc)
                )
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
                if spec.subtotal is not None and totals is not None:
                    totals = spec.subtotal.moved(totals, doc, None if stored is None else stored.doc)
            if not writes:
                return
            try:
                self.views.write_shard(
                    partition_key,
                    writes,
                    None
                    if spec.subtotal is None or totals is None
                    else spec.subtotal.document(partition_key, totals),
                    subtotal_etag=None if state.subtotal is None else state.subtotal.etag,
                )
            except ConcurrencyConflict:
                continue  # another instance wrote this shard since we read it: read again, recompute
            report.rows_written += len(writes)
            return
        raise ConcurrencyConflict(f"shard {partition_key} kept changing under {self.max_attempts} attempts")

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
