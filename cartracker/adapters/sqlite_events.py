"""The `EventStore` port on the embedded SQLite database."""

from __future__ import annotations

import json
from collections.abc import Sequence

from cartracker.adapters.sqlite_db import DocumentExists, EtagMismatch, SqliteDatabase
from cartracker.documents import EVENT_DOC, head_id
from cartracker.errors import ConcurrencyConflict
from cartracker.ports import Document, VersionedDocument
from cartracker.settings import EVENTS_CONTAINER


class SqliteEventStore:
    def __init__(self, db: SqliteDatabase, container: str = EVENTS_CONTAINER) -> None:
        self.db = db
        self.container = container

    def read_head(self, car_id: str) -> VersionedDocument | None:
        return self.db.get(self.db.connection(), self.container, car_id, head_id(car_id))

    def append(
        self, car_id: str, events: Sequence[Document], head: Document, *, head_etag: str | None
    ) -> str:
        try:
            with self.db.write() as conn:
                seq = self.db.next_seq(conn, len(events) + 1)
                for event in events:
                    self.db.create(conn, self.container, car_id, event, seq=seq)
                    seq += 1
                if head_etag is None:
                    return self.db.create(conn, self.container, car_id, head, seq=seq)
                return self.db.replace(conn, self.container, car_id, head, if_match=head_etag, seq=seq)
        except (DocumentExists, EtagMismatch) as exc:
            raise ConcurrencyConflict(f"car {car_id} was changed by another writer") from exc

    def read_events(self, car_id: str, *, after_version: int = 0, limit: int = 100) -> list[Document]:
        rows = (
            self.db.connection()
            .execute(
                "SELECT body FROM documents WHERE container = ? AND pk = ? AND id > ? AND id < ? "
                "ORDER BY id LIMIT ?",
                # Event ids sort by version ("{carId}:{version:010d}"); the head id sorts after them.
                (self.container, car_id, f"{car_id}:{after_version:010d}", f"{car_id}:a", limit),
            )
            .fetchall()
        )
        docs = [json.loads(body) for (body,) in rows]
        return [d for d in docs if d.get("docType") == EVENT_DOC]

    def read_heads(self, *, limit: int, continuation: str | None = None) -> tuple[list[Document], str | None]:
        rows = (
            self.db.connection()
            .execute(
                "SELECT pk, body FROM documents WHERE container = ? AND substr(id, -5) = ':head' AND pk > ? "
                "ORDER BY pk LIMIT ?",
                (self.container, continuation or "", limit),
            )
            .fetchall()
        )
        docs = [json.loads(body) for _, body in rows]
        return docs, (rows[-1][0] if len(rows) == limit else None)
