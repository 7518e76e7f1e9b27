"""Finding 4 of the adversarial review: the embedded store's own faults, through the function layer over a
real SQLite file. Each is a 503 with `Retry-After` and nothing written, health says so, and once the fault
is gone the same command succeeds with every earlier document intact.

Where this machine allows it the fault is the real one: a full tmpfs, an immutable file (`chattr +i`, which
stops even root). Where it does not (a CI runner without the capability) the same test makes SQLite itself
produce the fault: its page limit for a full disk, `query_only` for a read-only file. An I/O error on
demand is simulated by a connection that fails its COMMIT, the one seam the store offers for it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from cartracker.adapters.sqlite_db import SqliteDatabase
from cartracker.bootstrap import Services, use
from cartracker.errors import StoreUnavailable
from cartracker.functions.cars import get_car
from cartracker.functions.commands import add_car, change_oil
from cartracker.functions.system import health
from cartracker.settings import SETTING_SQLITE_PATH, SETTING_STORE
from tests.support.functions import body_of, call, installed, problem_of, sqlite_services

# Long names (50 four-byte letters each) make a new car's head larger than SQLite keeps inside a page, so
# adding one always needs a fresh (overflow) page: what a full disk, or SQLite's page limit, refuses.
LETTER = "\U00020000"  # a CJK ideograph outside the Basic Multilingual Plane: four bytes in UTF-8
BIG_CAR = {"make": LETTER * 50, "model": LETTER * 50, "owner": LETTER * 50}


# --- the store, and what it holds ----------------------------------------------------------------------


@dataclass
class Store:
    services: Services
    path: Path

    @property
    def db(self) -> SqliteDatabase:
        db: SqliteDatabase = self.services.backend
        return db

    def snapshot(self) -> list[tuple[Any, ...]]:
        """Every document and counter, as this process's connection sees the store."""
        conn = self.db.connection()
        docs = conn.execute("SELECT container, pk, id, body, seq FROM documents ORDER BY container, pk, id")
        counters = conn.execute("SELECT name, value FROM counters ORDER BY name")
        return [*docs.fetchall(), *counters.fetchall()]

    def add_car(self) -> func.HttpResponse:
        return call(add_car, "POST", "cars", json_body=BIG_CAR)

    def change_oil(self, car_id: str, mileage: int) -> func.HttpResponse:
        body = {"mileage": mileage, "charge": "9.99"}
        route = {"carId": car_id}
        return call(change_oil, "POST", f"cars/{car_id}/oil-changes", json_body=body, route_params=route)

    def fleet(self) -> list[str]:
        cars = []
        for n in range(3):
            answer = self.add_car()
            assert answer.status_code == 201, answer.get_body()
            car_id = body_of(answer)["carId"]
            assert self.change_oil(car_id, 1_000 * (n + 1)).status_code == 200
            cars.append(car_id)
        return cars


def open_store(path: Path) -> Iterator[Store]:
    services = sqlite_services(path)
    with installed(services):
        yield Store(services, path)
    services.backend.close()


def assert_refused(response: func.HttpResponse) -> dict[str, Any]:
    problem = problem_of(response, 503)
    assert problem["type"] == "urn:cartracker:problem:store-unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    return problem


def assert_unhealthy(*reasons: str) -> str:
    response = call(health, "GET", "health")
    problem = problem_of(response, 503)
    assert int(response.headers["Retry-After"]) >= 1
    detail: str = problem["detail"]
    assert any(reason in detail for reason in reasons), detail
    return detail


def assert_healthy() -> dict[str, Any]:
    response = call(health, "GET", "health")
    assert response.status_code == 200, response.get_body()
    answer: dict[str, Any] = body_of(response)
    assert answer["storeChecks"]["writable"] is True
    return answer


def assert_intact(store: Store, before: list[tuple[Any, ...]]) -> None:
    """Every event written before the fault is still there, unchanged, every car still has its head
    (which later commands move on), and the file is sound."""
    after = store.snapshot()
    events = {row for row in before if len(row) == 5 and not row[2].endswith(":head")}
    heads = {row[2] for row in before if len(row) == 5 and row[2].endswith(":head")}
    assert events
    assert heads
    assert events <= set(after)
    assert heads <= {row[2] for row in after if len(row) == 5}
    [(verdict,)] = store.db.connection().execute("PRAGMA integrity_check").fetchall()
    assert verdict == "ok"


# --- faults that come and go ------------------------------------------------------------------------------


class Fault:
    """Something that breaks the store while it serves, then mends; `where` is the directory the
    store must live in for it (a tmpfs for a real full disk)."""

    name = "fault"
    reasons: tuple[str, ...] = ()  # words health's reason contains while the fault lasts
    every_write_fails = True  # False: only writes that need fresh pages

    @contextmanager
    def where(self, tmp_path: Path) -> Iterator[Path]:
        yield tmp_path

    def inject(self, store: Store) -> None: ...

    def remove(self, store: Store) -> None: ...


class FullTmpfs(Fault):
    """The disk itself is full: a 4 MiB tmpfs filled to the last byte by another file."""

    name = "full disk (tmpfs)"
    reasons = ("full",)

    @contextmanager
    def where(self, tmp_path: Path) -> Iterator[Path]:
        disk = tmp_path / "disk"
        disk.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
        try:
            yield disk
        finally:
            subprocess.run(["umount", "-l", str(disk)], check=False)

    def inject(self, store: Store) -> None:
        with (store.path.parent / "filler").open("wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass  # ENOSPC: the disk is full

    def remove(self, store: Store) -> None:
        (store.path.parent / "filler").unlink()


class FullPageLimit(Fault):
    """SQLite's own size limit reached (`max_page_count`): the same SQLITE_FULL, on any machine."""

    name = "full disk (page limit)"
    reasons = ("full",)
    every_write_fails = False

    def inject(self, store: Store) -> None:
        conn = store.db.connection()
        conn.execute("VACUUM")  # no free pages left to reuse: a write that needs a page must grow the file
        [(pages,)] = conn.execute("PRAGMA page_count").fetchall()
        conn.execute(f"PRAGMA max_page_count = {pages}")

    def remove(self, store: Store) -> None:
        store.db.connection().execute("PRAGMA max_page_count = 4294967294")


class ReadOnlyImmutable(Fault):
    """The file and its WAL made immutable (`chattr +i`), which even root cannot write. Never the -shm:
    SQLite writes it through a memory map, and an immutable mapping kills the process with SIGBUS."""

    name = "read-only file (chattr +i)"
    reasons = ("read-only", "I/O error")

    def _files(self, store: Store) -> list[str]:
        return [str(store.path), f"{store.path}-wal"]

    def inject(self, store: Store) -> None:
        subprocess.run(["chattr", "+i", *self._files(store)], check=True)

    def remove(self, store: Store) -> None:
        subprocess.run(["chattr", "-i", *self._files(store)], check=True)


class ReadOnlyQueryOnly(Fault):
    """SQLite refusing every write on the connection (`PRAGMA query_only`): SQLITE_READONLY anywhere."""

    name = "read-only file (query_only)"
    reasons = ("read-only",)

    def inject(self, store: Store) -> None:
        store.db.connection().execute("PRAGMA query_only = 1")

    def remove(self, store: Store) -> None:
        store.db.connection().execute("PRAGMA query_only = 0")


class FailingConnection(sqlite3.Connection):
    """A connection whose COMMIT (and, if asked, ROLLBACK) fails with a disk I/O error, leaving the
    transaction open as SQLite may after a failed write of its log."""

    fail_commit = False
    fail_rollback = False

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if (sql == "COMMIT" and self.fail_commit) or (sql == "ROLLBACK" and self.fail_rollback):
            error = sqlite3.OperationalError("disk I/O error")
            error.sqlite_errorcode = sqlite3.SQLITE_IOERR_WRITE
            error.sqlite_errorname = "SQLITE_IOERR_WRITE"
            raise error
        return super().execute(sql, parameters)


class IoError(Fault):
    name = "I/O error at commit"
    reasons = ("I/O error",)
    rollback_fails = False

    def inject(self, store: Store) -> None:
        FailingConnection.fail_commit = True
        FailingConnection.fail_rollback = self.rollback_fails
        store.db.factory = FailingConnection
        store.db.close()  # this thread's next connection is a failing one

    def remove(self, store: Store) -> None:
        FailingConnection.fail_commit = FailingConnection.fail_rollback = False


class IoErrorRollbackFails(IoError):
    """The rollback after the failed commit fails too: the store drops that connection for a new one."""

    name = "I/O error at commit and rollback"
    rollback_fails = True


def _can(command: list[str]) -> bool:
    try:
        subprocess.run(command, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def tmpfs_works(tmp_path: Path) -> bool:
    """Whether this machine lets the tests mount a tmpfs (root with CAP_SYS_ADMIN), found by trying."""
    probe = tmp_path / "tmpfs-probe"
    probe.mkdir()
    works = _can(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)])
    if works:
        subprocess.run(["umount", str(probe)], check=False)
    probe.rmdir()
    return works


def chattr_works(tmp_path: Path) -> bool:
    """Whether `chattr +i` works here (CAP_LINUX_IMMUTABLE and a file system that has the flag)."""
    probe = tmp_path / "chattr-probe"
    probe.touch()
    works = _can(["chattr", "+i", str(probe)])
    if works:
        subprocess.run(["chattr", "-i", str(probe)], check=True)
    probe.unlink()
    return works


# The real fault where this machine can produce it, else SQLite's own version of it: never a skip.
FAULTS: dict[str, Callable[[Path], Fault]] = {
    "full-tmpfs": lambda tmp: FullTmpfs() if tmpfs_works(tmp) else FullPageLimit(),
    "full-page-limit": lambda tmp: FullPageLimit(),
    "read-only-immutable": lambda tmp: ReadOnlyImmutable() if chattr_works(tmp) else ReadOnlyQueryOnly(),
    "read-only-query-only": lambda tmp: ReadOnlyQueryOnly(),
    "io-error": lambda tmp: IoError(),
    "io-error-rollback-fails": lambda tmp: IoErrorRollbackFails(),
}


@pytest.fixture(params=list(FAULTS))
def fault(request: pytest.FixtureRequest, tmp_path: Path) -> Fault:
    return FAULTS[request.param](tmp_path)


@pytest.fixture
def faulty_store(fault: Fault, tmp_path: Path) -> Iterator[Store]:
    with fault.where(tmp_path) as directory:
        try:
            yield from open_store(directory / "store.sqlite3")
        finally:
            FailingConnection.fail_commit = FailingConnection.fail_rollback = False


def test_a_command_during_a_store_fault_is_503_writes_nothing_and_succeeds_once_the_fault_is_gone(
    fault: Fault, faulty_store: Store
) -> None:
    store = faulty_store
    cars = store.fleet()
    before = store.snapshot()

    fault.inject(store)
    try:
        assert_refused(store.add_car())
        if fault.every_write_fails:
            assert_refused(store.change_oil(cars[0], 50_000))
        assert store.snapshot() == before, "nothing was written"
        assert_unhealthy(*fault.reasons)
        assert_refused(store.add_car())  # the connection is still usable after the failed transaction
        assert store.snapshot() == before
    finally:
        fault.remove(store)

    answer = store.add_car()
    assert answer.status_code == 201, answer.get_body()
    assert store.change_oil(cars[0], 50_000).status_code == 200
    assert_intact(store, before)
    assert_healthy()


# --- a database file deleted, moved away or replaced under the running store --------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from open_store(tmp_path / "data" / "store.sqlite3")


def in_another_thread(function: Callable[[], func.HttpResponse]) -> func.HttpResponse:
    """A request served by a thread that has no connection yet, as a fresh worker of the host would."""
    answers: list[func.HttpResponse] = []
    worker = threading.Thread(target=lambda: answers.append(function()))
    worker.start()
    worker.join()
    [answer] = answers
    return answer


def read_car(car_id: str) -> func.HttpResponse:
    return call(get_car, "GET", f"cars/{car_id}", route_params={"carId": car_id})


def test_a_database_file_moved_away_is_503_and_no_new_database_appears_until_it_is_back(
    store: Store,
) -> None:
    cars = store.fleet()
    before = store.snapshot()
    away = store.path.with_name("elsewhere.sqlite3")

    store.path.rename(away)
    try:
        problem = assert_refused(store.add_car())
        assert "deleted or replaced" in problem["detail"]
        assert_refused(in_another_thread(lambda: read_car(cars[0])))
        assert "deleted or replaced" in assert_unhealthy("deleted or replaced")
        assert not store.path.exists(), "no new, empty database was created at the path"
        assert store.snapshot() == before
    finally:
        away.rename(store.path)

    assert store.add_car().status_code == 201
    assert in_another_thread(lambda: read_car(cars[0])).status_code == 200
    assert_intact(store, before)
    assert_healthy()


def test_a_deleted_database_file_is_503_and_what_the_server_held_is_saved_beside_it(store: Store) -> None:
    store.fleet()
    before = store.snapshot()

    store.path.unlink()
    problem = assert_refused(store.add_car())
    assert "deleted or replaced" in problem["detail"]
    assert_refused(in_another_thread(lambda: read_car("0e6f5d3c-0000-4000-8000-000000000000")))
    assert_unhealthy("deleted or replaced")
    assert not store.path.exists(), "no new, empty database was created at the path"
    assert store.snapshot() == before
    [rescued] = store.path.parent.glob("store.rescued-*.sqlite3")
    assert str(rescued.name) in problem["detail"]

    # What the docs tell the user: stop the server, and a restart refuses to start over an orphaned log.
    store.db.close()
    with pytest.raises(StoreUnavailable, match="write-ahead log"):
        sqlite_services(store.path)
    assert not store.path.exists()
    # Then put the copy in place of the deleted file, without the old file's -wal and -shm, and start.
    for leftover in (f"{store.path}-wal", f"{store.path}-shm"):
        Path(leftover).unlink(missing_ok=True)
    rescued.rename(store.path)
    for restarted in open_store(store.path):
        assert restarted.add_car().status_code == 201
        assert_intact(restarted, before)
        assert_healthy()


def test_a_database_file_replaced_by_another_is_503_until_the_original_is_put_back(store: Store) -> None:
    cars = store.fleet()
    before = store.snapshot()
    original = store.path.with_name("original.sqlite3")
    os.link(store.path, original)  # keep the original file, as a user who can undo the replacement would
    other = store.path.with_name("other.sqlite3")
    sqlite3.connect(other).execute("CREATE TABLE unrelated (x)").connection.close()
    unrelated = other.read_bytes()

    os.replace(other, store.path)
    try:
        assert "deleted or replaced" in assert_refused(store.add_car())["detail"]
        assert_refused(store.change_oil(cars[0], 9_000))
        assert_refused(in_another_thread(lambda: read_car(cars[0])))
        assert_unhealthy("deleted or replaced")
        assert store.snapshot() == before
        # Not opened to check: beside this server's live WAL another connection would read that WAL's
        # pages into the unrelated file (which is why the store refuses new connections to it).
        assert store.path.read_bytes() == unrelated, "the file put in its place was left alone"
    finally:
        os.replace(original, store.path)

    assert store.change_oil(cars[0], 9_000).status_code == 200
    assert_intact(store, before)
    assert_healthy()


@contextmanager
def unopenable_store(tmp_path: Path) -> Iterator[Path]:
    """A store SQLite cannot open: its directory immutable (no -wal or -shm can be created) where
    `chattr` works, else a directory where the file should be. Both are SQLITE_CANTOPEN."""
    directory = tmp_path / "data"
    directory.mkdir()
    path = directory / "store.sqlite3"
    sqlite_services(path).backend.close()  # a store that was fine, closed cleanly: no -wal left
    if chattr_works(tmp_path):
        subprocess.run(["chattr", "+i", str(directory)], check=True)
        try:
            yield path
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        path.unlink()
        path.mkdir()
        yield path


def test_a_store_that_cannot_be_opened_is_503_for_commands_and_health(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with unopenable_store(tmp_path) as path:
        monkeypatch.setenv(SETTING_STORE, "sqlite")
        monkeypatch.setenv(SETTING_SQLITE_PATH, str(path))
        use(None)  # the functions build their services from the environment, as in a fresh process
        try:
            assert (
                "cannot be opened"
                in assert_refused(call(add_car, "POST", "cars", json_body=BIG_CAR))["detail"]
            )
            assert_unhealthy("cannot be opened")
        finally:
            use(None)
        assert not Path(f"{path}-wal").exists()


def test_the_first_open_creates_the_file_and_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "store.sqlite3"
    for opened in open_store(path):
        assert opened.add_car().status_code == 201
    assert path.exists()


def test_a_rollback_after_a_failed_commit_leaves_the_connection_usable(store: Store) -> None:
    before = store.snapshot()
    FailingConnection.fail_commit = True
    store.db.factory = FailingConnection
    store.db.close()
    try:
        with pytest.raises(StoreUnavailable, match="I/O error"), store.db.write() as conn:
            conn.execute("INSERT INTO counters (name, value) VALUES ('probe', 1)")
        conn = store.db.connection()
        assert not conn.in_transaction
        FailingConnection.fail_commit = False
        with store.db.write() as conn:
            conn.execute("INSERT INTO counters (name, value) VALUES ('probe', 2)")
    finally:
        FailingConnection.fail_commit = False
    assert set(store.snapshot()) - set(before) == {("probe", 2)}


def test_the_change_feeds_checkpoint_is_refused_like_any_other_write(store: Store) -> None:
    """What killed the projector thread: a checkpoint that cannot be saved is a store error, not a crash."""
    ReadOnlyQueryOnly().inject(store)
    try:
        with pytest.raises(StoreUnavailable, match="read-only"):
            store.db.save_checkpoint("probe", 7)
    finally:
        ReadOnlyQueryOnly().remove(store)
    store.db.save_checkpoint("probe", 7)
    assert store.db.load_checkpoint("probe") == 7
