"""The original's data-access pattern beside CarTracker's: round trips and time per command and list read.

Both run on the same Cosmos test server, each in a database of its own, with the same
domain and the same commands. The contender is `bench.original` (the C# sample's five
choices, re-created with the Python SDK); CarTracker is its `CommandService`, projector and
car-list query over its Cosmos adapters, with the app's one client. Per round, on each side:

* **command, write path**: an oil change on a car of the fleet (the original: load by query,
  create the event, upsert the car's view, each with a new client; CarTracker: one batch);
* **list read with predictions**, before the projection has seen that command (the original:
  the all-cars document, then one query over every car it lists; CarTracker: a page with the
  command's consistency token, which lags);
* **the command's list update** (the original's change-feed function: read and upsert the
  all-cars document; CarTracker's projector: the feed batch the command wrote, its event and head);
* **list read** (the original: the all-cars document; CarTracker: the first page of 50 and totals).

The fleet is seeded outside the timed rounds, then grown to each size. Round trips are HTTP
requests the SDK sent, counted at the transport: every request of the original's clients,
and CarTracker's without the background account reads its one client makes every five
minutes. Times are the median of interleaved rounds; the ratio original ÷ CarTracker is the
figure that holds on another machine, the milliseconds are this machine's.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.context import Context
from bench.original import (
    ALL_CARS_ID,
    EVENTS,
    VIEWS,
    ClientLog,
    OriginalPattern,
    Repository,
    empty_all_cars,
    event_document,
    original_database,
    with_events,
)
from bench.report import Figure, Section
from bench.stores import CosmosDatabase, cosmos_database
from cartracker.documents import head_document
from cartracker.domain.car import decide, fold
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.ports import Document
from cartracker.service.commands import utc_now
from tests.support.cosmos import CosmosServer, CountingTransport, make_client

VOLVO = AddCar(make="Volvo", model="V70", owner="Ann Andersson")
FEED_BATCH = 100  # cars per projector batch while seeding CarTracker's list
ITEM_LIMIT_BYTES = 2 * 1024 * 1024  # Cosmos DB's largest item

# key, label, what the original does, what CarTracker does; in table order ("commandAllIn" is a sum).
OPERATIONS: list[tuple[str, str, str, str]] = [
    (
        "command",
        "command: write path",
        "query the car's events, create the event, upsert the car's view: 3 new clients",
        "one transactional batch (warm head)",
    ),
    (
        "listUpdate",
        "command: its list update",
        "read and upsert the all-cars document: 2 new clients",
        "the projector on the command's feed batch (event + head)",
    ),
    ("commandAllIn", "command, all in", "the two above", "the two above"),
    (
        "listRead",
        "list read",
        "point read of the all-cars document: 1 new client",
        "first page of 50 and the totals: 2 queries",
    ),
    (
        "listPredicted",
        "list read with predictions",
        "the all-cars document, then one OR query over every car it lists: 2 new clients",
        "the same page with the command's (lagging) consistency token: + 1 head read",
    ),
]


@dataclass
class Fleet:
    cars: list[str] = field(default_factory=list)
    turns: dict[str, int] = field(default_factory=dict)  # commands each car has had in the rounds

    def next_command(self, round_number: int) -> tuple[str, ChangeOil]:
        car_id = self.cars[round_number % len(self.cars)]
        turn = self.turns[car_id] = self.turns.get(car_id, 0) + 1
        return car_id, ChangeOil.model_validate({"mileage": 1_000 + 100 * turn, "charge": "49.99"})


@dataclass
class Measured:
    seconds: dict[str, list[float]] = field(default_factory=lambda: {key: [] for key, *_ in OPERATIONS})
    requests: dict[str, list[list[str]]] = field(default_factory=lambda: {key: [] for key, *_ in OPERATIONS})

    def record(self, key: str, seconds: float, kinds: list[str]) -> None:
        self.seconds[key].append(seconds)
        self.requests[key].append(kinds)

    def add_all_in(self) -> None:
        pairs = zip(self.seconds["command"], self.seconds["listUpdate"], strict=True)
        self.seconds["commandAllIn"] = [a + b for a, b in pairs]
        kinds = zip(self.requests["command"], self.requests["listUpdate"], strict=True)
        self.requests["commandAllIn"] = [a + b for a, b in kinds]

    def kinds(self, key: str) -> list[str]:
        """The requests of the first recorded round."""
        return self.requests[key][0]

    def counts(self, key: str) -> list[int]:
        """Every round trip count seen over the rounds, ascending (one, for a deterministic operation)."""
        return sorted({len(kinds) for kinds in self.requests[key]})

    def median_ms(self, key: str) -> float:
        return statistics.median(self.seconds[key]) * 1000


Timer = Callable[[str, Callable[[], Any]], Any]


def timer(out: Measured | None, reset: Callable[[], None], kinds: Callable[[], list[str]]) -> Timer:
    def timed(key: str, action: Callable[[], Any]) -> Any:
        reset()
        started = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - started
        if out is not None:
            out.record(key, seconds, kinds())
        return result

    return timed


def original_round(app: OriginalPattern, fleet: Fleet, number: int, timed: Timer) -> None:
    car_id, command = fleet.next_command(number)
    car, docs = timed("command", lambda: app.execute(car_id, command))
    listed = timed("listPredicted", app.list_cars_predicted)
    if not any(e["carId"] == car_id and e["totalChargesCents"] == car.total_charges_cents for e in listed):
        raise RuntimeError("the original's predictions did not show the command just written")
    timed("listUpdate", lambda: app.project(docs))
    timed("listRead", app.list_cars)


def cartracker_round(database: CosmosDatabase, fleet: Fleet, number: int, timed: Timer) -> None:
    services = database.services
    car_id, command = fleet.next_command(number)
    result = timed("command", lambda: services.commands.execute(car_id, command))
    page = timed("listPredicted", lambda: services.car_list.page(after=[result.consistency_token]))
    if page.freshness != "predicted":
        raise RuntimeError("CarTracker's list page did not predict the command just written")
    # What the change feed delivers for the command: its event and the head of the same batch.
    head = services.events.read_head(car_id)
    assert head is not None
    feed = [*services.events.read_events(car_id, after_version=result.version - 1), head.doc]
    timed("listUpdate", lambda: services.projector.apply(feed))
    timed("listRead", services.car_list.page)


def run(ctx: Context) -> Section:
    results: dict[int, tuple[Measured, Measured]] = {}
    document_bytes: dict[int, int] = {}
    original_fleet, cartracker_fleet = Fleet(), Fleet()
    log = ClientLog()
    with original_database(ctx.cosmos_server) as name, cosmos_database(ctx.cosmos_server) as database:
        app = OriginalPattern(Repository(ctx.cosmos_server.endpoint, name, log.transport))
        transport = database.transport

        def cartracker_kinds() -> list[str]:
            return transport.kinds(skip_account=True)

        for size in ctx.scale.original_cars:
            seed_original(ctx.cosmos_server, name, original_fleet, size)
            seed_cartracker(database, cartracker_fleet, size)
            original, cartracker = Measured(), Measured()
            started = time.perf_counter()
            for number in range(ctx.scale.original_rounds + 1):  # round 0 warms up, unrecorded
                if number > 3 and time.perf_counter() - started > ctx.scale.max_seconds:
                    break  # a slow machine still finishes, on fewer rounds
                sides = [
                    partial(original_round, app, original_fleet, number),
                    partial(cartracker_round, database, cartracker_fleet, number),
                ]
                timers = [
                    timer(original if number else None, log.reset, log.kinds),
                    timer(cartracker if number else None, transport.reset, cartracker_kinds),
                ]
                for side in (0, 1) if number % 2 else (1, 0):  # who goes first alternates
                    sides[side](timers[side])
            original.add_all_in()
            cartracker.add_all_in()
            results[size] = (original, cartracker)
            all_cars = app.repository.read_all_cars()
            assert all_cars is not None
            document_bytes[size] = size_of(all_cars)
    return section(results, document_bytes)


def section(results: dict[int, tuple[Measured, Measured]], document_bytes: dict[int, int]) -> Section:
    rounds = min(len(original.seconds["command"]) for original, _ in results.values())
    out = Section("The original's pattern beside CarTracker's (Cosmos test server, median of rounds)")
    for size, (original, cartracker) in results.items():
        for key, label, *_ in OPERATIONS:
            out.add(
                Figure(
                    f"originalPattern.{size}.{key}.roundTrips",
                    f"{label}, {size:,} cars: the original's round trips",
                    "round trips",
                    {"cosmos": float(max(original.counts(key)))},
                    note="HTTP requests its clients sent, account reads included",
                    detail={
                        "original": original.kinds(key),
                        "cartracker": cartracker.kinds(key),
                        "cartrackerRoundTrips": max(cartracker.counts(key)),
                        "countsSeen": {
                            "original": original.counts(key),
                            "cartracker": cartracker.counts(key),
                        },
                    },
                )
            )
    for size, (original, cartracker) in results.items():
        for key, label, *_ in OPERATIONS:
            out.add(
                Figure(
                    f"originalPattern.{size}.{key}.timeRatio",
                    f"{label}, {size:,} cars: time, original ÷ CarTracker",
                    "ratio",
                    {"cosmos": original.median_ms(key) / cartracker.median_ms(key)},
                    digits=1,
                    note=f"median of {len(original.seconds[key])} interleaved rounds each",
                    detail={
                        "originalMs": round(original.median_ms(key), 3),
                        "cartrackerMs": round(cartracker.median_ms(key), 3),
                        "originalRoundsMs": [round(s * 1000, 3) for s in original.seconds[key]],
                        "cartrackerRoundsMs": [round(s * 1000, 3) for s in cartracker.seconds[key]],
                    },
                )
            )
    for size, size_bytes in document_bytes.items():
        out.add(
            Figure(
                f"originalPattern.{size}.allCarsDocument",
                f"the all-cars document at {size:,} cars",
                "KB",
                {"cosmos": size_bytes / 1024},
                digits=1,
                note="as the server returns it, system properties included",
                detail={"bytes": size_bytes, "bytesPerCar": round(size_bytes / size, 1)},
            )
        )
    largest = max(document_bytes)
    per_car = document_bytes[largest] / largest
    out.add(
        Figure(
            "originalPattern.carsUntilItemLimit",
            "cars until the all-cars document passes the 2 MB item limit (extrapolated)",
            "cars",
            {"cosmos": float(int(ITEM_LIMIT_BYTES / per_car))},
            note=f"2 MiB ÷ the bytes per car at {largest:,} cars",
        )
    )
    out.data["method"] = __doc__.split("\n\n", 1)[1].strip()
    out.notes.append(comparison_table(results, document_bytes, rounds))
    return out


def comparison_table(
    results: dict[int, tuple[Measured, Measured]], document_bytes: dict[int, int], rounds: int
) -> str:
    """The original-pattern comparison table, in Markdown."""
    lines = [
        f"The original's pattern beside CarTracker's (Cosmos test server; median of {rounds} "
        "interleaved rounds; round trips counted at the SDK transport)",
        "",
        "| operation | cars | round trips, original | round trips, CarTracker "
        "| ms, original | ms, CarTracker | time, original ÷ CarTracker |",
        "|:--|--:|--:|--:|--:|--:|--:|",
    ]
    for key, label, *_ in OPERATIONS:
        for size, (original, cartracker) in results.items():
            ratio = original.median_ms(key) / cartracker.median_ms(key)
            lines.append(
                f"| {label} | {size:,} | {_count(original, key)} | {_count(cartracker, key)} "
                f"| {_ms(original.median_ms(key))} | {_ms(cartracker.median_ms(key))} | {ratio:,.1f} |"
            )
    sizes = ", ".join(f"{b / 1024:,.0f} KB at {s:,} cars" for s, b in document_bytes.items())
    lines += ["", f"The all-cars document: {sizes}.", ""]
    lines += [f"- {label}: original, {did}; CarTracker, {ours}." for _, label, did, ours in OPERATIONS[:2]]
    lines += [f"- {label}: original, {did}; CarTracker, {ours}." for _, label, did, ours in OPERATIONS[3:]]
    return "\n".join(lines)


def size_of(doc: Document) -> int:
    """Bytes of a document as the server returned it, system properties included (as bench/costs.py)."""
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())


def _count(measured: Measured, key: str) -> str:
    counts = measured.counts(key)
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"  # rounds differed


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def seed_original(server: CosmosServer, database: str, fleet: Fleet, size: int) -> None:
    """Grow the original's fleet to `size` cars with one client (setup, not its pattern)."""
    client = make_client(server.endpoint, CountingTransport())
    try:
        db = client.get_database_client(database)
        events, views = db.get_container_client(EVENTS), db.get_container_client(VIEWS)
        added: list[Document] = []
        seeded = bool(fleet.cars)
        while len(fleet.cars) < size:
            car_id = str(uuid.uuid4())
            added_events = decide(None, VOLVO, utc_now(), car_id=car_id)
            docs = [event_document(car_id, event) for event in added_events]
            for doc in docs:
                events.create_item(doc)
            car = fold(None, added_events, car_id=car_id)
            assert car is not None
            views.upsert_item({"id": car_id, **car.model_dump(mode="json", by_alias=True)})
            added += docs
            fleet.cars.append(car_id)
        all_cars: Document = (
            views.read_item(ALL_CARS_ID, partition_key=ALL_CARS_ID)
            if seeded
            else empty_all_cars()  # the first seeding creates it
        )
        views.upsert_item(with_events(all_cars, added))
    finally:
        client.close()


def seed_cartracker(database: CosmosDatabase, fleet: Fleet, size: int) -> None:
    """Grow CarTracker's fleet to `size` cars through its services, and project them."""
    services = database.services
    heads: list[Document] = []
    while len(fleet.cars) < size:
        result = services.commands.add_car(VOLVO)
        heads.append(head_document(result.car))
        fleet.cars.append(result.car_id)
    for start in range(0, len(heads), FEED_BATCH):
        services.projector.apply(heads[start : start + FEED_BATCH])
