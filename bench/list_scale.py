"""Does a car-list page cost the same over 100,000 cars as over 1,000?

    python -m bench.list_scale            # or: python bench/list_scale.py [--cars 1000 100000]

Fills a store with car-list rows and shard subtotals -- the documents the
projector writes -- then times `CarListQueries.page`: the first page, a page
deep in the list (by continuation token), and a first page with 20 `after`
tokens, each the median of several runs. Keyset pagination over an index means
no page reads more than pageSize + 1 rows plus the subtotals, so the figures
should stay flat as the list grows. Figures, not assertions: timings depend on
the machine. `python -m bench.run` runs this on SQLite (growing one file through
each size) and on the Cosmos test server.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.context import Context
from bench.report import Figure, Section, Store, Target
from bench.stores import cosmos_database
from cartracker.adapters.sqlite_db import SqliteDatabase
from cartracker.adapters.sqlite_events import SqliteEventStore
from cartracker.adapters.sqlite_views import SqliteViewStore
from cartracker.ports import Document
from cartracker.projection.car_list import CarListRow, row_document, row_partition, subtotal_document
from cartracker.projection.documents import SUBTOTAL_ID, as_int
from cartracker.projection.ports import MAX_ROWS_PER_WRITE, RowWrite, ViewStore
from cartracker.service.car_list import CarListQueries
from cartracker.settings import DEFAULT_LIST_SHARDS
from cartracker.tokens import consistency_token

SHARDS = DEFAULT_LIST_SHARDS
PAGE_SIZE = 50
RUNS = 30
COSMOS_RUNS = 10  # the test server scans every document per query: slower, and steadier
START = datetime(2020, 1, 1, tzinfo=UTC)
CHARGE_CENTS = 1999


def new_rows(cars: int, *, first: int = 0) -> dict[str, list[Document]]:
    """Row documents for `cars` new cars, by shard; car number n was added n seconds after START."""
    rows: dict[str, list[Document]] = {}
    for n in range(first, first + cars):
        car_id = str(uuid.uuid4())
        row = CarListRow(car_id, 3, "Volvo", "V70", "Ann", START + timedelta(seconds=n), None, CHARGE_CENTS)
        partition_key = row_partition(car_id, SHARDS)
        rows.setdefault(partition_key, []).append(row_document(row, partition_key))
    return rows


def fill(views: ViewStore, cars: int, *, first: int = 0, threads: int = 1) -> list[str]:
    """Add `cars` rows through the port, in batches per shard as the projector writes them; the car ids.

    Works on any store (the Cosmos test server included); shards are independent, so `threads`
    of them can be written at once.
    """
    rows = new_rows(cars, first=first)

    def write(partition_key: str) -> None:
        for at in range(0, len(rows[partition_key]), MAX_ROWS_PER_WRITE):
            chunk = rows[partition_key][at : at + MAX_ROWS_PER_WRITE]
            subtotal = views.read_shard(partition_key, []).subtotal
            cents, count = (0, 0) if subtotal is None else _totals(subtotal.doc)
            views.write_shard(
                partition_key,
                [RowWrite(doc, None) for doc in chunk],
                subtotal_document(partition_key, cents + len(chunk) * CHARGE_CENTS, count + len(chunk)),
                subtotal_etag=None if subtotal is None else subtotal.etag,
            )

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, sorted(rows)))
    return [doc["id"] for shard in rows.values() for doc in shard]


def bulk_fill(views: SqliteViewStore, cars: int, *, first: int = 0) -> list[str]:
    """The same documents as `fill`, in one SQLite transaction: 100,000 cars in seconds, not a minute.

    Seeding only: it writes through `SqliteDatabase` directly, skipping the per-shard batches
    (and their etag checks) that make the projector safe under concurrency.
    """
    rows = new_rows(cars, first=first)
    db, container = views.db, views.container
    with db.write() as conn:
        seq = db.next_seq(conn, cars + len(rows))
        for partition_key in sorted(rows):
            for doc in rows[partition_key]:
                db.create(conn, container, partition_key, doc, seq=seq)
                seq += 1
            stored = db.get(conn, container, partition_key, SUBTOTAL_ID)
            cents, count = (0, 0) if stored is None else _totals(stored.doc)
            added = len(rows[partition_key])
            subtotal = subtotal_document(partition_key, cents + added * CHARGE_CENTS, count + added)
            if stored is None:
                db.create(conn, container, partition_key, subtotal, seq=seq)
            else:
                db.replace(conn, container, partition_key, subtotal, if_match=stored.etag, seq=seq)
            seq += 1
    return [doc["id"] for shard in rows.values() for doc in shard]


def _totals(subtotal: Document) -> tuple[int, int]:
    return as_int(subtotal["totalChargesCents"]), as_int(subtotal["carCount"])


def median_ms(action: Callable[[], object], runs: int = RUNS) -> float:
    action()  # warm the caches
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def time_pages(queries: CarListQueries, car_ids: Sequence[str], *, runs: int = RUNS) -> dict[str, float]:
    """Median milliseconds of a first page, a deep page and a first page with 20 caught-up tokens."""
    cars = len(car_ids)
    first = queries.page(page_size=PAGE_SIZE)
    assert first.car_count == cars, f"every car is counted: {first.car_count} != {cars}"
    assert len(first.items) == min(PAGE_SIZE, cars)
    # A token from the middle of the list, to resume deep inside it.
    middle = first
    for _ in range(min(20, cars // PAGE_SIZE // 2)):
        middle = queries.page(page_size=PAGE_SIZE, continuation_token=middle.continuation_token)
    deep_token = middle.continuation_token
    # Tokens the projection has caught up with: 20 row lookups, no head reads.
    tokens = [consistency_token(car_id, 3) for car_id in car_ids[:: max(1, cars // 20)][:20]]
    return {
        "first page": median_ms(lambda: queries.page(page_size=PAGE_SIZE), runs),
        "deep page": median_ms(
            lambda: queries.page(page_size=PAGE_SIZE, continuation_token=deep_token), runs
        ),
        "first page, 20 tokens": median_ms(lambda: queries.page(page_size=PAGE_SIZE, after=tokens), runs),
    }


def grow_and_time(
    queries: CarListQueries, add: Callable[[int, int], list[str]], sizes: Sequence[int], *, runs: int = RUNS
) -> dict[int, dict[str, float]]:
    """Grow one list through `sizes` (ascending) with `add(cars, first)`, timing pages at each size."""
    car_ids: list[str] = []
    results: dict[int, dict[str, float]] = {}
    for size in sizes:
        started = time.perf_counter()
        car_ids += add(size - len(car_ids), len(car_ids))
        print(f"  {size:,} cars (filled in {time.perf_counter() - started:.1f} s)", flush=True)
        results[size] = time_pages(queries, car_ids, runs=runs)
    return results


def sqlite_pages(directory: Path, sizes: Sequence[int], *, runs: int = RUNS) -> dict[int, dict[str, float]]:
    db = SqliteDatabase(directory / f"list-{uuid.uuid4().hex[:8]}.sqlite3")
    views = SqliteViewStore(db)
    queries = CarListQueries(views, SqliteEventStore(db), shards=SHARDS)
    return grow_and_time(queries, lambda cars, first: bulk_fill(views, cars, first=first), sizes, runs=runs)


def run(ctx: Context) -> Section:
    """The bench section: first-page latency as the list grows, on SQLite and on the Cosmos test server."""
    sqlite_sizes, cosmos_sizes = ctx.scale.list_sizes, ctx.scale.cosmos_list_sizes
    timed: dict[Store, dict[int, dict[str, float]]] = {"sqlite": sqlite_pages(ctx.directory, sqlite_sizes)}
    with cosmos_database(ctx.cosmos_server) as cosmos:
        views = cosmos.services.views
        timed["cosmos"] = grow_and_time(
            cosmos.services.car_list,
            lambda cars, first: fill(views, cars, first=first, threads=4),
            cosmos_sizes,
            runs=COSMOS_RUNS,
        )
    section = Section("Car list: page latency as the list grows")
    for size in sorted({*sqlite_sizes, *cosmos_sizes}):
        section.add(
            Figure(
                f"listPage.{size}",
                f"first page of {PAGE_SIZE}, {size:,} cars",
                "ms",
                {store: t[size]["first page"] for store, t in timed.items() if size in t},
                digits=2,
                note="median; CarListQueries.page, without the JSON response",
                detail={store: t[size] for store, t in timed.items() if size in t},
            )
        )
    small, large = sqlite_sizes[0], sqlite_sizes[-1]
    section.add(
        Figure(
            "listPage.growth",
            f"first page at {large:,} / at {small:,} cars",
            "ratio",
            {"sqlite": timed["sqlite"][large]["first page"] / timed["sqlite"][small]["first page"]},
            target=Target("<=", 1.5, "≤ 1.5 on SQLite", binds=("sqlite",)),
            digits=2,
        )
    )
    return section


def measure(cars: int, directory: Path) -> dict[str, float]:
    """The page timings over a fresh SQLite list of `cars` cars."""
    return sqlite_pages(directory, [cars])[cars]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cars", type=int, nargs="+", default=[1_000, 100_000])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        results = sqlite_pages(Path(directory), sorted(args.cars))
    names = list(next(iter(results.values())))
    print(f"\nmedian of {RUNS} runs, pageSize {PAGE_SIZE}, {SHARDS} shards (ms)")
    print(f"{'':24}" + "".join(f"{cars:>14,}" for cars in results))
    for name in names:
        print(f"{name:24}" + "".join(f"{results[cars][name]:>14.2f}" for cars in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
