"""An embedded document database on SQLite, shaped like a Cosmos DB account.

One table holds every document of every container, keyed by (container,
partition key, id), with an etag per write and a `seq` taken from one
ever-increasing counter: that column is the change feed (a document sits at the
position of its last write, as in Cosmos's latest-version mode), and `ts` its
write time (the feed's `_ts`). `kind` is a copy of the body's `docType`, so that
partial indexes can pick documents by type without parsing the JSON of every
document written.

Concurrency: WAL journal, one connection per thread, and every write in a
`BEGIN IMMEDIATE` transaction, so writers serialize (across threads and
processes) and readers never block them. The seq counter is bumped inside the
write transaction, so positions become visible in order, with no gaps a reader
could skip over.

Faults (`sqlite_faults`): what SQLite reports about the store itself leaves this
module as `StoreUnavailable` (503 + Retry-After), and a failed transaction is
rolled back, so nothing is half-written. Only the first open may create the
file; every later connection opens it `mode=rw`, and each write checks (one
`stat`) that the path still names the file opened at start, so a deleted or
replaced file is refused instead of served from, or recreated empty.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic_core

from cartracker.adapters.sqlite_faults import (
    LOCKED,
    FileGuard,
    os_errors,
    refuse_orphaned_log,
    sqlite_errors,
)
from cartracker.errors import StoreUnavailable
from cartracker.ports import Document, VersionedDocument

_log = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 30.0
# Health calls the disk full below this much free space: a command needs a few pages of log.
MIN_FREE_BYTES = 1024 * 1024
# Health's probe write waits this long for the lock, not a command's 30 s.
CHECK_TIMEOUT_SECONDS = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    container TEXT NOT NULL,
    pk TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT,
    ts REAL,
    PRIMARY KEY (container, pk, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_by_seq ON documents (container, seq);
CREATE INDEX IF NOT EXISTS documents_heads ON documents (container, pk) WHERE substr(id, -5) = ':head';
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('seq', 0);
CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at TEXT NOT NULL);
"""


class DocumentExists(Exception):
    pass


class EtagMismatch(Exception):
    pass


def etag_for(seq: int) -> str:
    return f'"{seq}"'


@dataclass(frozen=True)
class StoreCheck:
    """What `SqliteDatabase.check()` found, when it found nothing wrong."""

    free_bytes: int | None  # on the disk holding the file; None for an in-memory database


class SqliteDatabase:
    """Thread-safe access to the embedded store; one instance per process and file.

    `factory` is the connection class, for tests that need a fault SQLite cannot be made to
    produce on demand (an I/O error): a subclass takes effect on a thread's next connection.
    """

    def __init__(self, path: str | Path, *, factory: type[sqlite3.Connection] = sqlite3.Connection) -> None:
        # Absolute, so that the file checks below mean the same file whatever the working directory.
        self.path = str(path) if str(path) == ":memory:" else str(Path(path).absolute())
        self.factory = factory
        self._local = threading.local()
        # Threads of one process queue here for the write lock instead of in SQLite's busy
        # handler, which polls with growing sleeps: under fifty concurrent writers some waited
        # seconds. Other processes still meet at SQLite's lock (busy_timeout).
        self._writer = threading.RLock()
        self._guard: FileGuard | None = None  # the file opened at start; None in memory
        self._uri: str | None = None
        if self.path != ":memory:":
            self._open_first()
        self.execute_script(_SCHEMA)
        self._add_kind_column()
        self._add_ts_column()

    def _open_first(self) -> None:
        """The one open that may create the file (and its directory); every later one may not."""
        path = Path(self.path)
        with os_errors(self.path):
            path.parent.mkdir(parents=True, exist_ok=True)
        refuse_orphaned_log(self.path)
        self._uri = path.as_uri()
        with sqlite_errors():
            self._local.conn = self._configure(
                sqlite3.connect(
                    f"{self._uri}?mode=rwc",
                    uri=True,
                    timeout=BUSY_TIMEOUT_SECONDS,
                    isolation_level=None,
                    check_same_thread=False,
                    factory=self.factory,
                )
            )
        self._guard = FileGuard(self.path)

    def _add_kind_column(self) -> None:
        """Bring a file written by an earlier version up to date: it has no `kind` column yet."""
        with self.write() as conn:  # under the write lock: another process may be doing the same
            columns = {row[1] for row in conn.execute("PRAGMA table_info(documents)")}
            if "kind" not in columns:
                conn.execute("ALTER TABLE documents ADD COLUMN kind TEXT")
                conn.execute("UPDATE documents SET kind = json_extract(body, '$.docType')")

    def _add_ts_column(self) -> None:
        """Give a file of an earlier version the write-time column; its old documents keep NULL."""
        with self.write() as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(documents)")}
            if "ts" not in columns:
                conn.execute("ALTER TABLE documents ADD COLUMN ts REAL")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (never creating the file)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            target = self.path
            if self._uri is not None:
                self._check_file()
                target = f"{self._uri}?mode=rw"  # a vanished file is SQLITE_CANTOPEN, not a new database
            with sqlite_errors():
                conn = self._configure(
                    sqlite3.connect(
                        target,
                        uri=self._uri is not None,
                        timeout=BUSY_TIMEOUT_SECONDS,
                        isolation_level=None,
                        check_same_thread=False,
                        factory=self.factory,
                    )
                )
            self._local.conn = conn
        return conn

    @staticmethod
    def _configure(conn: sqlite3.Connection) -> sqlite3.Connection:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across application crashes; a power loss may drop the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def write(self, *, timeout: float = BUSY_TIMEOUT_SECONDS) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction; everything inside commits or nothing does.

        Refused (`StoreUnavailable`, nothing written) when the file was deleted or replaced, when
        the lock stays taken for `timeout` seconds, and when SQLite cannot write: the transaction
        is rolled back and the connection stays usable.
        """
        with sqlite_errors():
            conn = self.connection()
            if not self._writer.acquire(timeout=timeout):
                raise StoreUnavailable(LOCKED)
            try:
                self._check_file(conn)
                if timeout == BUSY_TIMEOUT_SECONDS:
                    conn.execute("BEGIN IMMEDIATE")
                else:
                    self._begin_immediate(conn, timeout)
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    self._roll_back(conn)
                    raise
            finally:
                self._writer.release()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        with sqlite_errors():
            conn = self.connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                self._end_read(conn)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of one read statement on this thread's connection, in a snapshot of its own;
        SQLite's faults come out as `StoreUnavailable` (see `sqlite_errors`)."""
        with sqlite_errors():
            rows: list[tuple[Any, ...]] = self.connection().execute(sql, params).fetchall()
        return rows

    def execute_script(self, script: str) -> None:
        """Run idempotent DDL (`CREATE ... IF NOT EXISTS`), as the store and its adapters set up."""
        with sqlite_errors(), self._writer:
            self._check_file()
            self.connection().executescript(script)

    @staticmethod
    def _begin_immediate(conn: sqlite3.Connection, timeout: float) -> None:
        """BEGIN IMMEDIATE, waiting `timeout` seconds for another process's lock instead of 30."""
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")

    def _roll_back(self, conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:
            return  # SQLite rolled it back itself, as it does after SQLITE_FULL at COMMIT
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            _log.warning("rollback failed; this thread opens a new connection", exc_info=True)
            self._discard(conn)

    def _end_read(self, conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            _log.warning("ending a read failed; this thread opens a new connection", exc_info=True)
            self._discard(conn)

    def _discard(self, conn: sqlite3.Connection) -> None:
        """Drop a connection that cannot end its transaction; closing it rolls the transaction back."""
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        try:
            conn.close()
        except sqlite3.Error:
            _log.warning("closing a broken connection failed", exc_info=True)

    def _check_file(self, conn: sqlite3.Connection | None = None) -> None:
        """Refuse to go on when the path no longer names the file opened at start (one `stat`)."""
        if self._guard is not None:
            self._guard.check(conn)

    # --- health ------------------------------------------------------------------------------------

    def check(self) -> StoreCheck:
        """Prove the store can write, cheaply: the file is the one opened, a one-row write commits,
        SQLite's page limit is not reached and the disk has room. Raises `StoreUnavailable`."""
        if self._guard is not None:
            for name in (self.path, f"{self.path}-wal"):
                if os.path.exists(name) and not os.access(name, os.W_OK):
                    raise StoreUnavailable(
                        f"{name} is read-only; nothing can be written", retry_after_seconds=30
                    )
        with self.write(timeout=CHECK_TIMEOUT_SECONDS) as conn:
            conn.execute(
                "INSERT INTO health (id, checked_at) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                (datetime.now(UTC).isoformat(),),
            )
            [(pages, limit, free_pages)] = conn.execute(
                "SELECT * FROM pragma_page_count(), pragma_max_page_count(), pragma_freelist_count()"
            ).fetchall()
        if pages >= limit and not free_pages:
            raise StoreUnavailable(
                f"the embedded store is full: it reached SQLite's page limit ({limit} pages)",
                retry_after_seconds=30,
            )
        if self._guard is None:
            return StoreCheck(free_bytes=None)
        with os_errors(self.path):
            free = shutil.disk_usage(Path(self.path).parent).free
        if free < MIN_FREE_BYTES:
            raise StoreUnavailable(
                f"the disk holding {self.path} is full ({free} bytes free)", retry_after_seconds=30
            )
        return StoreCheck(free_bytes=free)

    # --- document operations, for use inside write()/read(), which map their errors ---------

    @staticmethod
    def next_seq(conn: sqlite3.Connection, count: int = 1) -> int:
        """Reserve `count` change-feed positions; returns the first."""
        # Two statements, not one UPDATE ... RETURNING: that form costs several times as much here.
        conn.execute("UPDATE counters SET value = value + ? WHERE name = 'seq'", (count,))
        row = conn.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
        return int(row[0]) - count + 1

    @staticmethod
    def get(conn: sqlite3.Connection, container: str, pk: str, doc_id: str) -> VersionedDocument | None:
        with sqlite_errors():
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
                "INSERT INTO documents (container, pk, id, body, seq, kind, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (container, pk, doc["id"], _dump(doc), seq, doc.get("docType"), time.time()),
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
        sql = (
            "UPDATE documents SET body = ?, seq = ?, kind = ?, ts = ? "
            "WHERE container = ? AND pk = ? AND id = ?"
        )
        args: tuple[Any, ...] = (_dump(doc), seq, doc.get("docType"), time.time(), container, pk, doc["id"])
        if if_match is not None:
            sql += " AND seq = ?"
            args += (_seq_of(if_match),)
        if conn.execute(sql, args).rowcount != 1:
            raise EtagMismatch(doc["id"])
        return etag_for(seq)

    def upsert(self, conn: sqlite3.Connection, container: str, pk: str, doc: Document) -> str:
        seq = self.next_seq(conn)
        conn.execute(
            "INSERT INTO documents (container, pk, id, body, seq, kind, ts) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (container, pk, id) DO UPDATE "
            "SET body = excluded.body, seq = excluded.seq, kind = excluded.kind, ts = excluded.ts",
            (container, pk, doc["id"], _dump(doc), seq, doc.get("docType"), time.time()),
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
        rows = self.query(
            "SELECT body, seq, ts FROM documents WHERE container = ? AND seq > ? ORDER BY seq LIMIT ?",
            (container, after, limit),
        )
        docs = [_with_system_fields(json.loads(body), seq, ts) for body, seq, ts in rows]
        return docs, (rows[-1][1] if rows else after)

    def newest_change(self, container: str) -> tuple[int, float | None] | None:
        """The change-feed position and write time of the container's newest change; None when empty."""
        rows = self.query(
            "SELECT seq, ts FROM documents WHERE container = ? ORDER BY seq DESC LIMIT 1", (container,)
        )
        return (int(rows[0][0]), rows[0][1]) if rows else None

    def changes_after(self, container: str, position: int) -> int:
        """How many of the container's documents the change feed would deliver after `position`."""
        rows = self.query(
            "SELECT count(*) FROM documents WHERE container = ? AND seq > ?", (container, position)
        )
        return int(rows[0][0])

    def load_checkpoint(self, name: str) -> int:
        rows = self.query("SELECT position FROM checkpoints WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else 0

    def save_checkpoint(self, name: str, position: int) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO checkpoints (name, position) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                (name, position),
            )

    def close(self) -> None:
        """Close this thread's connection (the next use opens another)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with sqlite_errors():
                conn.close()


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


def _with_system_fields(doc: Document, seq: int, ts: float | None) -> Document:
    # The change feed hands documents over with their etag, position and write time, as Cosmos does
    # (_etag, _lsn, _ts). This `_ts` keeps sub-second precision (Cosmos's is whole seconds).
    doc["_etag"] = etag_for(seq)
    doc["_lsn"] = seq
    if ts is not None:
        doc["_ts"] = ts
    return doc
