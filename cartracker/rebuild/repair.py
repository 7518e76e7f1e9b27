"""The repairs a rebuild makes to a projection, each safe to repeat and safe beside the live projector.

The list is never emptied and never rebuilt aside: it is repaired in place.

* A row is written from its car's head (the fold of all events) when it is
  missing, behind, or differs at the same version (a damaged row). A row ahead
  of the head we read is left alone: the projector saw a newer write.
* Every row write adds the row's change to its shard's subtotal (if the
  projection keeps one) in one transactional batch, the row checked against its
  etag -- the projector's own rule (`engine.write_rows`), so the two can
  interleave freely and totals stay exact.
* A shard's subtotal is recomputed from its rows and written `if_match` the
  subtotal read *before* the rows; rows of cars that do not exist (or that sit
  in another shard than theirs) are deleted in that same batch.
* A parked failure of this projection is cleared once the car's row covers its version.

Nothing here knows what a row holds: that is the `Projection` declaration's.

Lost races are retried with fresh reads; a shard that keeps changing raises
`ConcurrencyConflict`, and the orchestration retries the activity.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic

from pydantic import ValidationError

from cartracker.domain.events import UnknownEvent
from cartracker.errors import ConcurrencyConflict
from cartracker.heads import load_head
from cartracker.ports import Document, EventStore, VersionedDocument
from cartracker.projection.documents import lenient_int, without_system_fields
from cartracker.projection.engine import backoff, write_rows
from cartracker.projection.ports import MAX_ROWS_PER_WRITE, RowWrite, ViewStore
from cartracker.projection.spec import Projection, R

log = logging.getLogger(__name__)

PARKED_PAGE = 100
# A head or history this code cannot read: written by a newer version, or damaged. Never fatal here.
_UNREADABLE = (UnknownEvent, ValidationError)


@dataclass(frozen=True)
class RowsRepaired:
    seen: int
    repaired: int
    skipped: int  # heads this code cannot read (e.g. written by a newer version); left as they are


@dataclass(frozen=True)
class ShardRepaired:
    rows_removed: int
    subtotal_corrected: bool


@dataclass(frozen=True)
class ParkedCleared:
    cleared: int
    remaining: int


class ProjectionRepair(Generic[R]):
    def __init__(
        self,
        projection: Projection[R],
        views: ViewStore,
        events: EventStore,
        *,
        shards: int,
        max_attempts: int = 8,
    ) -> None:
        self.projection = projection
        self.views = views
        self.events = events
        self.shards = shards
        self.max_attempts = max_attempts

    def repair_rows(self, car_ids: Sequence[str]) -> RowsRepaired:
        """Bring these cars' rows up to their heads: one head read per car, one query + batch per shard."""
        by_shard: dict[str, dict[str, R]] = {}
        skipped = 0
        for car_id in dict.fromkeys(car_ids):
            try:
                row = self._head_row(car_id)
            except _UNREADABLE as exc:
                log.warning(
                    "%s rebuild: car %s skipped, its head cannot be read: %s",
                    self.projection.name,
                    car_id,
                    exc,
                )
                skipped += 1
                continue
            if row is not None:
                by_shard.setdefault(self.projection.partition_of(car_id, self.shards), {})[car_id] = row
        repaired = 0
        for partition_key, rows in sorted(by_shard.items()):
            chunk = list(rows.items())
            for start in range(0, len(chunk), MAX_ROWS_PER_WRITE):
                repaired += self._write_rows(partition_key, dict(chunk[start : start + MAX_ROWS_PER_WRITE]))
        return RowsRepaired(seen=len(car_ids), repaired=repaired, skipped=skipped)

    def _head_row(self, car_id: str) -> R | None:
        head = load_head(self.events, car_id)
        return None if head is None else self.projection.from_car(head.car)

    def _write_rows(self, partition_key: str, targets: dict[str, R]) -> int:
        """Write the rows that are behind or damaged, adding their change to the subtotal, in one batch."""
        spec = self.projection
        for attempt in range(self.max_attempts):
            backoff(attempt)
            state = self.views.read_shard(partition_key, list(targets))
            writes: list[RowWrite] = []
            delta = spec.empty_totals()
            for car_id, stored in ((car_id, state.rows.get(car_id)) for car_id in targets):
                version = None if stored is None else lenient_int(stored.doc.get("version"))
                if version is not None and version > targets[car_id].version:
                    # The projector moved the row past the head we read: compare it with the head as of
                    # now, or damage it folded forward would stay. A row still ahead is the projector's.
                    fresh = self._fresh_row(car_id)
                    if fresh is None or fresh.version < version:
                        continue
                    targets[car_id] = fresh
                doc = spec.to_document(targets[car_id], partition_key)
                if stored is not None and without_system_fields(stored.doc) == doc:
                    continue  # already right (the version is part of the document)
                writes.append(RowWrite(doc, None if stored is None else stored.etag))
                if spec.subtotal is not None:
                    delta = spec.subtotal.moved(delta, doc, None if stored is None else stored.doc)
            if not writes:
                return 0
            try:
                write_rows(self.views, spec, partition_key, writes, state.subtotal, delta)
            except ConcurrencyConflict:
                continue  # the projector wrote this shard since we read it: read again
            return len(writes)
        raise ConcurrencyConflict(f"shard {partition_key} kept changing under {self.max_attempts} attempts")

    def _stored_totals(self, subtotal: VersionedDocument | None) -> dict[str, int]:
        """A stored subtotal's figures, leniently (a damaged field counts 0); none without a subtotal."""
        spec = self.projection.subtotal
        if spec is None:
            return {}
        return {
            name: 0 if subtotal is None else lenient_int(subtotal.doc.get(name)) for name in spec.fields()
        }

    def _row_totals(self, rows: Iterable[Document]) -> dict[str, int]:
        spec = self.projection.subtotal
        return {} if spec is None else spec.of_rows(rows)

    def _subtotal_document(self, partition_key: str, totals: dict[str, int]) -> Document | None:
        spec = self.projection.subtotal
        return None if spec is None else spec.document(partition_key, totals)

    def _fresh_row(self, car_id: str) -> R | None:
        try:
            return self._head_row(car_id)
        except _UNREADABLE:
            return None

    def repair_shard(self, shard: int) -> ShardRepaired:
        """Delete the shard's stray rows and set its subtotal to the sum of its rows."""
        partition_key = self.projection.partition(shard)
        has_subtotal = self.projection.subtotal is not None
        removed, corrected, conflicts = 0, False, 0
        stray_by_car: dict[str, bool] = {}  # a car's existence does not change between attempts
        while True:
            state = self.views.read_whole_shard(partition_key)
            rows, subtotal = state.rows, state.subtotal
            for car_id in rows.keys() - stray_by_car.keys():
                stray_by_car[car_id] = self._is_stray(car_id, shard)
            stray = [(car_id, rows[car_id].etag) for car_id in sorted(rows) if stray_by_car[car_id]]
            remove = stray[:MAX_ROWS_PER_WRITE]
            # With more strays than one batch holds, this round's subtotal still counts the rest.
            gone = {car_id for car_id, _ in remove}
            kept = [stored.doc for car_id, stored in rows.items() if car_id not in gone]
            target = self._row_totals(kept)
            current = None if subtotal is None else self._stored_totals(subtotal)
            every_row = self._row_totals(stored.doc for stored in rows.values())
            # A missing subtotal is right for an empty shard (or a projection without one).
            agreed = not has_subtotal or current == every_row or (current is None and not rows)
            if not remove and (not has_subtotal or current == target or (current is None and not kept)):
                return ShardRepaired(rows_removed=removed, subtotal_corrected=corrected or not agreed)
            try:
                self.views.write_shard(
                    partition_key,
                    [],
                    self._subtotal_document(partition_key, target),
                    subtotal_etag=None if subtotal is None else subtotal.etag,
                    delete_rows=remove,
                )
            except ConcurrencyConflict:
                conflicts += 1
                if conflicts >= self.max_attempts:
                    raise ConcurrencyConflict(
                        f"shard {partition_key} kept changing under {self.max_attempts} attempts"
                    ) from None
                backoff(conflicts)
                continue
            removed += len(remove)
            corrected = corrected or not agreed
            if len(stray) == len(remove):
                return ShardRepaired(rows_removed=removed, subtotal_corrected=corrected)

    def _is_stray(self, car_id: str, shard: int) -> bool:
        """A row of a car with no head and no events, or one outside the car's own shard."""
        if self.projection.shard(car_id, self.shards) != shard:
            return True  # the row phase wrote its car's row in the right shard
        try:
            return load_head(self.events, car_id) is None
        except _UNREADABLE:
            return False  # the car exists, this code just cannot read it

    def clear_parked(self) -> ParkedCleared:
        """Drop this projection's parked failures whose car's row now covers the parked version
        (page by page, by id)."""
        cleared = remaining = 0
        after: str | None = None
        while True:
            page = self.views.read_parked(after=after, limit=PARKED_PAGE, projection=self.projection.name)
            for item in page:
                if self._covered(item.doc) and self.views.unpark(item.doc["id"], item.etag):
                    cleared += 1
                else:
                    remaining += 1
            if len(page) < PARKED_PAGE:
                return ParkedCleared(cleared=cleared, remaining=remaining)
            after = page[-1].doc["id"]

    def _covered(self, parked: Document) -> bool:
        car_id = parked.get("carId")
        if not isinstance(car_id, str) or not car_id:
            return False  # a document of no car: nothing a rebuild can repair
        partition_key = self.projection.partition_of(car_id, self.shards)
        stored = self.views.read_shard(partition_key, [car_id]).rows.get(car_id)
        if stored is None:
            return False
        version = parked.get("version")
        if not isinstance(version, int):
            # Parked without a version (a damaged document): the row must be as new as the car.
            try:
                head = load_head(self.events, car_id)
            except _UNREADABLE:
                return False
            if head is None:
                return False
            version = head.version
        return lenient_int(stored.doc.get("version")) >= version
