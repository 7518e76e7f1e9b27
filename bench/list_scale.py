"""Does a car-list page cost the same over 100,000 cars as over 1,000? (SQLite store)

    python -m bench.list_scale            # or: python bench/list_scale.py [--cars 1000 100000]

Fills a fresh SQLite file per size with car-list rows and shard subtotals (through
the real `SqliteViewStore`), then times `CarListQueries.page` -- the first page, a
page deep in the list (by continuation token), and a first page with 20 `after`
tokens -- and prints the median of several runs. Keyset pagination over an index
means no page reads more than pageSize + 1 rows plus the subtotals, so the
figures should stay flat as the list grows. Figures, not assertions: timings
depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cartracker.adapters.sqlite_db import SqliteDatabase
from cartracker.adapters.sqlite_events import SqliteEventStore
from cartracker.adapters.sqlite_views import SqliteViewStore
from cartracker.projection.car_list import CarListRow, row_document
from cartracker.projection.documents import row_partition, shard_partition, subtotal_document
from cartracker.projection.ports import MAX_ROWS_PER_WRITE, RowWrite
from cartracker.service.car_list import CarListQueries
from cartracker.settings import DEFAULT_LIST_SHARDS
from cartracker.tokens import consistency_token

SHARDS = DEFAULT_LIST_SHARDS
PAGE_SIZE = 50
RUNS = 30
START = datetime(2020, 1, 1, tzinfo=UTC)


def fill(views: SqliteViewStore, cars: int) -> list[str]:
    """Write `cars` rows, shard by shard in batches as the projector does; the car ids, oldest first."""
    rows: dict[str, list[RowWrite]] = {}
    car_ids = []
    for n in range(cars):
        car_id = str(uuid.uuid4())
        car_ids.append(car_id)
        row = CarListRow(car_id, 3, "Volvo", "V70", "Ann", START + timedelta(seconds=n), None, 1999)
        partition_key = row_partition(car_id, SHARDS)
        rows.setdefault(partition_key, []).append(RowWrite(row_document(row, partition_key), None))
    for shard in range(SHARDS):
        partition_key = shard_partition(shard)
        writes, etag, count = rows.get(partition_key, []), None, 0
        for at in range(0, len(writes), MAX_ROWS_PER_WRITE):
            chunk = writes[at : at + MAX_ROWS_PER_WRITE]
            count += len(chunk)
            subtotal_doc = subtotal_document(partition_key, count * 1999, count)
            views.write_shard(partition_key, chunk, subtotal_doc, subtotal_etag=etag)
            subtotal = views.read_shard(partition_key, []).subtotal
            etag = None if subtotal is None else subtotal.etag
    return car_ids


def median_ms(action: Callable[[], object]) -> float:
    action()  # warm the page cache
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def measure(cars: int, directory: Path) -> dict[str, float]:
    db = SqliteDatabase(directory / f"list-{cars}.sqlite3")
    views = SqliteViewStore(db)
    started = time.perf_counter()
    car_ids = fill(views, cars)
    print(f"  filled {cars:,} cars in {time.perf_counter() - started:.1f} s", flush=True)
    queries = CarListQueries(views, SqliteEventStore(db), shards=SHARDS)
    first = queries.page(page_size=PAGE_SIZE)
    assert first.car_count == cars, "every car is counted"
    assert len(first.items) == min(PAGE_SIZE, cars)
    # A token from the middle of the list, to resume deep inside it.
    middle = queries.page(page_size=PAGE_SIZE, continuation_token=first.continuation_token)
    for _ in range(min(20, cars // PAGE_SIZE // 2)):
        middle = queries.page(page_size=PAGE_SIZE, continuation_token=middle.continuation_token)
    deep_token = middle.continuation_token
    # Tokens the projection has caught up with: 20 row lookups, no head reads.
    tokens = [consistency_token(car_id, 3) for car_id in car_ids[: len(car_ids) : max(1, cars // 20)][:20]]
    return {
        "first page": median_ms(lambda: queries.page(page_size=PAGE_SIZE)),
        "deep page": median_ms(lambda: queries.page(page_size=PAGE_SIZE, continuation_token=deep_token)),
        "first page, 20 tokens": median_ms(lambda: queries.page(page_size=PAGE_SIZE, after=tokens)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cars", type=int, nargs="+", default=[1_000, 100_000])
    args = parser.parse_args(argv)
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        for cars in args.cars:
            print(f"{cars:,} cars:", flush=True)
            results[cars] = measure(cars, Path(directory))
    names = list(next(iter(results.values())))
    print(f"\nmedian of {RUNS} runs, pageSize {PAGE_SIZE}, {SHARDS} shards (ms)")
    print(f"{'':24}" + "".join(f"{cars:>14,}" for cars in results))
    for name in names:
        print(f"{name:24}" + "".join(f"{results[cars][name]:>14.2f}" for cars in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
