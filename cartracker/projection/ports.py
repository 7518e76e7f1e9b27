"""The port every projector, rebuild and query talks to; SQLite and Cosmos DB adapters implement it.

It knows partitions, rows (documents with an id, one per car), a shard's optional
subtotal (id `"subtotal"`) and parked changes -- not what any one projection stores.
Each method is one round trip on Cosmos DB (one SQL transaction on SQLite): that is
what makes a projector's cost O(shards touched) and a list page O(1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cartracker.ports import Document, VersionedDocument

# A Cosmos DB transactional batch holds at most 100 operations: 99 row writes or deletions and the subtotal.
MAX_ROWS_PER_WRITE = 99
# A Cosmos DB patch holds at most 10 operations: so many subtotal fields can be added to in one write.
MAX_SUBTOTAL_FIELDS = 10


@dataclass(frozen=True)
class ShardState:
    """What a shard holds for some cars: their rows (by car id) and the shard's subtotal, with etags."""

    rows: dict[str, VersionedDocument] = field(default_factory=dict)
    subtotal: VersionedDocument | None = None


@dataclass(frozen=True)
class RowWrite:
    """A row to write: `etag=None` creates it (fails if it exists), otherwise replaces it if unchanged."""

    doc: Document
    etag: str | None


@dataclass(frozen=True)
class ListSummary:
    """Every car-list shard's subtotal, and the rows of a few named cars."""

    subtotals: list[Document]
    rows: dict[str, Document]


class ViewStore(Protocol):
    def read_shard(self, partition_key: str, car_ids: Sequence[str]) -> ShardState:
        """The rows of these cars in one shard partition and its subtotal: one single-partition query."""
        ...

    def write_shard(
        self,
        partition_key: str,
        rows: Sequence[RowWrite],
        subtotal: Document | None = None,
        *,
        subtotal_etag: str | None = None,
        add_to_subtotal: Mapping[str, int] | None = None,
        delete_rows: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Write rows, delete rows given as (car id, etag), and change the subtotal, all or nothing:
        one transactional batch.

        The subtotal changes in one of two ways, or not at all (both None):

        * `subtotal` replaces it if it still has `subtotal_etag`, or creates it (`subtotal_etag=None`);
        * `add_to_subtotal` adds amounts to some of its integer fields: an atomic increment (Cosmos
          DB's patch `incr`) that needs no etag, so two batches that write different rows of the
          shard never conflict on it; it is rolled back with the batch when a row write fails. The
          subtotal must exist.

        At most `MAX_ROWS_PER_WRITE` writes and deletions together. Raises `ShardConflict` when a
        row or the subtotal changed since it was read, a row or subtotal to create exists, or a
        row to replace or delete, or the subtotal to add to, is gone.
        """
        ...

    def ensure_subtotal(self, partition_key: str, doc: Document) -> None:
        """Create the shard's subtotal as `doc` unless it exists (then leave it as it is): one write.

        Idempotent, so instances that write a shard's first rows at the same moment all succeed,
        and every one of them then adds to the one subtotal.
        """
        ...

    def park(self, doc: Document) -> None:
        """Record a parked change durably (an upsert: parking the same change twice keeps one)."""
        ...

    def list_parked(self, *, limit: int, projection: str | None = None) -> list[Document]:
        """Parked changes (of one projection, or all), most recent first."""
        ...

    # --- for the car list's queries (cartracker.service.car_list) -------------------------------

    def list_rows(self, *, before: str | None, limit: int) -> list[Document]:
        """Car-list rows of every shard with `listKey` < `before` (all if None), newest first: one query."""
        ...

    def read_summary(self, rows: Sequence[tuple[str, str]]) -> ListSummary:
        """Every car-list subtotal plus the rows named by (partition key, car id): one query."""
        ...

    # --- for the service-due query (cartracker.service.service_due) --------------------------------

    def list_service_due(self, *, until: str, after: str | None, limit: int) -> list[Document]:
        """Service-due rows of every shard with `after` < `dueKey` < `until` (no lower bound if `after`
        is None), most overdue (lowest `dueKey`) first: one query."""
        ...

    # --- for rebuilds (cartracker.rebuild) ------------------------------------------------------

    def read_whole_shard(self, partition_key: str) -> ShardState:
        """Every row of one shard partition and its subtotal, with etags.

        The subtotal is read before the rows: a row change that moves the subtotal's figures is
        written in one batch with the subtotal, so it also moves the subtotal's etag, and a
        subtotal computed from rows that changed while they were read (a query may take several
        pages) and written back `if_match` that etag cannot miss such a change.
        """
        ...

    def read_parked(
        self, *, after: str | None, limit: int, projection: str | None = None
    ) -> list[VersionedDocument]:
        """Parked changes (of one projection, or all) with etags, in id order after the id `after`."""
        ...

    def unpark(self, doc_id: str, etag: str) -> bool:
        """Delete a parked change unless it changed since read (parked again); False if it did or is gone."""
        ...

    def read_parked_change(self, doc_id: str) -> VersionedDocument | None:
        """One parked change by id, with its etag (a point read), or None."""
        ...

    def count_parked(self, projection: str) -> int:
        """How many changes this projection has parked: one single-partition count."""
        ...

    # --- for status (cartracker.projection.status) ----------------------------------------------

    def read_statuses(self, doc_ids: Sequence[str]) -> dict[str, VersionedDocument]:
        """These projection status documents (by id) with etags: one single-partition query."""
        ...

    def write_status(self, doc: Document, etag: str | None) -> str:
        """Create a status document (`etag=None`) or replace it if unchanged; the new etag.
        Raises `ConcurrencyConflict` when it exists (create) or changed (replace)."""
        ...
