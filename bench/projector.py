"""Projector throughput: change-feed events per second into the car list, in batches of 100 documents.

Cars are added and serviced round-robin (one command per car per round), so a
batch holds documents of many cars and touches most shards, as on a busy day.
Only the car list's `Projector.apply` -- the change-feed function's body -- is timed:
reading the feed is the Functions host's work on Azure. On SQLite the batches
come from the store's own change feed; the Cosmos test server has none, so
there the same documents are read back per car and put in feed order (each
event at its write, each head after its car's last event).

The projection delay -- from an event's `occurredAt` to the write of its row, as
`GET manage/projections` reports it -- is measured end to end on SQLite: commands
written at a steady pace while the local host's change-feed pumps (as `serve`
runs them) project them, then each projection's p50, p95 and max over its last
events. It is mostly the pump's poll interval; docs/freshness.md says what the
Functions host's own interval makes of it on Azure.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.context import Context
from bench.report import Figure, Section, Store
from bench.stores import cosmos_database, sqlite_services
from cartracker.bootstrap import Services
from cartracker.documents import EVENT_DOC
from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, Command, InspectBrakes, ReplaceTires
from cartracker.localhost.changefeed import change_feed_pumps
from cartracker.localhost.index import app_index
from cartracker.ports import Document
from cartracker.settings import EVENTS_CONTAINER
from tests.support.functions import installed

BATCH = 100  # max_items_per_invocation of the change-feed function
PACE = 200  # commands per second while the delay is measured
COMMANDS: list[Command] = [
    ChangeOil.model_validate({"mileage": 1_000, "charge": "49.99"}),
    InspectBrakes(mileage=2_000, remainingPad=70),
    ReplaceTires.model_validate({"numberOfTiresReplaced": 4, "charge": "420.00"}),
    ChangeOwner(newOwner="Bo Berg"),
]


def run(ctx: Context) -> Section:
    rates: dict[Store, dict[str, float]] = {}
    sqlite = sqlite_services(ctx.directory, "projector")
    _seed(sqlite, ctx.scale.projector_cars, threads=1)
    rates["sqlite"] = _project(sqlite, _feed_batches(sqlite))
    with cosmos_database(ctx.cosmos_server) as cosmos:
        car_ids = _seed(cosmos.services, ctx.scale.cosmos_projector_cars, threads=4)
        rates["cosmos"] = _project(cosmos.services, _rebuilt_batches(cosmos.services, car_ids))
    section = Section("Projector")
    section.add(
        Figure(
            "projector.eventsPerSecond",
            f"events projected, batches of {BATCH} feed documents",
            "events/s",
            {store: r["eventsPerSecond"] for store, r in rates.items()},
            note="the car list's Projector.apply only; each car: 1 add + 4 commands, so 5 events and 1 head",
            detail=rates,
        )
    )
    delays = _pump_delays(ctx)
    for name, delay in delays.items():
        for quantile in ("p50", "p95", "max"):
            section.add(
                Figure(
                    f"projector.delay.{name}.{quantile}",
                    f"{name}: delay from occurredAt to its row, {quantile} (local pump)",
                    "s",
                    {"sqlite": delay[f"{quantile}Seconds"]},
                    digits=3,
                    note=f"{delay['commands']} commands at {PACE}/s, the local host's pumps polling every "
                    f"{delay['pollSeconds']} s; over the last {delay['samples']} events applied",
                )
            )
    return section


def _pump_delays(ctx: Context) -> dict[str, dict[str, Any]]:
    """Each projection's delay after commands written at `PACE` while the local pumps project them."""
    services = sqlite_services(ctx.directory, "delay")
    commands = 100 if ctx.quick else 600
    with installed(services):
        pumps = change_feed_pumps(app_index().change_feed, services.backend)
        for pump in pumps:
            pump.start()
        try:
            car_ids: list[str] = []
            started = time.perf_counter()
            for n in range(commands):
                if n % 5 == 0:
                    car_ids.append(
                        services.commands.add_car(AddCar(make="Saab", model="900", owner="Ann")).car_id
                    )
                else:
                    services.commands.execute(car_ids[-1], COMMANDS[n % 5 - 1])
                # Paced, as traffic arrives: a backlog written at once would measure the backlog.
                time.sleep(max(0.0, started + (n + 1) / PACE - time.perf_counter()))
            for pump in pumps:
                pump.wait_until_caught_up(timeout=60)
        finally:
            for pump in pumps:
                pump.stop()
    poll = max(pump.function.poll_seconds for pump in pumps)
    found: dict[str, dict[str, Any]] = {}
    for status in services.statuses.all():
        if status.delay is None:
            raise RuntimeError(f"{status.name} applied nothing while it was measured")
        found[status.name] = {
            "p50Seconds": status.delay.p50_seconds,
            "p95Seconds": status.delay.p95_seconds,
            "maxSeconds": status.delay.max_seconds,
            "samples": status.delay.samples,
            "commands": commands,
            "pollSeconds": poll,
        }
    return found


def _seed(services: Services, cars: int, *, threads: int) -> list[str]:
    """`cars` cars with 5 events each, written round-robin; the car ids."""
    car_ids = [
        services.commands.add_car(AddCar(make="Saab", model="900", owner="Ann")).car_id for _ in range(cars)
    ]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for command in COMMANDS:
            list(pool.map(lambda car_id, c=command: services.commands.execute(car_id, c), car_ids))
    return car_ids


def _feed_batches(services: Services) -> list[list[Document]]:
    """The SQLite store's change feed of the events container, in batches, as the local host reads it."""
    feed = services.backend
    batches: list[list[Document]] = []
    position = 0
    while True:
        docs, position = feed.read_changes(EVENTS_CONTAINER, after=position, limit=BATCH)
        if not docs:
            return batches
        batches.append(docs)


def _rebuilt_batches(services: Services, car_ids: list[str]) -> list[list[Document]]:
    """The documents a change feed would deliver, read back per car and put in write order."""
    events = [doc for car_id in car_ids for doc in services.events.read_events(car_id)]
    heads = [head.doc for car_id in car_ids if (head := services.events.read_head(car_id)) is not None]
    in_order = (
        sorted(events, key=lambda doc: int(doc["version"])) + heads
    )  # stable: round-robin within a version
    return [in_order[at : at + BATCH] for at in range(0, len(in_order), BATCH)]


def _project(services: Services, batches: list[list[Document]]) -> dict[str, float]:
    documents = sum(len(batch) for batch in batches)
    events = sum(1 for batch in batches for doc in batch if doc.get("docType") == EVENT_DOC)
    seconds = 0.0
    for batch in batches:
        started = time.perf_counter()
        report = services.projector.apply(batch)
        seconds += time.perf_counter() - started
        if report.parked:
            raise RuntimeError(f"the projector parked {len(report.parked)} documents: {report.parked[0]}")
    return {
        "batches": len(batches),
        "documents": documents,
        "events": events,
        "seconds": round(seconds, 3),
        "eventsPerSecond": events / seconds,
        "documentsPerSecond": documents / seconds,
    }
