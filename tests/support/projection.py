"""A small world for projection tests: the real SQLite stores, the real command service, and the
change feed as a log that tests deliver to projectors however they like (batched, repeated,
replayed, out of order, dropped).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cartracker.adapters.sqlite_db import SqliteDatabase
from cartracker.bootstrap import Services, bootstrap
from cartracker.documents import stored_event_from_document
from cartracker.domain.car import fold
from cartracker.domain.commands import AddCar, Command
from cartracker.errors import DomainError
from cartracker.heads import fold_history
from cartracker.ports import Document
from cartracker.projection.car_list import (
    CAR_LIST,
    CarListRow,
    row_document,
    row_from_car,
    row_partition,
    shard_partition,
    subtotal_document,
)
from cartracker.projection.documents import without_system_fields
from cartracker.projection.engine import AnyProjector, Projector
from cartracker.projection.ports import RowWrite, ViewStore
from cartracker.projection.spec import AnyProjection
from cartracker.settings import (
    EVENTS_CONTAINER,
    SETTING_LIST_SHARDS,
    SETTING_SQLITE_PATH,
    SETTING_STORE,
    Settings,
)

START = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


class SteppingClock:
    """A clock that moves on by a chosen number of microseconds per reading (0 makes ties)."""

    def __init__(self, steps: Sequence[int] = (1_000,)) -> None:
        self._steps = itertools.cycle(steps)
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=next(self._steps))
        return self.now


@dataclass
class World:
    services: Services
    log: list[Document] = field(default_factory=list)
    position: int = 0

    @classmethod
    def create(cls, directory: Path, *, shards: int, clock: Callable[[], datetime] | None = None) -> World:
        settings = Settings.from_env(
            {
                SETTING_STORE: "sqlite",
                SETTING_SQLITE_PATH: str(directory / "world.sqlite3"),
                SETTING_LIST_SHARDS: str(shards),
            }
        )
        return cls(bootstrap(settings, clock=clock or SteppingClock()))

    @property
    def db(self) -> SqliteDatabase:
        db: SqliteDatabase = self.services.backend
        return db

    @property
    def shards(self) -> int:
        return self.services.settings.list_shards

    def add_car(self, make: str = "Volvo", model: str = "V70", owner: str = "Ann") -> str:
        car_id = self.services.commands.add_car(AddCar(make=make, model=model, owner=owner)).car_id
        self.capture()
        return car_id

    def run(self, car_id: str, command: Command) -> bool:
        """Run a command; False when the car's rules refused it (no events)."""
        try:
            self.services.commands.execute(car_id, command)
        except DomainError:
            return False
        self.capture()
        return True

    def capture(self) -> list[Document]:
        """What a change-feed reader polling now would receive; appended to the log."""
        docs, self.position = self.db.read_changes(EVENTS_CONTAINER, after=self.position, limit=1_000_000)
        self.log.extend(docs)
        return docs

    def projector(
        self, views: ViewStore | None = None, projection: AnyProjection = CAR_LIST, *, parallel: int = 8
    ) -> AnyProjector:
        s = self.services
        return Projector(
            projection,
            views or s.views,
            s.events,
            shards=self.shards,
            clock=SteppingClock(),
            parallel=parallel,
        )

    def car_ids(self) -> list[str]:
        """Every car in the event store (whether or not the log saw it)."""
        rows = self.db.connection().execute(
            "SELECT DISTINCT pk FROM documents WHERE container = ?", (EVENTS_CONTAINER,)
        )
        return sorted(pk for (pk,) in rows)

    def expected_rows(self) -> dict[str, CarListRow]:
        """The car list as a from-scratch fold of every car's events."""
        rows = {}
        for car_id in self.car_ids():
            events = [
                stored_event_from_document(d).event
                for d in self.services.events.read_events(car_id, limit=10_000)
            ]
            car = fold(None, events, car_id=car_id)
            assert car is not None
            rows[car_id] = row_from_car(car)
        return rows

    def assert_consistent(self) -> None:
        """At any moment: every row is the car's true fold at the row's version (behind, never wrong),
        and every shard's subtotal is exactly the sum of its rows."""
        rows = self.actual_rows()
        for doc in rows:
            car_id = doc["carId"]
            docs = self.services.events.read_events(car_id, limit=doc["version"])
            car = fold(None, (stored_event_from_document(d).event for d in docs), car_id=car_id)
            assert car is not None
            assert doc == row_document(row_from_car(car), doc["partitionKey"])
        sums: dict[str, tuple[int, int]] = {}
        for doc in rows:
            cents, count = sums.get(doc["partitionKey"], (0, 0))
            sums[doc["partitionKey"]] = (cents + doc["totalChargesCents"], count + 1)
        actual = {
            s["partitionKey"]: (s["totalChargesCents"], s["carCount"])
            for s in self.services.views.read_summary([]).subtotals
        }
        assert actual == sums

    def actual_rows(self) -> list[Document]:
        return [without_system_fields(d) for d in self.services.views.list_rows(before=None, limit=1_000_000)]

    def assert_exact(self) -> None:
        """Rows and every shard's subtotal equal the from-scratch fold, to the cent."""
        expected = self.expected_rows()
        wanted = sorted(
            (row_document(row, row_partition(row.car_id, self.shards)) for row in expected.values()),
            key=lambda d: d["listKey"],
            reverse=True,
        )
        assert self.actual_rows() == wanted
        subtotals: dict[str, tuple[int, int]] = {}
        for row in expected.values():
            cents, count = subtotals.get(row_partition(row.car_id, self.shards), (0, 0))
            subtotals[row_partition(row.car_id, self.shards)] = (cents + row.total_charges_cents, count + 1)
        actual = {
            s["partitionKey"]: (s["totalChargesCents"], s["carCount"])
            for s in self.services.views.read_summary([]).subtotals
        }
        assert actual == subtotals


class InterleavingViews:
    """A `ViewStore` that runs a hook just before its next shard write: another projector instance
    then writes in the window between this one's read and its write, deterministically."""

    def __init__(self, inner: ViewStore) -> None:
        self.inner = inner
        self.before_next_write: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def write_shard(self, partition_key: str, rows: Sequence[RowWrite], *args: Any, **kwargs: Any) -> None:
        hook, self.before_next_write = self.before_next_write, None
        if hook is not None:
            hook()
        self.inner.write_shard(partition_key, rows, *args, **kwargs)


Views = dict[str, dict[str, Document]]  # partition key -> document id -> document


def views_from_scratch(services: Services, car_ids: Sequence[str]) -> Views:
    """The car list of these cars as a fold of their events, with no projector involved."""
    shards = services.settings.list_shards
    views: Views = {}
    for car_id in car_ids:
        car = fold_history(services.events, car_id)
        assert car is not None
        partition_key = row_partition(car_id, shards)
        views.setdefault(partition_key, {})[car_id] = row_document(row_from_car(car), partition_key)
    for partition_key, rows in views.items():
        cents = sum(row["totalChargesCents"] for row in rows.values())
        rows["subtotal"] = subtotal_document(partition_key, cents, len(rows))
    return views


def stored_views(services: Services) -> Views:
    """What the views hold, shard by shard, without system fields (a shard at zero counts as empty)."""
    views: Views = {}
    for shard in range(services.settings.list_shards):
        partition_key = shard_partition(shard)
        state = services.views.read_whole_shard(partition_key)
        docs = {car_id: without_system_fields(row.doc) for car_id, row in state.rows.items()}
        if state.subtotal is not None:
            docs["subtotal"] = without_system_fields(state.subtotal.doc)
        if docs and docs != {"subtotal": subtotal_document(partition_key, 0, 0)}:
            views[partition_key] = docs
    return views


# --- any registered projection ----------------------------------------------------------------------


def projection_from_scratch(services: Services, projection: AnyProjection, car_ids: Sequence[str]) -> Views:
    """A projection's views of these cars as a fold of each car's events through the projection's own
    `evolve`, with no projector involved; each row also equals the row of the folded car (its head),
    which gap healing and rebuilds rely on."""
    shards = services.settings.list_shards
    views: Views = {}
    for car_id in car_ids:
        row = None
        for doc in services.events.read_events(car_id, limit=10_000):
            row = projection.evolve(row, stored_event_from_document(doc).event, car_id)
        assert row is not None
        car = fold_history(services.events, car_id)
        assert car is not None
        partition_key = projection.partition_of(car_id, shards)
        document = projection.to_document(row, partition_key)
        assert document == projection.to_document(projection.from_car(car), partition_key)
        views.setdefault(partition_key, {})[car_id] = document
    if projection.subtotal is not None:
        for partition_key, rows in views.items():
            totals = projection.subtotal.of_rows(rows.values())
            rows["subtotal"] = projection.subtotal.document(partition_key, totals)
    return views


def projection_stored(services: Services, projection: AnyProjection) -> Views:
    """What a projection's shards hold, without system fields (a shard whose subtotal is all zero and
    that has no rows counts as empty)."""
    views: Views = {}
    for shard in range(services.settings.list_shards):
        partition_key = projection.partition(shard)
        state = services.views.read_whole_shard(partition_key)
        docs = {car_id: without_system_fields(row.doc) for car_id, row in state.rows.items()}
        if state.subtotal is not None:
            docs["subtotal"] = without_system_fields(state.subtotal.doc)
        empty = None if projection.subtotal is None else projection.subtotal.document(partition_key, {})
        if docs and docs != {"subtotal": empty}:
            views[partition_key] = docs
    return views


def assert_projection_consistent(services: Services, projection: AnyProjection) -> None:
    """At any moment: every row is its car's true fold at the row's version (behind, never wrong),
    and every shard's subtotal is exactly the sum of its rows."""
    for partition_key, docs in projection_stored(services, projection).items():
        rows = {car_id: doc for car_id, doc in docs.items() if car_id != "subtotal"}
        for car_id, doc in rows.items():
            events = services.events.read_events(car_id, limit=int(doc["version"]))
            car = fold(None, (stored_event_from_document(d).event for d in events), car_id=car_id)
            assert car is not None
            assert doc == projection.to_document(projection.from_car(car), partition_key)
        if projection.subtotal is not None:
            assert docs.get("subtotal") == projection.subtotal.document(
                partition_key, projection.subtotal.of_rows(rows.values())
            )
