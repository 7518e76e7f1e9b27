"""Round trips per operation: what each operation costs the store, counted, not timed.

On the Cosmos test server the count is of HTTP requests the SDK really sent
(`CountingTransport`, background account reads left out); on SQLite, of store
port calls (`PortCalls`). The operations and the expected counts are the ones
tests/integration/test_cosmos_round_trips.py and test_car_list_round_trips.py
assert, reported here as figures next to the promises in docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.context import Context
from bench.report import Figure, Section, Store, Target
from bench.stores import PortCalls, cosmos_database, sqlite_services
from cartracker.bootstrap import Services
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.projection.car_list import row_partition
from cartracker.service.commands import CommandService

VOLVO = AddCar(make="Volvo", model="V70", owner="Alice")
PROJECTOR_BATCH = 100
# What a shard costs: a query and a batch on Cosmos DB, `read_shard` and `write_shard` on SQLite.
SHARD_CALLS = frozenset({"query", "batch", "read_shard", "write_shard"})

# (key, label, target) in table order.
OPERATIONS: list[tuple[str, str, Target]] = [
    ("addCar", "add car", Target("<=", 1, "1")),
    ("commandCold", "command, cold cache", Target("<=", 2, "2")),
    ("commandWarm", "command, warm cache", Target("<=", 1, "1")),
    ("carRead", "car read", Target("<=", 1, "1")),
    ("historyPage", "history page", Target("<=", 1, "1")),
    ("carAsOfVersion", "car as it was at a version (asOfVersion)", Target("<=", 1, "1")),
    ("commandKeyed", "command with an Idempotency-Key, warm cache", Target("<=", 1, "1")),
    ("keyedReplayWarm", "its retry (replay of the first outcome), warm cache", Target("<=", 2, "2")),
    ("keyedReplayCold", "its retry, cold cache", Target("<=", 3, "3")),
    ("listPage", "list page, no lagging token", Target("<=", 2, "2")),
    ("listPageLagging", "list page, 1 lagging token", Target("<=", 3, "2 + 1")),
]


def oil_change(mileage: int) -> ChangeOil:
    return ChangeOil.model_validate({"mileage": mileage, "charge": "49.99"})


@dataclass(frozen=True)
class Meter:
    """How to count on one store: start afresh, and the kinds of round trip since then."""

    reset: Callable[[], None]
    kinds: Callable[[], list[str]]


@dataclass
class RoundTrips:
    operations: dict[str, list[str]] = field(default_factory=dict)  # key -> kinds of round trip
    first_use: list[str] = field(default_factory=list)
    projector_trips: list[str] = field(default_factory=list)
    projector_shards: int = 0

    def shard_trips(self) -> list[str]:
        """The projector's reads and writes of shards: on SQLite port calls, on Cosmos requests."""
        return [kind for kind in self.projector_trips if kind in SHARD_CALLS]


def run(ctx: Context) -> Section:
    section = Section("Round trips per operation")
    calls = PortCalls()
    measured: dict[Store, RoundTrips] = {
        "sqlite": measure(
            calls.counted(sqlite_services(ctx.directory, "round-trips")), Meter(calls.reset, calls.kinds)
        )
    }
    with cosmos_database(ctx.cosmos_server) as cosmos:
        transport = cosmos.transport
        measured["cosmos"] = measure(
            cosmos.services, Meter(transport.reset, lambda: transport.kinds(skip_account=True))
        )

    for key, label, target in OPERATIONS:
        section.add(
            Figure(
                key=f"roundTrips.{key}",
                label=label,
                unit="round trips",
                values={store: float(len(m.operations[key])) for store, m in measured.items()},
                target=target,
                detail={store: m.operations[key] for store, m in measured.items()},
            )
        )
    section.add(
        Figure(
            key="roundTrips.projectorPerShard",
            label=f"projector, batch of {PROJECTOR_BATCH} new cars, per shard touched",
            unit="round trips",
            values={store: len(m.shard_trips()) / m.projector_shards for store, m in measured.items()},
            target=Target("<=", 2, "≤ 2"),
            digits=2,
            note="queries and batches of the shards; the status write (+1 when the batch's newest "
            "change is in a later second) is in the detail",
            detail={
                store: {"roundTrips": m.projector_trips, "shardsTouched": m.projector_shards}
                for store, m in measured.items()
            },
        )
    )
    section.add(
        Figure(
            key="roundTrips.firstUse",
            label="metadata reads, once per new client",
            unit="round trips",
            values={store: float(len(m.first_use)) for store, m in measured.items()},
            note="account and container reads a new SDK client makes on first use; none on SQLite",
            detail={store: m.first_use for store, m in measured.items()},
        )
    )
    return section


def measure(services: Services, meter: Meter) -> RoundTrips:
    """Run each operation once on these services and record the round trips it cost."""
    out = RoundTrips()

    def counted(key: str, action: Callable[[], Any]) -> Any:
        meter.reset()
        result = action()
        out.operations[key] = meter.kinds()
        return result

    # A new Cosmos client reads account and container metadata once: warm every path first.
    meter.reset()
    first = services.commands.add_car(VOLVO)
    services.projector.apply(services.events.read_events(first.car_id))
    services.car_list.page(after=[first.consistency_token])
    services.queries.history(first.car_id)
    out.first_use = [kind for kind in meter.kinds() if kind in ("account", "metadata")]

    car_id = counted("addCar", lambda: services.commands.add_car(VOLVO)).car_id
    cold = CommandService(services.events)  # another instance: nothing in its head cache
    counted("commandCold", lambda: cold.execute(car_id, oil_change(1)))
    counted("commandWarm", lambda: cold.execute(car_id, oil_change(2)))
    counted("carRead", lambda: services.queries.car(car_id))
    counted("historyPage", lambda: services.queries.history(car_id))
    counted("carAsOfVersion", lambda: services.queries.car_at_version(car_id, 1))
    keyed = oil_change(3)
    counted("commandKeyed", lambda: cold.execute(car_id, keyed, idempotency_key="bench-key"))
    counted("keyedReplayWarm", lambda: cold.execute(car_id, keyed, idempotency_key="bench-key"))
    again = CommandService(services.events)  # the retry lands on an instance that never saw the car
    counted("keyedReplayCold", lambda: again.execute(car_id, keyed, idempotency_key="bench-key"))

    services.projector.apply(services.events.read_events(car_id))
    counted("listPage", services.car_list.page)
    lagging = services.commands.execute(car_id, oil_change(4))  # the projector has not seen it
    counted("listPageLagging", lambda: services.car_list.page(after=[lagging.consistency_token]))

    # A first batch gives every shard its subtotal (a create, once in a shard's life); the second
    # is counted, as every later batch costs.
    for _ in range(2):
        cars = [services.commands.add_car(VOLVO).car_id for _ in range(PROJECTOR_BATCH)]
        batch = [doc for car in cars for doc in services.events.read_events(car)]
        out.projector_shards = len({row_partition(car, services.settings.list_shards) for car in cars})
        meter.reset()
        services.projector.apply(batch)
        out.projector_trips = meter.kinds()
    return out
