"""The embedded store under several processes at once: the local host and a CLI can share one file."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from cartracker.bootstrap import bootstrap
from cartracker.documents import stored_event_from_document
from cartracker.domain.car import fold
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.errors import ConcurrencyConflict
from tests.conftest import sqlite_settings

PROCESSES, COMMANDS = 3, 15


def _writer(path: str, car_id: str, results: multiprocessing.Queue[int | None]) -> None:
    services = bootstrap(sqlite_settings(Path(path)))
    for _ in range(COMMANDS):
        try:
            results.put(services.commands.execute(car_id, ChangeOil(mileage=0, charge="0.01")).version)
        except ConcurrencyConflict:
            results.put(None)


def test_writers_in_separate_processes_never_lose_or_duplicate_an_event(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    services = bootstrap(sqlite_settings(path))
    car_id = services.commands.add_car(AddCar(make="Volvo", model="V70", owner="Alice")).car_id
    context = multiprocessing.get_context("spawn")  # no SQLite handle may cross a fork
    results: multiprocessing.Queue[int | None] = context.Queue()
    workers = [context.Process(target=_writer, args=(str(path), car_id, results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in range(PROCESSES * COMMANDS)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    wins = sorted(v for v in outcomes if v is not None)
    assert wins == list(range(2, 2 + len(wins)))
    docs = services.events.read_events(car_id, limit=1000)
    assert [d["version"] for d in docs] == list(range(1, 2 + len(wins)))
    car = fold(None, (stored_event_from_document(d).event for d in docs), car_id=car_id)
    assert car == services.queries.car(car_id)
    assert car is not None
    assert car.total_charges_cents == len(wins)
