"""Projectors scaled out: K car-list projector processes over one set of views, as leases share a feed.

In Azure the change-feed trigger scales out by leases: each instance owns some of
the `events` container's feed ranges and projects them concurrently with the
others, into the same shard partitions and subtotals. Here K separate processes
(K = 1, 2, 4, 8) each own a hash range of the cars, as a feed range holds a hash
range of partition keys, and apply their cars' change-feed documents in batches
of 100 through the app's `Projector`, all starting at one signal. A batch that
fails is applied again, as the Functions host redelivers it. At the end the views
are compared with a fold of every car: every run must be exact.

The Cosmos runs use a test server that holds every request for `LATENCY_MS`, to
imitate the network between a Functions instance and Cosmos DB (on loopback a
request costs well under a millisecond of waiting, and two cores would be the
only limit). SQLite runs share one database file, whose writes the file lock
takes one at a time: the embedded store is for one machine, and this shows it.

The same total work at every K, so events/s ÷ K=1's is the speed-up. Besides
it: conflicts per batch (on the subtotal, which the projector adds to and never
replaces, and on rows: only two writers of one car collide), round trips per
event (HTTP requests at the SDK transport; calls of the store ports on SQLite),
and redeliveries.

A second measurement takes one instance's batch latency with the shards written
one after another (`parallel=1`, the old way) and in parallel (the default).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event, Semaphore
from pathlib import Path
from typing import Any

from azure.cosmos import PartitionKey

from bench.context import Context
from bench.projector import COMMANDS
from bench.report import Figure, Section, Store
from bench.stores import PortCalls, app_client_options, cosmos_settings, sqlite_services, sqlite_settings
from cartracker.bootstrap import Services, bootstrap
from cartracker.documents import EVENT_DOC, head_from_document
from cartracker.domain.commands import AddCar
from cartracker.ports import Document
from cartracker.projection.car_list import (
    CAR_LIST,
    CarListRow,
    row_document,
    row_from_car,
    row_partition,
    subtotal_document,
)
from cartracker.projection.engine import PARALLEL_SHARD_WRITES, ProjectionFailed, Projector
from cartracker.settings import (
    DEFAULT_LIST_SHARDS,
    EVENTS_CONTAINER,
    SETTING_VIEWS_CONTAINER,
    VIEWS_PARTITION_KEY,
)
from tests.support.cosmos import CountingTransport, create_containers, make_client, start_cosmos_server
from tests.support.projection import Views, stored_views

INSTANCES = (1, 2, 4, 8)
BATCH = 100  # max_items_per_invocation of the change-feed function
LATENCY_MS = 40  # held on every Cosmos request: a network, where on loopback only CPU would count
MAX_DELIVERIES = 6  # the first delivery and the trigger's 5 retries
LATENCY_BATCHES = 10  # batches timed per mode for the one-instance latency


@dataclass(frozen=True)
class Job:
    """What one projector process is given: where the stores are, and its share of the feed."""

    store: Store
    batches: list[list[Document]]
    parallel: int = PARALLEL_SHARD_WRITES
    sqlite_path: str = ""
    endpoint: str = ""
    database: str = ""
    views_container: str = ""


@dataclass
class InstanceResult:
    events: int = 0
    batches: int = 0
    redeliveries: int = 0
    parked: int = 0
    row_conflicts: int = 0
    subtotal_conflicts: int = 0
    round_trips: int = 0
    started: float = 0.0
    finished: float = 0.0
    batch_seconds: list[float] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class Run:
    store: Store
    instances: int
    results: list[InstanceResult]
    exact: bool

    @property
    def events(self) -> int:
        return sum(r.events for r in self.results)

    @property
    def batches(self) -> int:
        return sum(r.batches for r in self.results)

    @property
    def seconds(self) -> float:
        return max(r.finished for r in self.results) - min(r.started for r in self.results)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    def per_batch(self, name: str) -> float:
        return float(sum(getattr(r, name) for r in self.results)) / self.batches

    def total(self, name: str) -> int:
        return int(sum(getattr(r, name) for r in self.results))

    def to_json(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "events": self.events,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "eventsPerSecond": round(self.events_per_second, 1),
            "subtotalConflictsPerBatch": round(self.per_batch("subtotal_conflicts"), 3),
            "rowConflictsPerBatch": round(self.per_batch("row_conflicts"), 3),
            "roundTripsPerEvent": round(self.total("round_trips") / self.events, 3),
            "redeliveries": self.total("redeliveries"),
            "parked": self.total("parked"),
            "exact": self.exact,
        }


def run(ctx: Context) -> Section:
    cars = 160 if ctx.quick else 800
    runs: list[Run] = []
    with start_cosmos_server(latency_ms=LATENCY_MS) as server:
        admin = make_client(server.endpoint, CountingTransport())
        cosmos = _cosmos_fleet(server.endpoint, admin, cars)
        for k in INSTANCES:
            runs.append(_run_cosmos(server.endpoint, admin, cosmos, k))
        latency = {
            mode: _batch_latency(server.endpoint, admin, cosmos, parallel)
            for mode, parallel in (("sequential", 1), ("parallel", PARALLEL_SHARD_WRITES))
        }
        admin.delete_database(cosmos.database)
        admin.close()
    for k in INSTANCES:
        runs.append(_run_sqlite(ctx.directory, cars, k))
    return _section(runs, latency, cars)


# --- the fleets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    database: str
    feed: list[Document]  # what the change feed delivers, in write order per car
    expected: Views  # the car list as a fold of every car


def _seed(services: Services, cars: int, *, threads: int) -> list[str]:
    """`cars` cars with 5 events each, added and serviced round-robin; the car ids."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        car_ids = list(
            pool.map(
                lambda _: services.commands.add_car(AddCar(make="Saab", model="900", owner="Ann")).car_id,
                range(cars),
            )
        )
        for command in COMMANDS:
            list(pool.map(lambda car_id, c=command: services.commands.execute(car_id, c), car_ids))
    return car_ids


def _expected(services: Services, car_ids: Sequence[str], *, threads: int) -> Views:
    """The car list of these cars from their heads (each the fold of the car's events)."""
    shards = services.settings.list_shards
    with ThreadPoolExecutor(max_workers=threads) as pool:
        heads = list(pool.map(services.events.read_head, car_ids))
    views: Views = {}
    for car_id, head in zip(car_ids, heads, strict=True):
        assert head is not None
        partition_key = row_partition(car_id, shards)
        views.setdefault(partition_key, {})[car_id] = row_document(_row_of_head(head.doc), partition_key)
    for partition_key, docs in views.items():
        rows = list(docs.values())
        docs["subtotal"] = subtotal_document(
            partition_key, sum(r["totalChargesCents"] for r in rows), len(rows)
        )
    return views


def _row_of_head(head: Document) -> CarListRow:
    """The car-list row of a car's head document, as the projector makes it from a head."""
    loaded = head_from_document(head, None)
    assert loaded is not None
    return row_from_car(loaded.car)


def _cosmos_fleet(endpoint: str, admin: Any, cars: int) -> Fleet:
    database = f"scale-{time.time_ns()}"
    create_containers(admin, database)
    services = _cosmos_services(endpoint, database, views_container="views")[0]
    car_ids = _seed(services, cars, threads=8)
    events = [doc for car_id in car_ids for doc in services.events.read_events(car_id)]
    heads = [head.doc for car_id in car_ids if (head := services.events.read_head(car_id)) is not None]
    # Per car, the feed delivers its events in order and its head at its last write.
    feed = sorted(events, key=lambda doc: int(doc["version"])) + heads
    return Fleet(database, feed, _expected(services, car_ids, threads=8))


def _cosmos_services(
    endpoint: str, database: str, *, views_container: str
) -> tuple[Services, CountingTransport]:
    transport = CountingTransport()
    client = make_client(endpoint, transport, **app_client_options())
    settings = cosmos_settings(endpoint, database, **{SETTING_VIEWS_CONTAINER: views_container})
    return bootstrap(settings, cosmos_client=client), transport


# --- one scale-out run -------------------------------------------------------------------------------


def _share(feed: Sequence[Document], instances: int) -> list[list[list[Document]]]:
    """Each instance's batches: the documents of the cars in its hash range, as a feed range holds."""
    shares: list[list[Document]] = [[] for _ in range(instances)]
    for doc in feed:
        digest = int(hashlib.sha256(doc["aggregateId"].encode()).hexdigest()[:8], 16)
        shares[digest * instances >> 32].append(doc)
    return [[share[at : at + BATCH] for at in range(0, len(share), BATCH)] for share in shares]


def _run_cosmos(endpoint: str, admin: Any, fleet: Fleet, instances: int) -> Run:
    container = _new_views_container(admin, fleet.database)
    jobs = [
        Job("cosmos", batches, endpoint=endpoint, database=fleet.database, views_container=container)
        for batches in _share(fleet.feed, instances)
    ]
    results = _in_processes(jobs)
    services = _cosmos_services(endpoint, fleet.database, views_container=container)[0]
    return Run("cosmos", instances, results, stored_views(services) == fleet.expected)


def _run_sqlite(directory: Path, cars: int, instances: int) -> Run:
    services = sqlite_services(directory, f"scale-k{instances}")
    car_ids = _seed(services, cars, threads=1)
    feed, _ = services.backend.read_changes(EVENTS_CONTAINER, after=0, limit=cars * 10)
    expected = _expected(services, car_ids, threads=1)
    path = services.settings.sqlite_path
    results = _in_processes([Job("sqlite", batches, sqlite_path=path) for batches in _share(feed, instances)])
    return Run("sqlite", instances, results, stored_views(services) == expected)


def _new_views_container(admin: Any, database: str) -> str:
    name = f"views-{time.time_ns()}"
    admin.get_database_client(database).create_container(
        name, partition_key=PartitionKey(path=VIEWS_PARTITION_KEY)
    )
    return name


def _in_processes(jobs: Sequence[Job]) -> list[InstanceResult]:
    """Run each job in a process of its own, released together once all are set up; their results."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that runs threads
    start, ready, results = context.Event(), context.Semaphore(0), context.Queue()
    processes = [
        context.Process(target=_instance, args=(index, job, ready, start, results), daemon=True)
        for index, job in enumerate(jobs)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            if not ready.acquire(timeout=120):
                raise RuntimeError("a projector instance did not get ready in 120 s")
        start.set()
        collected = dict(results.get(timeout=600) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    failed = [r.error for r in collected.values() if r.error]
    if failed:
        raise RuntimeError(f"a projector instance failed: {failed[0]}")
    return [collected[index] for index in range(len(jobs))]


def _instance(index: int, job: Job, ready: Semaphore, start: Event, results: Queue[Any]) -> None:
    """One projector process: set up, wait for the signal, apply every batch (redelivering failed ones)."""
    result = InstanceResult()
    try:
        try:
            projector, round_trips = _projector(job)
        finally:
            ready.release()
        start.wait()
        result.started = time.monotonic()
        before = round_trips()
        for batch in job.batches:
            batch_started = time.monotonic()
            _deliver(projector, batch, result)
            result.batch_seconds.append(time.monotonic() - batch_started)
            result.batches += 1
            result.events += sum(1 for doc in batch if doc.get("docType") == EVENT_DOC)
        result.finished = time.monotonic()
        result.round_trips = round_trips() - before
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        result.error = f"{type(exc).__name__}: {exc}"
    results.put((index, result))


def _deliver(projector: Projector[Any], batch: list[Document], result: InstanceResult) -> None:
    for attempt in range(MAX_DELIVERIES):
        last = attempt == MAX_DELIVERIES - 1
        try:
            report = projector.apply(batch, park_failures=last)
        except ProjectionFailed:
            result.redeliveries += 1
            continue
        result.row_conflicts += report.row_conflicts
        result.subtotal_conflicts += report.subtotal_conflicts
        result.parked += len(report.parked)
        return


def _projector(job: Job) -> tuple[Projector[Any], Callable[[], int]]:
    """The app's car-list projector for a job, and a count of its round trips so far."""
    if job.store == "cosmos":
        services, transport = _cosmos_services(
            job.endpoint, job.database, views_container=job.views_container
        )
        services.views.read_shard(CAR_LIST.partition(0), [])  # the SDK's container metadata, before counting
        services.events.read_head("warm-up")
        return _car_list(services, job.parallel), lambda: transport.count
    calls = PortCalls()
    counted = calls.counted(bootstrap(sqlite_settings(Path(job.sqlite_path))))
    return _car_list(counted, job.parallel), lambda: len(calls.kinds())


def _car_list(services: Services, parallel: int) -> Projector[Any]:
    return Projector(
        CAR_LIST,
        services.views,
        services.events,
        shards=services.settings.list_shards,
        clock=services.commands.clock,
        parallel=parallel,
    )


# --- one instance's batch latency -----------------------------------------------------------------


def _batch_latency(endpoint: str, admin: Any, fleet: Fleet, parallel: int) -> dict[str, float]:
    """Median batch latency and round trips per event of one instance on a fresh views container."""
    container = _new_views_container(admin, fleet.database)
    [batches] = _share(fleet.feed, 1)
    # The first batches: each adds 100 cars, spread over every shard.
    job = Job(
        "cosmos",
        batches[:LATENCY_BATCHES],
        parallel=parallel,
        endpoint=endpoint,
        database=fleet.database,
        views_container=container,
    )
    [result] = _in_processes([job])
    return {
        "medianBatchMs": statistics.median(result.batch_seconds) * 1000,
        "roundTripsPerEvent": result.round_trips / result.events,
        "batches": result.batches,
    }


# --- the section ---------------------------------------------------------------------------------


def _section(runs: list[Run], latency: dict[str, dict[str, float]], cars: int) -> Section:
    section = Section("Scale-out")
    by: dict[tuple[Store, int], Run] = {(r.store, r.instances): r for r in runs}
    for k in INSTANCES:
        section.add(
            Figure(
                f"scaleOut.speedup.k{k}",
                f"K={k} projectors: events/s ÷ K=1's",
                "x",
                {
                    store: by[store, k].events_per_second / by[store, 1].events_per_second
                    for store in ("sqlite", "cosmos")
                },
                digits=2,
                note=f"{cars} cars, 5 events each, {DEFAULT_LIST_SHARDS} shards, batches of {BATCH}; "
                f"Cosmos test server +{LATENCY_MS} ms per request",
                detail={store: by[store, k].to_json() for store in ("sqlite", "cosmos")},
            )
        )
    for key, label, name in (
        ("subtotalConflictsPerBatch", "conflicts on a subtotal per batch, K=8", "subtotal_conflicts"),
        ("rowConflictsPerBatch", "conflicts on a row per batch, K=8", "row_conflicts"),
    ):
        section.add(
            Figure(
                f"scaleOut.{key}.k8",
                label,
                "per batch",
                {store: by[store, 8].per_batch(name) for store in ("sqlite", "cosmos")},
                digits=2,
            )
        )
    section.add(
        Figure(
            "scaleOut.roundTripsPerEvent.k8",
            "round trips per event projected, K=8",
            "per event",
            {
                store: by[store, 8].total("round_trips") / by[store, 8].events
                for store in ("sqlite", "cosmos")
            },
            digits=3,
        )
    )
    sequential, parallel = latency["sequential"], latency["parallel"]
    section.add(
        Figure(
            "scaleOut.batchLatencyRatio",
            "one instance's batch latency, shards in parallel ÷ one after another",
            "x",
            {"cosmos": parallel["medianBatchMs"] / sequential["medianBatchMs"]},
            digits=2,
            note=f"median of {LATENCY_BATCHES} batches of {BATCH} documents, +{LATENCY_MS} ms per request",
            detail=latency,
        )
    )
    section.notes.append(_table(runs, latency))
    section.data["runs"] = [r.to_json() | {"store": r.store} for r in runs]
    return section


def _table(runs: list[Run], latency: dict[str, dict[str, float]]) -> str:
    lines = [
        f"Scale-out: K projector processes, the same {runs[0].events:,} events at every K, "
        f"{DEFAULT_LIST_SHARDS} shards, batches of {BATCH}; Cosmos test server +{LATENCY_MS} ms per request.",
        "| store | K | events/s | x K=1 | subtotal conflicts/batch | row conflicts/batch "
        "| round trips/event | redeliveries | exact |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    first = {r.store: r for r in runs if r.instances == 1}
    for r in runs:
        lines.append(
            f"| {r.store} | {r.instances} | {r.events_per_second:,.0f} "
            f"| {r.events_per_second / first[r.store].events_per_second:.2f} "
            f"| {r.per_batch('subtotal_conflicts'):.2f} | {r.per_batch('row_conflicts'):.2f} "
            f"| {r.total('round_trips') / r.events:.3f} | {r.total('redeliveries')} "
            f"| {'yes' if r.exact else 'NO'} |"
        )
    sequential, parallel = latency["sequential"], latency["parallel"]
    lines.append(
        f"One instance, +{LATENCY_MS} ms per request: a batch takes {sequential['medianBatchMs']:.0f} ms "
        f"with its shards written one after another and {parallel['medianBatchMs']:.0f} ms in parallel "
        f"({parallel['medianBatchMs'] / sequential['medianBatchMs']:.2f}x); round trips per event "
        f"{sequential['roundTripsPerEvent']:.3f} and {parallel['roundTripsPerEvent']:.3f}."
    )
    return "\n".join(lines)
