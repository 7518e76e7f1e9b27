"""The port the projector and the list query talk to; SQLite and Cosmos DB adapters implement it.

Each method is one round trip on Cosmos DB (one SQL transaction on SQLite):
that is what makes the projector's cost O(shards touched) and a list page O(1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cartracker.ports import Document, VersionedDocument

# A Cosmos DB transactional batch holds at most 100 operations: 99 rows and the subtotal.
MAX_ROWS_PER_WRITE = 99


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
    """Every shard's subtotal, and the rows of a few named cars."""

    subtotals: list[Document]
    rows: dict[str, Document]


class ViewStore(Protocol):
    def read_shard(self, partition_key: str, car_ids: Sequence[str]) -> ShardState:
        """The rows of these cars in one shard and the shard's subtotal: one single-partition query."""
        ...

    def write_shard(
        self, partition_key: str, rows: Sequence[RowWrite], subtotal: Document, *, subtotal_etag: str | None
    ) -> None:
        """Write rows and the subtotal all or nothing: one transactional batch.

        `subtotal_etag=None` creates the subtotal. At most `MAX_ROWS_PER_WRITE` rows.
        Raises `ConcurrencyConflict` when a row or the subtotal changed since it was read.
        """
        ...

    def list_rows(self, *, before: str | None, limit: int) -> list[Document]:
        """Rows of every shard with `listKey` < `before` (all when None), greatest first: one query."""
        ...

    def read_summary(self, rows: Sequence[tuple[str, str]]) -> ListSummary:
        """Every subtotal plus the rows named by (partition key, car id): one query."""
        ...

    def park(self, doc: Document) -> None:
        """Record a parked change durably (an upsert: parking the same change twice keeps one)."""
        ...

    def list_parked(self, *, limit: int) -> list[Document]:
        """Parked changes, most recent first."""
        ...

    # --- for rebuilds (cartracker.rebuild) ------------------------------------------------------

    def read_whole_shard(self, partition_key: str) -> ShardState:
        """Every row of one shard and its subtotal, with etags.

        The subtotal is read before the rows: rows only change together with their subtotal, so
        a row that changes while the rows are read (a query may take several pages) also moves
        the subtotal's etag, and a subtotal written back `if_match` that etag cannot miss it.
        """
        ...

    def write_subtotal(
        self,
        partition_key: str,
        subtotal: Document,
        *,
        subtotal_etag: str | None,
        delete_rows: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Write the subtotal and delete rows given as (car id, etag), all or nothing: one batch.

        At most `MAX_ROWS_PER_WRITE` deletions. Raises `ConcurrencyConflict` when the subtotal or
        one of the rows changed since it was read (or a subtotal to create exists).
        """
        ...

    def read_parked(self, *, after: str | None, limit: int) -> list[VersionedDocument]:
        """Parked changes with etags, in id order after the id `after` (all when None)."""
        ...

    def unpark(self, doc_id: str, etag: str) -> bool:
        """Delete a parked change unless it changed since read (parked again); False if it did or is gone."""
        ...
