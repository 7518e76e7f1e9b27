"""The repairs a rebuild makes to the car list, each safe to repeat and safe beside the live projector.

The list is never emptied and never rebuilt aside: it is repaired in place.

* A row is written from its car's head (the fold of all events) when it is
  missing, behind, or differs at the same version (a damaged row). A row ahead
  of the head we read is left alone: the projector saw a newer write.
* Every row write goes with its shard's subtotal, moved by the row's delta, in
  one transactional batch checked against both etags -- the projector's own
  rule, so the two can interleave freely and totals stay exact.
* A shard's subtotal is recomputed from its rows and written `if_match` the
  subtotal read *before* the rows; rows of cars that do not exist (or that sit
  in another shard than theirs) are deleted in that same batch.
* A parked failure is cleared once the car's row covers its version.

Lost races are retried with fresh reads; a shard that keeps changing raises
`ConcurrencyConflict`, and the orchestration retries the activity.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from cartracker.domain.events import UnknownEvent
from cartracker.errors import ConcurrencyConflict
from cartracker.ports import Document, EventStore
from cartracker.projection.car_list import CarListRow, row_document, row_from_car
from cartracker.projection.documents import (
    row_partition,
    shard_of,
    shard_partition,
    subtotal_document,
    without_system_fields,
)
from cartracker.projection.ports import MAX_ROWS_PER_WRITE, RowWrite, ViewStore
from cartracker.service.heads import load_head

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


class CarListRepair:
    def __init__(self, views: ViewStore, events: EventStore, *, shards: int, max_attempts: int = 8) -> None:
        self.views = views
        self.events = events
        self.shards = shards
        self.max_attempts = max_attempts

    def repair_rows(self, car_ids: Sequence[str]) -> RowsRepaired:
        """Bring these cars' rows up to their heads: one head read per car, one query + batch per shard."""
        by_shard: dict[str, dict[str, CarListRow]] = {}
        skipped = 0
        for car_id in dict.fromkeys(car_ids):
            try:
                row = self._head_row(car_id)
            except _UNREADABLE as exc:
                log.warning("car list rebuild: car %s skipped, its head cannot be read: %s", car_id, exc)
                skipped += 1
                continue
            if row is not None:
                by_shard.setdefault(row_partition(car_id, self.shards), {})[car_id] = row
        repaired = 0
        for partition_key, rows in sorted(by_shard.items()):
            chunk = list(rows.items())
            for start in range(0, len(chunk), MAX_ROWS_PER_WRITE):
                repaired += self._write_rows(partition_key, dict(chunk[start : start + MAX_ROWS_PER_WRITE]))
        return RowsRepaired(seen=len(car_ids), repaired=repaired, skipped=skipped)

    def _head_row(self, car_id: str) -> CarListRow | None:
        head = load_head(self.events, car_id)
        return None if head is None else row_from_car(head.car)

    def _write_rows(self, partition_key: str, targets: dict[str, CarListRow]) -> int:
        """Write the rows that are behind or damaged, with the subtotal moved by their delta, in one batch."""
        for attempt in range(self.max_attempts):
            _backoff(attempt)
            state = self.views.read_shard(partition_key, list(targets))
            writes: list[RowWrite] = []
            delta_cents = delta_count = 0
            for car_id, stored in ((car_id, state.rows.get(car_id)) for car_id in targets):
                version = None if stored is None else _int(stored.doc.get("version"))
                if version is not None and version > targets[car_id].version:
                    # The projector moved the row past the head we read: compare it with the head as of
                    # now, or damage it folded forward would stay. A row still ahead is the projector's.
                    fresh = self._fresh_row(car_id)
                    if fresh is None or fresh.version < version:
                        continue
                    targets[car_id] = fresh
                row = targets[car_id]
                doc = row_document(row, partition_key)
                if stored is not None and without_system_fields(stored.doc) == doc:
                    continue  # already right (the version is part of the document)
                writes.append(RowWrite(doc, None if stored is None else stored.etag))
                delta_cents += row.total_charges_cents - (0 if stored is None else _cents(stored.doc))
                delta_count += stored is None
            if not writes:
                return 0
            subtotal = state.subtotal
            cents = delta_cents + (0 if subtotal is None else _cents(subtotal.doc))
            count = delta_count + (0 if subtotal is None else _int(subtotal.doc.get("carCount")))
            try:
                self.views.write_shard(
                    partition_key,
                    writes,
                    subtotal_document(partition_key, cents, count),
                    subtotal_etag=None if subtotal is None else subtotal.etag,
                )
            except ConcurrencyConflict:
                continue  # the projector wrote this shard since we read it: read again
            return len(writes)
        raise ConcurrencyConflict(f"shard {partition_key} kept changing under {self.max_attempts} attempts")

    def _fresh_row(self, car_id: str) -> CarListRow | None:
        try:
            return self._head_row(car_id)
        except _UNREADABLE:
            return None

    def repair_shard(self, shard: int) -> ShardRepaired:
        """Delete the shard's stray rows and set its subtotal to the sum of its rows."""
        partition_key = shard_partition(shard)
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
            target = (sum(_cents(doc) for doc in kept), len(kept))
            current = None if subtotal is None else (_cents(subtotal.doc), _int(subtotal.doc.get("carCount")))
            every_row = (sum(_cents(stored.doc) for stored in rows.values()), len(rows))
            # A missing subtotal is right for an empty shard: the list reads it as zero.
            agreed = current == every_row or (current is None and not rows)
            if not remove and (current == target or (current is None and not kept)):
                return ShardRepaired(rows_removed=removed, subtotal_corrected=corrected or not agreed)
            try:
                self.views.write_subtotal(
                    partition_key,
                    subtotal_document(partition_key, *target),
                    subtotal_etag=None if subtotal is None else subtotal.etag,
                    delete_rows=remove,
                )
            except ConcurrencyConflict:
                conflicts += 1
                if conflicts >= self.max_attempts:
                    raise ConcurrencyConflict(
                        f"shard {partition_key} kept changing under {self.max_attempts} attempts"
                    ) from None
                _backoff(conflicts)
                continue
            removed += len(remove)
            corrected = corrected or not agreed
            if len(stray) == len(remove):
                return ShardRepaired(rows_removed=removed, subtotal_corrected=corrected)

    def _is_stray(self, car_id: str, shard: int) -> bool:
        """A row of a car with no head and no events, or one outside the car's own shard."""
        if shard_of(car_id, self.shards) != shard:
            return True  # the row phase wrote its car's row in the right shard
        try:
            return load_head(self.events, car_id) is None
        except _UNREADABLE:
            return False  # the car exists, this code just cannot read it

    def clear_parked(self) -> ParkedCleared:
        """Drop parked failures whose car's row now covers the parked version (page by page, by id)."""
        cleared = remaining = 0
        after: str | None = None
        while True:
            page = self.views.read_parked(after=after, limit=PARKED_PAGE)
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
        stored = self.views.read_shard(row_partition(car_id, self.shards), [car_id]).rows.get(car_id)
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
        return _int(stored.doc.get("version")) >= version


def _int(value: object) -> int:
    # Cosmos DB keeps numbers as doubles (4999 may come back as 4999.0); a damaged field counts as 0.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value)


def _cents(doc: Document) -> int:
    return _int(doc.get("totalChargesCents"))


def _backoff(attempt: int) -> None:
    if attempt:
        # Jitter, so that the rebuild and the projector do not collide again in lockstep.
        time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311 - jitter, not security
