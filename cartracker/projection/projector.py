"""The car-list projector: applies a change-feed batch of the `events` container to the views.

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
race re-reads and recomputes the shard. Poison documents are parked and never
block other cars.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cartracker.domain.events import UnknownEvent
from cartracker.errors import CarTrackerError, ConcurrencyConflict
from cartracker.ports import Document, EventStore
from cartracker.projection.car_list import (
    BrokenHistory,
    CarListRow,
    evolve_row,
    row_document,
    row_from_car,
    row_from_document,
)
from cartracker.projection.changes import CarChanges, sort_changes
from cartracker.projection.documents import as_int, parked_document, row_partition, subtotal_document
from cartracker.projection.ports import MAX_ROWS_PER_WRITE, RowWrite, ViewStore
from cartracker.service.heads import load_head

log = logging.getLogger(__name__)


class ProjectionFailed(CarTrackerError):
    """Some shards could not be written; the batch must be delivered again (the Functions retry policy)."""


@dataclass
class ProjectionReport:
    rows_written: int = 0
    heads_read: int = 0
    parked: list[Document] = field(default_factory=list)


class CarListProjector:
    def __init__(
        self,
        views: ViewStore,
        events: EventStore,
        *,
        shards: int,
        clock: Callable[[], datetime],
        max_attempts: int = 5,
    ) -> None:
        self.views = views
        self.events = events
        self.shards = shards
        self.clock = clock
        self.max_attempts = max_attempts

    def apply(self, changes: Iterable[Document], *, park_failures: bool = False) -> ProjectionReport:
        """Project a batch. A shard that cannot be written raises `ProjectionFailed` after the others
        are done -- or, on the last delivery attempt (`park_failures`), parks its documents instead.
        """
        report = ProjectionReport()
        batch = sort_changes(changes)
        for doc, reason in batch.poison:
            self._park(doc, reason, report)
        by_shard: dict[str, list[CarChanges]] = {}
        for car in batch.cars.values():
            by_shard.setdefault(row_partition(car.car_id, self.shards), []).append(car)
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
                            "car list: shard %s failed, batch will be retried: %s", partition_key, exc
                        )
                        failures.append(f"{partition_key}: {exc.message}")
                        continue
                    for car in chunk:
                        for doc in car.documents:
                            self._park(doc, f"write kept failing after retries: {exc.message}", report)
        if failures:
            raise ProjectionFailed("car list shards not written: " + "; ".join(failures))
        return report

    def _project_chunk(
        self, partition_key: str, cars: Sequence[CarChanges], report: ProjectionReport
    ) -> None:
        healed: dict[str, CarListRow] = {}  # heads read to heal gaps, kept across attempts
        broken: set[str] = set()
        for attempt in range(self.max_attempts):
            if attempt:
                time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311 - jitter, not security
            state = self.views.read_shard(partition_key, [car.car_id for car in cars])
            writes: list[RowWrite] = []
            delta_cents = delta_count = 0
            for car in cars:
                if car.car_id in broken:
                    continue
                stored = state.rows.get(car.car_id)
                row = None if stored is None else row_from_document(stored.doc)
                try:
                    target = self._target(car, row, healed, report)
                except (UnknownEvent, BrokenHistory) as exc:
                    broken.add(car.car_id)
                    for doc in car.documents:
                        self._park(doc, str(exc), report)
                    continue
                if target is None or (row is not None and target.version <= row.version):
                    continue  # stale or duplicate input: rows only move forward
                writes.append(
                    RowWrite(row_document(target, partition_key), None if stored is None else stored.etag)
                )
                delta_cents += target.total_charges_cents - (0 if row is None else row.total_charges_cents)
                delta_count += stored is None
            if not writes:
                return
            subtotal = state.subtotal
            cents = delta_cents + (0 if subtotal is None else as_int(subtotal.doc["totalChargesCents"]))
            count = delta_count + (0 if subtotal is None else as_int(subtotal.doc["carCount"]))
            try:
                self.views.write_shard(
                    partition_key,
                    writes,
                    subtotal_document(partition_key, cents, count),
                    subtotal_etag=None if subtotal is None else subtotal.etag,
                )
            except ConcurrencyConflict:
                continue  # another instance wrote this shard since we read it: read again, recompute
            report.rows_written += len(writes)
            return
        raise ConcurrencyConflict(f"shard {partition_key} kept changing under {self.max_attempts} attempts")

    def _target(
        self,
        car: CarChanges,
        row: CarListRow | None,
        healed: dict[str, CarListRow],
        report: ProjectionReport,
    ) -> CarListRow | None:
        """The newest row this batch (plus, for a gap, one head read) can justify."""
        best = row
        for candidate in (healed.get(car.car_id), None if car.head is None else row_from_car(car.head)):
            if candidate is not None and (best is None or candidate.version > best.version):
                best = candidate
        for version in sorted(car.events):
            reached = 0 if best is None else best.version
            if version <= reached:
                continue
            if version != reached + 1:
                return self._heal(car.car_id, best, healed, report)
            best = evolve_row(best, car.events[version].event, car_id=car.car_id)
        return best

    def _heal(
        self, car_id: str, best: CarListRow | None, healed: dict[str, CarListRow], report: ProjectionReport
    ) -> CarListRow | None:
        # Events are missing between what we know and what arrived (a skipped batch, or a head
        # that did not come with them): the head is the fold of all events, one point read.
        report.heads_read += 1
        head = load_head(self.events, car_id)
        if head is None:
            raise BrokenHistory(f"car {car_id} has events but no head and no CarAdded")
        row = row_from_car(head.car)
        healed[car_id] = row
        return row if best is None or row.version > best.version else best

    def _park(self, doc: Document, reason: str, report: ProjectionReport) -> None:
        parked = parked_document(doc, reason, self.clock())
        if any(p["id"] == parked["id"] for p in report.parked):
            return  # parked already in this batch, with the first (more specific) reason
        log.error("car list: parked %s (%s)", parked["documentId"], reason)
        self.views.park(parked)
        report.parked.append(parked)
