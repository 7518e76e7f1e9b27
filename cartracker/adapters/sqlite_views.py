"""The `ViewStore` port on the embedded SQLite database.

The list is read by keyset pagination over a partial expression index on the
rows' `listKey`, so a page costs the same over 100,000 cars as over 1,000: the
index is walked from the continuation key for `limit` entries, never counted or
skipped through. Subtotals have a small index of their own.

Every statement goes through the database's `query()`, `read()` or `write()`, so a fault of
the store (full, read-only, gone) is a `StoreUnavailable` here too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from cartracker.adapters.sqlite_db import DocumentExists, EtagMismatch, SqliteDatabase, etag_for
from cartracker.errors import ConcurrencyConflict, ShardConflict
from cartracker.ports import Document, VersionedDocument
from cartracker.projection.documents import PARKED_PARTITION, SUBTOTAL_ID, parked_id_prefix
from cartracker.projection.ports import MAX_SUBTOTAL_FIELDS, ListSummary, RowWrite, ShardState
from cartracker.projection.status import STATUS_PARTITION
from cartracker.settings import VIEWS_CONTAINER

# Two partial indexes serve the list: rows by listKey, and the subtotals. SQLite evaluates a partial
# index's predicate on every write to the table, events and heads included, so the predicates test
# the `kind` column (the docType, copied out by the adapter), not the JSON body. They compare it
# with literals only: a predicate term that a query compares with a bound parameter, such as
# `container = 'views'` against `container = ?`, makes SQLite prepare that query again on every run.
# A query can use a partial index only when its WHERE clause repeats the predicate's terms, and
# these name their index (INDEXED BY): one that cannot use it fails instead of quietly scanning
# every document (the planner would otherwise prefer the primary key for the subtotals).
# The two DROPs remove the indexes of earlier versions, whose predicates parsed every body.
_INDEXES = """
DROP INDEX IF EXISTS car_list_rows;
DROP INDEX IF EXISTS car_list_subtotals;
CREATE INDEX IF NOT EXISTS car_list_rows_by_key ON documents (container, json_extract(body, '$.listKey'))
    WHERE kind = 'carListRow';
CREATE INDEX IF NOT EXISTS car_list_subtotals_by_kind ON documents (container)
    WHERE kind = 'carListSubtotal';
CREATE INDEX IF NOT EXISTS service_due_rows_by_key ON documents (container, json_extract(body, '$.dueKey'))
    WHERE kind = 'serviceDueRow';
"""
_ROWS = (
    "SELECT body FROM documents INDEXED BY car_list_rows_by_key WHERE container = ? AND kind = 'carListRow' "
)
_NEWEST_FIRST = "ORDER BY json_extract(body, '$.listKey') DESC LIMIT ?"
_ROWS_FIRST_PAGE = _ROWS + _NEWEST_FIRST
_ROWS_BEFORE = _ROWS + "AND json_extract(body, '$.listKey') < ? " + _NEWEST_FIRST
# Most overdue first: the index walked upwards from the continuation key, below the "due now" bound.
_SERVICE_DUE = (
    "SELECT body FROM documents INDEXED BY service_due_rows_by_key "
    "WHERE container = ? AND kind = 'serviceDueRow' "
    "AND json_extract(body, '$.dueKey') > ? AND json_extract(body, '$.dueKey') < ? "
    "ORDER BY json_extract(body, '$.dueKey') LIMIT ?"
)
_SUBTOTALS = (
    "SELECT body FROM documents INDEXED BY car_list_subtotals_by_kind "
    "WHERE container = ? AND kind = 'carListSubtotal'"
)


class SqliteViewStore:
    def __init__(self, db: SqliteDatabase, container: str = VIEWS_CONTAINER) -> None:
        self.db = db
        self.container = container
        self.db.execute_script(_INDEXES)

    def read_shard(self, partition_key: str, car_ids: Sequence[str]) -> ShardState:
        rows = self.db.query(
            "SELECT body, seq FROM documents WHERE container = ? AND pk = ? "
            "AND (id IN (SELECT value FROM json_each(?)) OR id = ?)",
            (self.container, partition_key, json.dumps(list(car_ids)), SUBTOTAL_ID),
        )
        found = {doc["id"]: VersionedDocument(doc, etag_for(seq)) for doc, seq in _parsed(rows)}
        subtotal = found.pop(SUBTOTAL_ID, None)
        return ShardState(rows=found, subtotal=subtotal)

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
        if subtotal is not None and add_to_subtotal is not None:
            raise ValueError("write the subtotal or add to it, not both")
        on_subtotal = False
        try:
            with self.db.write() as conn:
                for row in rows:
                    self._put(conn, partition_key, row.doc, row.etag)
                for car_id, etag in delete_rows:
                    self.db.delete(conn, self.container, partition_key, car_id, if_match=etag)
                on_subtotal = True
                if subtotal is not None:
                    self._put(conn, partition_key, subtotal, subtotal_etag)
                elif add_to_subtotal:
                    self._add_to_subtotal(conn, partition_key, add_to_subtotal)
        except (DocumentExists, EtagMismatch) as exc:
            raise ShardConflict(
                f"shard {partition_key} changed since it was read", on_subtotal=on_subtotal
            ) from exc

    def _add_to_subtotal(
        self, conn: sqlite3.Connection, partition_key: str, amounts: Mapping[str, int]
    ) -> None:
        """Cosmos DB's patch `incr`, inside the write transaction (which holds the write lock)."""
        if len(amounts) > MAX_SUBTOTAL_FIELDS:
            raise ValueError(f"a patch holds at most {MAX_SUBTOTAL_FIELDS} operations, not {len(amounts)}")
        stored = self.db.get(conn, self.container, partition_key, SUBTOTAL_ID)
        if stored is None:
            raise EtagMismatch(SUBTOTAL_ID)  # Cosmos answers 404: there is nothing to add to
        doc = dict(stored.doc)
        for name, amount in amounts.items():
            current = doc.get(name, 0)
            if not isinstance(current, int) or isinstance(current, bool):
                # Cosmos refuses incr on a field that is not a number (400); a rebuild repairs it.
                raise ValueError(f"subtotal {partition_key} field {name} is not a number: {current!r}")
            doc[name] = current + amount
        self.db.replace(conn, self.container, partition_key, doc, if_match=None)

    def ensure_subtotal(self, partition_key: str, doc: Document) -> None:
        try:
            with self.db.write() as conn:
                self.db.create(conn, self.container, partition_key, doc)
        except DocumentExists:
            pass  # another writer created it first: it is there, which is all we need

    def _put(self, conn: sqlite3.Connection, partition_key: str, doc: Document, etag: str | None) -> None:
        if etag is None:
            self.db.create(conn, self.container, partition_key, doc)
        else:
            self.db.replace(conn, self.container, partition_key, doc, if_match=etag)

    def list_rows(self, *, before: str | None, limit: int) -> list[Document]:
        if before is None:
            rows = self.db.query(_ROWS_FIRST_PAGE, (self.container, limit))
        else:
            rows = self.db.query(_ROWS_BEFORE, (self.container, before, limit))
        return [json.loads(body) for (body,) in rows]

    def list_service_due(self, *, until: str, after: str | None, limit: int) -> list[Document]:
        rows = self.db.query(_SERVICE_DUE, (self.container, after or "", until, limit))
        return [json.loads(body) for (body,) in rows]

    def read_summary(self, rows: Sequence[tuple[str, str]]) -> ListSummary:
        with self.db.read() as conn:  # one snapshot: subtotals and rows agree with each other
            subtotals = [json.loads(body) for (body,) in conn.execute(_SUBTOTALS, (self.container,))]
            found: dict[str, Document] = {}
            for partition_key, car_id in rows:
                stored = self.db.get(conn, self.container, partition_key, car_id)
                if stored is not None:
                    found[car_id] = stored.doc
        return ListSummary(subtotals=subtotals, rows=found)

    def park(self, doc: Document) -> None:
        with self.db.write() as conn:
            self.db.upsert(conn, self.container, PARKED_PARTITION, doc)

    def list_parked(self, *, limit: int, projection: str | None = None) -> list[Document]:
        prefix = "" if projection is None else parked_id_prefix(projection)
        rows = self.db.query(
            "SELECT body FROM documents WHERE container = ? AND pk = ? AND substr(id, 1, ?) = ? "
            "ORDER BY json_extract(body, '$.parkedAt') DESC, id LIMIT ?",
            (self.container, PARKED_PARTITION, len(prefix), prefix, limit),
        )
        return [json.loads(body) for (body,) in rows]

    # --- for rebuilds ----------------------------------------------------------------------------

    def read_whole_shard(self, partition_key: str) -> ShardState:
        with self.db.read() as conn:  # one snapshot: the rows and the subtotal agree
            subtotal = self.db.get(conn, self.container, partition_key, SUBTOTAL_ID)
            rows = conn.execute(
                "SELECT body, seq FROM documents WHERE container = ? AND pk = ? AND id != ?",
                (self.container, partition_key, SUBTOTAL_ID),
            ).fetchall()
        found = {doc["id"]: VersionedDocument(doc, etag_for(seq)) for doc, seq in _parsed(rows)}
        return ShardState(rows=found, subtotal=subtotal)

    def read_parked(
        self, *, after: str | None, limit: int, projection: str | None = None
    ) -> list[VersionedDocument]:
        prefix = "" if projection is None else parked_id_prefix(projection)
        rows = self.db.query(
            "SELECT body, seq FROM documents WHERE container = ? AND pk = ? AND id > ? "
            "AND substr(id, 1, ?) = ? ORDER BY id LIMIT ?",
            (self.container, PARKED_PARTITION, after or "", len(prefix), prefix, limit),
        )
        return [VersionedDocument(doc, etag_for(seq)) for doc, seq in _parsed(rows)]

    def unpark(self, doc_id: str, etag: str) -> bool:
        try:
            with self.db.write() as conn:
                self.db.delete(conn, self.container, PARKED_PARTITION, doc_id, if_match=etag)
        except EtagMismatch:
            return False
        return True

    def read_parked_change(self, doc_id: str) -> VersionedDocument | None:
        return self.db.get(self.db.connection(), self.container, PARKED_PARTITION, doc_id)

    def count_parked(self, projection: str) -> int:
        prefix = parked_id_prefix(projection)
        rows = self.db.query(
            "SELECT count(*) FROM documents WHERE container = ? AND pk = ? AND id > ? AND id < ?",
            # One projection's ids share a prefix ending in ":"; ";" is the character after it.
            (self.container, PARKED_PARTITION, prefix, prefix[:-1] + ";"),
        )
        return int(rows[0][0])

    # --- for status ------------------------------------------------------------------------------

    def read_statuses(self, doc_ids: Sequence[str]) -> dict[str, VersionedDocument]:
        rows = self.db.query(
            "SELECT body, seq FROM documents WHERE container = ? AND pk = ? "
            "AND id IN (SELECT value FROM json_each(?))",
            (self.container, STATUS_PARTITION, json.dumps(list(doc_ids))),
        )
        return {doc["id"]: VersionedDocument(doc, etag_for(seq)) for doc, seq in _parsed(rows)}

    def write_status(self, doc: Document, etag: str | None) -> str:
        try:
            with self.db.write() as conn:
                if etag is None:
                    return self.db.create(conn, self.container, STATUS_PARTITION, doc)
                return self.db.replace(conn, self.container, STATUS_PARTITION, doc, if_match=etag)
        except (DocumentExists, EtagMismatch) as exc:
            raise ConcurrencyConflict(f"status {doc['id']} changed since it was read") from exc


def _parsed(rows: list[tuple[Any, ...]]) -> list[tuple[Document, int]]:
    return [(json.loads(body), seq) for body, seq in rows]
