"""The `EventStore` port on the embedded SQLite database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence

from cartracker.adapters.sqlite_db import DocumentExists, EtagMismatch, SqliteDatabase
from cartracker.documents import EVENT_DOC, head_id
from cartracker.errors import ConcurrencyConflict
from cartracker.ports import Document, FeedMark, VersionedDocument
from cartracker.settings import EVENTS_CONTAINER

# Expired idempotency records are swept at most this often (Cosmos deletes them by `ttl`).
SWEEP_INTERVAL_SECONDS = 3600.0

# The sweep's index: only idempotency records enter it, so events and heads pay nothing for it.
_RECORD_INDEX = (
    "CREATE INDEX IF NOT EXISTS documents_expiring "
    "ON documents (container, json_extract(body, '$.expiresAt')) WHERE kind = 'idempotency'"
)
_DELETE_EXPIRED = (
    "DELETE FROM documents WHERE container = ? AND kind = 'idempotency' "
    "AND json_extract(body, '$.expiresAt') <= ?"
)


class SqliteEventStore:
    def __init__(
        self,
        db: SqliteDatabase,
        container: str = EVENTS_CONTAINER,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.container = container
        self.clock = clock  # seconds since the epoch, the command service's clock
        self._next_sweep: float | None = None
        self._sweep_lock = threading.Lock()
        db.execute_script(_RECORD_INDEX)

    def read_head(self, car_id: str) -> VersionedDocument | None:
        return self.db.get(self.db.connection(), self.container, car_id, head_id(car_id))

    def read_record(self, car_id: str, record_id: str) -> Document | None:
        found = self.db.get(self.db.connection(), self.container, car_id, record_id)
        return None if found is None else found.doc

    def append(
        self,
        car_id: str,
        events: Sequence[Document],
        head: Document,
        *,
        head_etag: str | None,
        record: Document | None = None,
    ) -> str:
        try:
            with self.db.write() as conn:
                seq = self.db.next_seq(conn, len(events) + 1 + (record is not None))
                for event in events:
                    self.db.create(conn, self.container, car_id, event, seq=seq)
                    seq += 1
                if head_etag is None:
                    etag = self.db.create(conn, self.container, car_id, head, seq=seq)
                else:
                    etag = self.db.replace(conn, self.container, car_id, head, if_match=head_etag, seq=seq)
                if record is not None:
                    # An expired record the sweep has not reached yet must not block its key's reuse.
                    conn.execute(
                        _DELETE_EXPIRED + " AND pk = ? AND id = ?",
                        (self.container, self.clock(), car_id, record["id"]),
                    )
                    self.db.create(conn, self.container, car_id, record, seq=seq + 1)
        except (DocumentExists, EtagMismatch) as exc:
            on_record = record is not None and isinstance(exc, DocumentExists) and exc.args[0] == record["id"]
            raise ConcurrencyConflict(
                f"car {car_id} was changed by another writer", record_exists=on_record
            ) from exc
        if record is not None:
            self._sweep_now_and_then()
        return etag

    def purge_expired_records(self) -> int:
        """Delete every idempotency record past its retention; the number deleted."""
        with self.db.write() as conn:
            return conn.execute(_DELETE_EXPIRED, (self.container, self.clock())).rowcount

    def _sweep_now_and_then(self) -> None:
        now = self.clock()
        with self._sweep_lock:
            if self._next_sweep is not None and now < self._next_sweep:
                return
            self._next_sweep = now + SWEEP_INTERVAL_SECONDS
        self.purge_expired_records()

    def read_events(self, car_id: str, *, after_version: int = 0, limit: int = 100) -> list[Document]:
        rows = self.db.query(
            "SELECT body FROM documents WHERE container = ? AND pk = ? AND id > ? AND id < ? "
            "ORDER BY id LIMIT ?",
            # Event ids sort by version ("{carId}:{version:010d}"); the head id sorts after them.
            (self.container, car_id, f"{car_id}:{after_version:010d}", f"{car_id}:a", limit),
        )
        docs = [json.loads(body) for (body,) in rows]
        return [d for d in docs if d.get("docType") == EVENT_DOC]

    def read_heads(self, *, limit: int, continuation: str | None = None) -> tuple[list[Document], str | None]:
        rows = self.db.query(
            "SELECT pk, body FROM documents WHERE container = ? AND substr(id, -5) = ':head' AND pk > ? "
            "ORDER BY pk LIMIT ?",
            (self.container, continuation or "", limit),
        )
        docs = [json.loads(body) for _, body in rows]
        return docs, (rows[-1][0] if len(rows) == limit else None)

    # --- its change feed, for projection status (cartracker.projection.status) ---------------

    def newest_change(self) -> FeedMark | None:
        newest = self.db.newest_change(self.container)
        return None if newest is None else FeedMark(ts=newest[1], position=newest[0])

    def pending_changes(self, after: int | None) -> int | None:
        # Exact: the documents the feed still delivers (latest-version: one per document), counted
        # over the (container, seq) index from the projection's position on.
        return self.db.changes_after(self.container, after or 0)
