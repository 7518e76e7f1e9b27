"""The car-list projector while Cosmos DB misbehaves: transient faults are retried and the list ends exact;
a shard that keeps failing is parked on the last retry, never blocks the other shards, and is repaired later.

The projector runs as the Functions host runs it: the `project_car_list` trigger of the app, invoked by
the local host's change-feed pump with its `@retry` policy (the same number of attempts, the attempt
number in `context.retry_context`, the checkpoint saved only after an invocation that did not fail).
Only the waits between attempts are dropped. The views live on the Cosmos test server, reached through
a client whose transport breaks on demand -- one container, one shard, one kind of request at a time.

That server has no change feed, so the feed is a list the tests fill with what Cosmos DB would deliver
after each write: the new event documents and the car's head.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cartracker.bootstrap import Services, bootstrap
from cartracker.domain.commands import AddCar, ChangeOil, ReplaceTires
from cartracker.errors import StoreUnavailable
from cartracker.localhost.changefeed import ChangeFeedFunction, ChangeFeedPump, RetryPolicy
from cartracker.localhost.index import app_index
from cartracker.ports import Document
from cartracker.projection.car_list import row_partition
from cartracker.projection.documents import PARKED_PARTITION, without_system_fields
from cartracker.rebuild.local import run_rebuild
from cartracker.rebuild.orchestrator import RebuildInput
from cartracker.settings import VIEWS_CONTAINER
from tests.conftest import CosmosEnv
from tests.support.cosmos import CosmosServer, make_client
from tests.support.faults import Fault, FaultyTransport
from tests.support.functions import installed
from tests.support.projection import Views, stored_views, views_from_scratch

SHARDS = 4
CARS = 8


@dataclass
class ListFeed:
    """A `ChangeFeedSource` over a list: position n means "the first n documents were delivered"."""

    docs: list[Document] = field(default_factory=list)
    checkpoints: dict[str, int] = field(default_factory=dict)

    def read_changes(self, container: str, *, after: int, limit: int) -> tuple[list[Document], int]:
        page = self.docs[after : after + limit]
        return page, after + len(page)

    def load_checkpoint(self, name: str) -> int:
        return self.checkpoints.get(name, 0)

    def save_checkpoint(self, name: str, position: int) -> None:
        self.checkpoints[name] = position


@dataclass
class Projection:
    services: Services
    transport: FaultyTransport
    feed: ListFeed
    pump: ChangeFeedPump
    attempts: list[int]  # retry_count of every invocation, in order
    delivered: dict[str, int] = field(default_factory=dict)  # car id -> last version put on the feed

    def write(self, car_id: str, command: ChangeOil | ReplaceTires) -> None:
        self.services.commands.execute(car_id, command)
        self.capture(car_id)

    def add_car(self, number: int) -> str:
        car_id = self.services.commands.add_car(
            AddCar(make="Volvo", model="V70", owner=f"Owner {number}")
        ).car_id
        self.capture(car_id)
        return car_id

    def capture(self, car_id: str) -> None:
        """What the change feed would deliver for this car's latest write: its new events and its head."""
        after = self.delivered.get(car_id, 0)
        events = self.services.events.read_events(car_id, after_version=after, limit=1_000)
        head = self.services.events.read_head(car_id)
        assert head is not None
        self.feed.docs.extend([*events, head.doc])
        self.delivered[car_id] = head.doc["version"]

    def deliver(self) -> None:
        """One batch through the pump, with all its retries."""
        self.attempts.clear()
        assert self.pump.run_once() > 0

    def parked(self) -> list[Document]:
        return self.services.views.list_parked(limit=1_000)

    def shard_cars(self, partition_key: str) -> list[str]:
        return [car_id for car_id in self.delivered if row_partition(car_id, SHARDS) == partition_key]


@pytest.fixture
def projection(cosmos: CosmosEnv, cosmos_server: CosmosServer) -> Iterator[Projection]:
    transport = FaultyTransport()
    # The SDK backs off between connection retries by 1 s, 2 s, ...: the same retries, minus the waiting.
    client = make_client(cosmos_server.endpoint, transport, retry_backoff_factor=0.01)
    settings = dataclasses.replace(cosmos.settings, list_shards=SHARDS)
    [trigger] = [f for f in app_index().change_feed if f.get_function_name() == "project_car_list"]
    function = ChangeFeedFunction.from_function(trigger, env={})
    attempts: list[int] = []

    def counted(**kwargs: Any) -> None:
        attempts.append(kwargs["context"].retry_context.retry_count)
        function.call(**kwargs)

    # The trigger's own policy (max_retries and all), without the minutes of exponential backoff.
    instant = RetryPolicy(max_retries=function.retry.max_retries)
    feed = ListFeed()
    pump = ChangeFeedPump(dataclasses.replace(function, retry=instant, call=counted), feed)
    with installed(bootstrap(settings, cosmos_client=client)) as services:
        yield Projection(services, transport, feed, pump, attempts)
    transport.clear()
    client.close()


def busy_fleet(projection: Projection) -> list[str]:
    """Cars with charges, spread over at least two shards."""
    cars = [projection.add_car(n) for n in range(CARS)]
    while len({row_partition(car_id, SHARDS) for car_id in cars}) < 2:
        cars.append(projection.add_car(len(cars)))
    for n, car_id in enumerate(cars):
        projection.write(car_id, ChangeOil(mileage=1_000 * n, charge=f"{n}9.99"))
        projection.write(car_id, ReplaceTires(numberOfTiresReplaced=n % 4 + 1, charge="120.50"))
    return cars


# --- the truth, and what the views hold ------------------------------------------------------------


def from_scratch(services: Services, car_ids: list[str]) -> Views:
    return views_from_scratch(services, car_ids)


def assert_exact(projection: Projection, car_ids: list[str]) -> None:
    """Every row and every shard subtotal equal the from-scratch fold, to the cent; nothing more."""
    assert stored_views(projection.services) == from_scratch(projection.services, car_ids)


# --- transient faults --------------------------------------------------------------------------------

# Each fault hits exactly as many requests as the SDK sends for one call before it gives up (its own
# retries: 9 for a throttled query, 2 for a 503 batch, 3 after connection resets), so the first
# invocation fails on one shard and the host's retry succeeds. The fault is aimed at one shard: shards
# are written in parallel, and only one shard's requests come one after another.
TRANSIENT: list[tuple[str, Fault, int]] = [
    ("query", "throttle", 9),
    ("query", "reset", 3),
    ("batch", "unavailable", 2),
    ("batch", "reset", 3),
    ("batch", "lost_answer", 1),  # the shard was written: the redelivery finds it done and writes nothing
    ("batch", "timeout", 1),
]


@pytest.mark.parametrize(("kind", "fault", "times"), TRANSIENT, ids=str)
def test_a_transient_fault_on_the_views_is_retried_and_the_list_ends_exact(
    projection: Projection, kind: str, fault: Fault, times: int
) -> None:
    cars = busy_fleet(projection)
    victim = row_partition(cars[0], SHARDS)
    projection.transport.inject(kind, fault, times=times, container=VIEWS_CONTAINER, partition_key=victim)

    projection.deliver()

    assert projection.transport.injected == [(kind, fault)] * times
    assert projection.attempts == [0, 1]  # failed once, redelivered once
    assert projection.pump.caught_up()
    assert projection.parked() == []
    assert_exact(projection, cars)


def test_a_shard_written_twice_by_redelivery_keeps_its_subtotal_exact(projection: Projection) -> None:
    cars = busy_fleet(projection)
    projection.transport.inject("batch", "lost_answer", times=-1, container=VIEWS_CONTAINER)

    projection.deliver()

    # Every write landed and lost its answer once; the redelivery had nothing left to write.
    assert projection.attempts == [0, 1]
    assert projection.parked() == []
    assert_exact(projection, cars)


# --- persistent faults ---------------------------------------------------------------------------------

PERSISTENT: list[tuple[str, Fault]] = [
    ("batch", "unavailable"),
    ("batch", "throttle"),
    ("batch", "reset"),
    ("query", "throttle"),
]


@pytest.mark.parametrize(("kind", "fault"), PERSISTENT, ids=str)
def test_a_shard_that_keeps_failing_is_parked_on_the_last_retry_while_the_other_shards_are_projected(
    projection: Projection, kind: str, fault: Fault
) -> None:
    cars = busy_fleet(projection)
    victim = row_partition(cars[0], SHARDS)
    projection.transport.inject(kind, fault, times=-1, container=VIEWS_CONTAINER, partition_key=victim)

    projection.deliver()

    projection.transport.clear()
    retries = projection.pump.function.retry.max_retries
    assert projection.attempts == list(range(retries + 1))  # every attempt the policy allows, no more
    assert projection.pump.caught_up()  # the batch is done with: nothing blocks the feed
    victims = projection.shard_cars(victim)
    parked = projection.parked()
    assert {p["documentId"] for p in parked} == {
        d["id"] for d in projection.feed.docs if d["aggregateId"] in victims
    }
    assert all(p["reason"].startswith("write kept failing after retries: ") for p in parked)
    healthy = [car_id for car_id in cars if car_id not in victims]
    views = stored_views(projection.services)
    assert victim not in views
    assert views == from_scratch(projection.services, healthy)


def test_parked_changes_are_repaired_by_a_rebuild_which_clears_them(projection: Projection) -> None:
    cars = busy_fleet(projection)
    victim = row_partition(cars[0], SHARDS)
    projection.transport.inject("batch", "reset", times=-1, container=VIEWS_CONTAINER, partition_key=victim)
    projection.deliver()
    projection.transport.clear()
    assert projection.parked() != []

    summary = run_rebuild(projection.services, RebuildInput(projection="car-list", shards=SHARDS))

    assert_exact(projection, cars)
    assert projection.parked() == []
    assert summary["parkedCleared"] > 0


def test_a_parked_cars_next_change_brings_its_row_up_to_date(projection: Projection) -> None:
    cars = busy_fleet(projection)
    victim = row_partition(cars[0], SHARDS)
    projection.transport.inject("batch", "reset", times=-1, container=VIEWS_CONTAINER, partition_key=victim)
    projection.deliver()
    projection.transport.clear()

    projection.write(cars[0], ChangeOil(mileage=500_000, charge="75.25"))
    projection.deliver()

    # The new change carries the car's head: the whole car, so its row is exact again.
    [row] = [
        without_system_fields(state.doc)
        for state in projection.services.views.read_shard(victim, [cars[0]]).rows.values()
    ]
    assert row == from_scratch(projection.services, [cars[0]])[victim][cars[0]]


def test_when_even_parking_fails_the_batch_is_skipped_as_the_host_does_and_the_next_change_heals_it(
    projection: Projection,
) -> None:
    cars = busy_fleet(projection)
    victim = row_partition(cars[0], SHARDS)
    projection.transport.inject("batch", "reset", times=-1, container=VIEWS_CONTAINER, partition_key=victim)
    projection.transport.inject("upsert", "reset", times=-1, partition_key=PARKED_PARTITION)

    projection.deliver()

    projection.transport.clear()
    assert projection.pump.caught_up()  # the host moved on: these changes are gone from the feed
    assert projection.parked() == []
    assert victim not in stored_views(projection.services)
    # A skipped change is not lost: the next change of the car comes with its head, the fold of them all.
    for car_id in projection.shard_cars(victim):
        projection.write(car_id, ChangeOil(mileage=900_000, charge="1.01"))
    projection.deliver()
    assert_exact(projection, cars)


class FlakyCheckpoints(ListFeed):
    """A feed whose checkpoint store is unavailable for the first few saves (a busy lease store)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def save_checkpoint(self, name: str, position: int) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("the checkpoint store is busy")
        super().save_checkpoint(name, position)


def test_the_pump_outlives_a_checkpoint_that_could_not_be_saved(projection: Projection) -> None:
    feed = FlakyCheckpoints(failures=2)
    feed.docs = projection.feed.docs
    no_wait = RetryPolicy(strategy="exponential_backoff", minimum=0.001, maximum=0.001)
    pump = ChangeFeedPump(projection.pump.function, feed, backoff=no_wait)
    cars = busy_fleet(projection)

    pump.start()
    try:
        pump.wait_until_caught_up(timeout=10)
    finally:
        pump.stop()

    # The batch was delivered again after each failed save; the projector took that in its stride.
    assert projection.attempts == [0, 0, 0]
    assert_exact(projection, cars)
