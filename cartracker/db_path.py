"""The `--db` of `python -m cartracker`: checked before the embedded store opens it.

A path the store cannot use ends the command with one line that names the path
and says what to do, never with a traceback: a directory given as the file, a
parent that is a file or cannot be written, a file that is not a SQLite
database or is read-only, a missing database whose write-ahead log is still
there. Whatever else the store refuses while it opens the file (a damaged one,
say) comes out the same way, from its `StoreUnavailable`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cartracker.errors import StoreUnavailable

# The first 16 bytes of every SQLite database file; an empty file is an empty database too.
SQLITE_HEADER = b"SQLite format 3\x00"
_WRITE_IN_DIR = os.W_OK | os.X_OK


class UnusableDb(Exception):
    """`--db` names a path the embedded store cannot use; the message is one line: the path, then the fix."""


def check(path: str, *, create: bool = True) -> None:
    """Raise `UnusableDb` unless the store can open `path` for writing (creating it if `create`)."""
    db = Path(path)
    if db.is_dir():
        raise UnusableDb(
            f"{path} is a directory: pass --db a file in it, e.g. --db {db / 'cartracker.sqlite3'}"
        )
    wal = Path(f"{path}-wal")
    if not db.exists():
        if wal.exists() and wal.stat().st_size > 0:
            raise UnusableDb(
                f"{path} is missing but its write-ahead log {wal.name} is still there (the database was "
                f"deleted while a server used it): put the database back (or a .rescued copy of it), or "
                f"delete {wal.name} and {db.name}-shm to start empty"
            )
        if not create:
            raise UnusableDb(f"no database at {path}: pass --db the file `serve` and `demo` use")
        _check_can_create(db, path)
        return
    _check_is_database(db, path)
    for name in (db, wal, Path(f"{path}-shm")):
        if name.exists() and not os.access(name, os.W_OK):
            raise UnusableDb(
                f"{name} is read-only: make it writable (chmod u+w {name}) or pass --db another file"
            )
    if not os.access(db.parent, _WRITE_IN_DIR):
        raise UnusableDb(
            f"cannot write in {db.parent}, where SQLite keeps {db.name}-wal and {db.name}-shm beside the "
            "database: make that directory writable, or pass --db a file in one that is"
        )


@contextmanager
def opening(path: str, *, create: bool = True) -> Iterator[None]:
    """Check `path`, then report a `StoreUnavailable` raised while the store opens it as `UnusableDb`."""
    check(path, create=create)
    try:
        yield
    except StoreUnavailable as exc:
        raise UnusableDb(f"cannot open {path}: {exc.message}: pass --db another file") from exc


def _check_can_create(db: Path, path: str) -> None:
    """The store creates the file and any missing directories above it: the nearest one that exists
    must be a directory this process may write in."""
    existing = db.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UnusableDb(
            f"cannot create {path}: {existing} is a file, not a directory: pass --db a path under a directory"
        )
    if not os.access(existing, _WRITE_IN_DIR):
        raise UnusableDb(
            f"cannot create {path}: the directory {existing} is not writable: pass --db a path in a "
            "directory you can write, e.g. --db .data/cartracker.sqlite3"
        )


def _check_is_database(db: Path, path: str) -> None:
    if not db.is_file():
        raise UnusableDb(f"{path} is not a regular file: pass --db a SQLite database file")
    try:
        with db.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise UnusableDb(
            f"cannot read {path} ({exc.strerror}): fix its permissions or pass --db another file"
        ) from exc
    if header and header != SQLITE_HEADER:
        raise UnusableDb(
            f"{path} is not a SQLite database: pass --db another file, or move this one out of the way"
        )
