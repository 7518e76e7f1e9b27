"""Property: however the change feed delivers, every projection ends exactly where a from-scratch fold is.

One test, parametrised over every registered projection (a new projection is covered by registering it).

Random command sequences over several cars run on the real SQLite stores; the
change feed is captured as a log, and deliveries are drawn by hypothesis:
arbitrary slices (so batches split anywhere, repeat, replay old snapshots and skip
ahead), filtered to a subset of cars (interleaving across cars, as leases split
them), sent to one of two projector instances -- sometimes with the other
instance writing the same shards between the first one's read and its write.
At the end every log entry not yet delivered is delivered once (the feed's
at-least-once promise), and rows and subtotals must equal the fold, to the cent.
At every step in between, each row is its car's true fold at the row's version.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartracker.domain.commands import ChangeOil, ChangeOwner, InspectBrakes, ReplaceTires
from cartracker.projection.registry import PROJECTIONS
from cartracker.projection.spec import AnyProjection
from tests.support.projection import (
    InterleavingViews,
    SteppingClock,
    World,
    assert_projection_consistent,
    projection_from_scratch,
    projection_stored,
)

OWNERS = ["Ann", "Bob", "Cem", "Dee"]
cents = st.integers(min_value=0, max_value=100_000_00)
# A command on car i (an i past the known cars adds a car): its kind, an amount in cents, and a
# small number (mileage increment in steps of 250 miles, pad percentage, tires, owner).
write_steps = st.tuples(st.just("write"), st.integers(0, 5), st.integers(0, 3), cents, st.integers(0, 100))
# A delivery: a slice of the log so far (starting `back` entries before its end, mostly recent
# but reaching far back too), maybe only some cars' documents, maybe only event documents (their
# heads lost: gaps must then be healed, and events folded).
slices = st.tuples(
    st.integers(0, 8) | st.integers(0, 1_000),
    st.integers(1, 12),
    st.frozensets(st.integers(0, 5)) | st.none(),
    st.booleans(),
)
# A step either writes (a command on car i; i past the known cars adds a car) or delivers a slice to
# one of two instances -- optionally with the other instance delivering another slice in the window
# between this one's read of a shard and its write.
deliver_steps = st.tuples(st.just("deliver"), st.integers(0, 1), slices, slices | st.none())
scenarios = st.lists(st.one_of(write_steps, deliver_steps), min_size=10, max_size=60)


@pytest.mark.parametrize("projection", list(PROJECTIONS.values()), ids=list(PROJECTIONS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=scenarios,
    shards=st.integers(1, 4),
    ticks=st.lists(st.integers(0, 2_000), min_size=1, max_size=4),
    tail_batch=st.integers(1, 9),
    tail_events_only=st.booleans(),
)
def test_any_delivery_of_the_feed_gives_the_from_scratch_fold(
    projection: AnyProjection,
    steps: list[tuple],
    shards: int,
    ticks: list[int],
    tail_batch: int,
    tail_events_only: bool,
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        world = World.create(Path(directory), shards=shards, clock=SteppingClock(ticks))
        views = [InterleavingViews(world.services.views) for _ in range(2)]
        instances = [world.projector(v, projection) for v in views]
        cars: list[str] = []
        mileage: list[int] = []
        delivered: set[int] = set()

        def deliver(instance: int, part: tuple) -> None:
            back, length, only, events_only = part
            if not world.log:
                return
            first = max(0, len(world.log) - 1 - back)
            picked = [
                i
                for i in range(first, min(first + length, len(world.log)))
                if (only is None or _car_index(cars, world.log[i]["aggregateId"]) in only)
                and not (events_only and world.log[i]["docType"] == "head")
            ]
            delivered.update(picked)
            instances[instance].apply([dict(world.log[i]) for i in picked])

        for step in steps:
            if step[0] == "write":
                _, index, kind, amount, small = step
                if index >= len(cars):
                    cars.append(world.add_car(owner=OWNERS[len(cars) % len(OWNERS)]))
                    mileage.append(0)
                    continue
                mileage[index] += small * 250  # up to 25,000 miles a step: service intervals get crossed
                charge = f"{amount // 100}.{amount % 100:02d}"
                command = [
                    ChangeOil(mileage=mileage[index], charge=charge),
                    InspectBrakes(mileage=mileage[index], remainingPad=small),
                    ReplaceTires(numberOfTiresReplaced=small % 4 + 1, charge=charge),
                    ChangeOwner(newOwner=OWNERS[small % len(OWNERS)]),
                ][kind]
                world.run(cars[index], command)
                continue
            _, instance, part, racing = step
            if racing is not None:
                views[instance].before_next_write = lambda i=1 - instance, r=racing: deliver(i, r)
            deliver(instance, part)
            views[instance].before_next_write = None
            assert_projection_consistent(world.services, projection)

        missed = [
            i
            for i in range(len(world.log))
            if i not in delivered and not (tail_events_only and world.log[i]["docType"] == "head")
        ]
        for at in range(0, len(missed), tail_batch):
            instances[at % 2].apply([dict(world.log[i]) for i in missed[at : at + tail_batch]])
        assert projection_stored(world.services, projection) == projection_from_scratch(
            world.services, projection, world.car_ids()
        )


def _car_index(cars: list[str], car_id: str) -> int:
    return cars.index(car_id) if car_id in cars else -1
