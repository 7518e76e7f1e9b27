"""What can go wrong under the embedded store, mapped once: SQLite's own faults and a vanished file.

`sqlite_errors()` turns what SQLite reports about the store itself (busy, full,
read-only, an I/O error, a file it cannot open or that is not a database) into
`StoreUnavailable` (503 + Retry-After). `FileGuard` remembers which file was
opened at start and refuses to go on, with one `stat`, once the path names
another file or none; the first time, it saves what the process still holds.
docs/reliability-local.md says what each fault looks like and what to do.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from cartracker.errors import StoreUnavailable

_log = logging.getLogger(__name__)

LOCKED = "the embedded store stayed locked by another writer; try again"
# By primary result code: what the client is told, and when to come back. Anything else (a
# constraint, a syntax error, a missing table) is a bug or a foreign file, and stays an error.
_FAULTS: dict[int, tuple[str, int]] = {
    sqlite3.SQLITE_BUSY: (LOCKED, 1),
    sqlite3.SQLITE_LOCKED: (LOCKED, 1),
    sqlite3.SQLITE_PROTOCOL: (LOCKED, 1),
    sqlite3.SQLITE_NOMEM: ("the embedded store ran out of memory", 5),
    sqlite3.SQLITE_FULL: ("the disk holding the embedded store is full; nothing was written", 30),
    sqlite3.SQLITE_READONLY: ("the embedded store's database is read-only; nothing was written", 30),
    sqlite3.SQLITE_IOERR: ("the embedded store's disk reported an I/O error; nothing was written", 30),
    sqlite3.SQLITE_CANTOPEN: ("the embedded store's database file cannot be opened", 30),
    sqlite3.SQLITE_CORRUPT: ("the embedded store's database file is damaged", 30),
    sqlite3.SQLITE_NOTADB: ("the embedded store's file is not a database", 30),
}


class _SqliteErrors:
    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not isinstance(error, sqlite3.DatabaseError):
            return
        code: int | None = getattr(error, "sqlite_errorcode", None)
        fault = None if code is None else _FAULTS.get(code & 0xFF)
        if fault is None:
            return
        message, retry_after = fault
        name = getattr(error, "sqlite_errorname", None) or "SQLite error"
        raise StoreUnavailable(f"{message} ({name})", retry_after_seconds=retry_after) from error


_SQLITE_ERRORS = _SqliteErrors()


def sqlite_errors() -> _SqliteErrors:
    """Map SQLite's faults of the store itself to `StoreUnavailable`; let everything else through.

        with sqlite_errors():
            rows = conn.execute(...).fetchall()

    Busy and locked (another writer held the lock past the busy timeout), full, read-only, an
    I/O error, a file that cannot be opened, is damaged or is not a database: each becomes a 503
    with its reason and SQLite's error name. It is a shared stateless object, cheap enough for
    the hottest path.
    """
    return _SQLITE_ERRORS


@contextmanager
def os_errors(path: str) -> Iterator[None]:
    """An operating-system failure around the store's file (a directory we cannot create) as a 503."""
    try:
        yield
    except OSError as exc:
        raise StoreUnavailable(
            f"the embedded store at {path} is not usable: {exc}", retry_after_seconds=30
        ) from exc


class FileGuard:
    """The database file opened at start, by (st_dev, st_ino); `check` refuses any other."""

    def __init__(self, path: str) -> None:
        self.path = path
        found = os.stat(path)
        self._identity = (found.st_dev, found.st_ino)
        self._rescued: Path | None = None  # where what this process held was saved, once gone

    def check(self, conn: sqlite3.Connection | None = None) -> None:
        """Raise `StoreUnavailable` unless the path still names the file opened at start."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreUnavailable(f"the database file {self.path} cannot be examined: {exc}") from exc
        else:
            if (found.st_dev, found.st_ino) == self._identity:
                self._rescued = None
                return
        raise StoreUnavailable(self._gone(conn), retry_after_seconds=30)

    def _gone(self, conn: sqlite3.Connection | None) -> str:
        name = Path(self.path).name
        message = (
            f"the database file {self.path} was deleted or replaced while the server ran; nothing is "
            "written until that file is back or the server is restarted"
        )
        if conn is not None and self._rescued is None:
            self._rescued = self._rescue(conn)
        if self._rescued is not None:
            message += (
                f". Everything the server held is saved in {self._rescued.name}. To go on: stop the "
                f"server, delete {name}-wal and {name}-shm (they belong to the old file), put the file "
                f"you want at {name} (that copy, to keep what the server held) and start it again"
            )
        return message

    def _rescue(self, conn: sqlite3.Connection) -> Path | None:
        """Copy what this connection still sees (the unlinked file and its log) beside the path.

        A deleted file lives on while this process holds it open; once the server stops, it and
        the commits only in its log are gone. The copy is a self-contained database file.
        """
        original = Path(self.path)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = original.with_name(f"{original.stem}.rescued-{stamp}{original.suffix}")
        try:
            copy = sqlite3.connect(target)
            try:
                conn.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
            finally:
                copy.close()
        except (sqlite3.Error, OSError):
            _log.exception("could not save a copy of the vanished database %s", self.path)
            return None
        _log.error(
            "the database file %s vanished under the server; its contents are saved in %s", self.path, target
        )
        return target


def refuse_orphaned_log(path: str) -> None:
    """Refuse to open a missing database whose write-ahead log is still there.

    SQLite would replay that log into a new, empty file: the log of a deleted database.
    """
    wal = Path(f"{path}-wal")
    if not Path(path).exists() and wal.exists() and wal.stat().st_size > 0:
        raise StoreUnavailable(
            f"the database file {path} is missing but its write-ahead log {wal.name} is there: "
            "the file was deleted while a server used it. Put the database back (or the "
            ".rescued copy a server saved), or delete the -wal and -shm files to start empty",
            retry_after_seconds=30,
        )
