"""An embedded document database on SQLite, shaped like a Cosmos DB account.

One table holds every document of every container, keyed by (container,
partition key, id), with an etag per write and a `seq` taken from one
ever-increasing counter: that column is the change feed (a document sits at the
position of its last write, as in Cosmos's latest-version mode). `kind` is a
copy of the body's `docType`, so that partial indexes can pick documents by
type without parsing the JSON of every document written.

Concurrency: WAL journal, one connection per thread, and every write in a
`BEGIN IMMEDIATE` transaction, so writers serialize (across threads and
processes) and readers never block them. The seq counter is bumped inside the
write transaction, so positions become visible in order, with no gaps a reader
could skip over.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydantic_core

from cartracker.errors import StoreUnavailable
from cartracker.ports import Document, VersionedDocument

BUSY_TIMEOUT_SECONDS = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    container TEXT NOT NULL,
    pk TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT,
    PRIMARY KEY (container, pk, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_by_seq ON documents (container, seq);
CREATE INDEX IF NOT EXISTS documents_heads ON documents (container, pk) WHERE substr(id, -5) = ':head';
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('seq', 0);
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
"""


class DocumentExists(Exception):
    pass


class EtagMismatch(Exception):
    pass


def etag_for(seq: int) -> str:
    return f'"{seq}"'


class SqliteDatabase:
    """Thread-safe access to the embedded store; one instance per process and file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # Threads of one process queue here for the write lock instead of in SQLite's busy
        # handler, which polls with growing sleeps: under fifty concurrent writers some waited
        # seconds. Other processes still meet at SQLite's lock (busy_timeout).
        self._writer = threading.RLock()
        self.connection().executescript(_SCHEMA)
        self._add_kind_column()

    def _add_kind_column(self) -> None:
        """Bring a file written by an earlier version up to date: it has no `kind` column yet."""
        with self.write() as conn:  # under the write lock: another process may be doing the same
            columns = {row[1] for row in conn.execute("PRAGMA table_info(documents)")}
            if "kind" not in columns:
                conn.execute("ALTER TABLE documents ADD COLUMN kind TEXT")
                conn.execute("UPDATE documents SET kind = json_extract(body, '$.docType')")

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across application crashes; a power loss may drop the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction; everything inside commits or nothing does."""
        conn = self.connection()
        if not self._writer.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise StoreUnavailable("the embedded store stayed locked by another writer; try again")
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                # Another writer (a rebuild, a second host) held the lock for the whole busy
                # timeout: the store is busy, not broken, and nothing was written.
                raise StoreUnavailable(
                    "the embedded store stayed locked by another writer; try again"
                ) from exc
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            self._writer.release()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # --- document operations, for use inside write()/read() -------------------------------

    @staticmethod
    def next_seq(conn: sqlite3.Connection, count: int = 1) -> int:
        """Reserve `count` change-feed positions; returns the first."""
        # Two statements, not one UPDATE ... RETURNING: that form costs several times as much here.
        conn.execute("UPDATE counters SET value = value + ? WHERE name = 'seq'", (count,))
        row = conn.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
        return int(row[0]) - count + 1

    @staticmethod
    def get(conn: sqlite3.Connection, container: str, pk: str, doc_id: str) -> VersionedDocument | None:
        row = conn.execute(
            "SELECT body, seq FROM documents WHERE container = ? AND pk = ? AND id = ?",
            (container, pk, doc_id),
        ).fetchone()
        if row is None:
            return None
        return VersionedDocument(doc=json.loads(row[0]), etag=etag_for(row[1]))

    def create(
        self, conn: sqlite3.Connection, container: str, pk: str, doc: Document, *, seq: int | None = None
    ) -> str:
        seq = self.next_seq(conn) if seq is None else seq
        try:
            conn.execute(
                "INSERT INTO documents (container, pk, id, body, seq, kind) VALUES (?, ?, ?, ?, ?, ?)",
                (container, pk, doc["id"], _dump(doc), seq, doc.get("docType")),
            )
        except sqlite3.IntegrityError as exc:
            raise DocumentExists(doc["id"]) from exc
        return etag_for(seq)

    def replace(
        self,
        conn: sqlite3.Connection,
        container: str,
        pk: str,
        doc: Document,
        *,
        if_match: str | None,
        seq: int | None = None,
    ) -> str:
        seq = self.next_seq(conn) if seq is None else seq
        sql = "UPDATE documents SET body = ?, seq = ?, kind = ? WHERE container = ? AND pk = ? AND id = ?"
        args: tuple[Any, ...] = (_dump(doc), seq, doc.get("docType"), container, pk, doc["id"])
        if if_match is not None:
            sql += " AND seq = ?"
            args += (_seq_of(if_match),)
        if conn.execute(sql, args).rowcount != 1:
            raise EtagMismatch(doc["id"])
        return etag_for(seq)

    def upsert(self, conn: sqlite3.Connection, container: str, pk: str, doc: Document) -> str:
        seq = self.next_seq(conn)
        conn.execute(
            "INSERT INTO documents (container, pk, id, body, seq, kind) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (container, pk, id) DO UPDATE "
            "SET body = excluded.body, seq = excluded.seq, kind = excluded.kind",
            (container, pk, doc["id"], _dump(doc), seq, doc.get("docType")),
        )
        return etag_for(seq)

    @staticmethod
    def delete(
        conn: sqlite3.Connection, container: str, pk: str, doc_id: str, *, if_match: str | None
    ) -> None:
        sql = "DELETE FROM documents WHERE container = ? AND pk = ? AND id = ?"
        args: tuple[Any, ...] = (container, pk, doc_id)
        if if_match is not None:
            sql += " AND seq = ?"
            args += (_seq_of(if_match),)
        if conn.execute(sql, args).rowcount != 1:
            raise EtagMismatch(doc_id)

    # --- change feed ---------------------------------------------------------------------------

    def read_changes(self, container: str, *, after: int, limit: int) -> tuple[list[Document], int]:
        rows = (
            self.connection()
            .execute(
                "SELECT body, seq FROM documents WHERE container = ? AND seq > ? ORDER BY seq LIMIT ?",
                (container, after, limit),
            )
            .fetchall()
        )
        docs = [_with_system_fields(json.loads(body), seq) for body, seq in rows]
        return docs, (rows[-1][1] if rows else after)

    def load_checkpoint(self, name: str) -> int:
        row = self.connection().execute("SELECT position FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def save_checkpoint(self, name: str, position: int) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO checkpoints (name, position) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                (name, position),
            )

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


# What Cosmos adds to a document and ignores when one is written back; the store does likewise.
SYSTEM_FIELDS = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"})


def _dump(doc: Document) -> str:
    if not SYSTEM_FIELDS.isdisjoint(doc):  # a document as read back, being written again
        doc = {k: v for k, v in doc.items() if k not in SYSTEM_FIELDS}
    # Compact JSON, as json.dumps writes it but with non-ASCII text as UTF-8, at a third of the cost.
    return pydantic_core.to_json(doc).decode()


def _seq_of(etag: str) -> int:
    try:
        return int(etag.strip('"'))
    except ValueError:
        return -1


def _with_system_fields(doc: Document, seq: int) -> Document:
    # The change feed hands documents over with their etag and position, as Cosmos does (_etag, _lsn).
    doc["_etag"] = etag_for(seq)
    doc["_lsn"] = seq
    return doc
