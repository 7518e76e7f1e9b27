"""The car as it was, at a version or at a time, on SQLite and on the Cosmos test server alike.

Each car here is written through a `CommandService` with a clock the test sets, so every event
occurs at a known moment: added at 09:30, oil changed at 09:31, sold to Bob at 09:32.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cartracker.bootstrap import Services
from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner
from cartracker.errors import CarNotFound, VersionNotFound
from cartracker.ports import Document, EventStore, VersionedDocument
from cartracker.service.commands import CommandService
from cartracker.service.queries import CarQueries

ADDED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
OILED = ADDED + timedelta(minutes=1)
SOLD = ADDED + timedelta(minutes=2)
MICROSECOND = timedelta(microseconds=1)


@dataclass
class Clock:
    now: datetime = ADDED

    def __call__(self) -> datetime:
        return self.now


def a_car_sold_after_an_oil_change(
    services: Services, *, times: tuple[datetime, ...] = (ADDED, OILED, SOLD)
) -> str:
    clock = Clock()
    commands = CommandService(services.events, clock=clock)
    clock.now = times[0]
    car_id = commands.add_car(AddCar(make="Volvo", model="V70", owner="Alice")).car_id
    clock.now = times[1]
    commands.execute(car_id, ChangeOil(mileage=12000, charge="49.99"))
    clock.now = times[2]
    commands.execute(car_id, ChangeOwner(newOwner="Bob"))
    return car_id


@dataclass
class CountingReads:
    """The event store, with every `read_events` call recorded: (after_version, limit, documents read)."""

    store: EventStore
    reads: list[tuple[int, int, int]] = field(default_factory=list)

    def read_head(self, car_id: str) -> VersionedDocument | None:
        return self.store.read_head(car_id)

    def read_events(self, car_id: str, *, after_version: int = 0, limit: int = 100) -> list[Document]:
        docs = self.store.read_events(car_id, after_version=after_version, limit=limit)
        self.reads.append((after_version, limit, len(docs)))
        return docs


def counted(services: Services) -> tuple[CarQueries, CountingReads]:
    reads = CountingReads(services.events)
    return CarQueries(reads), reads  # type: ignore[arg-type]  # the two read methods the queries use


# --- asOfVersion ----------------------------------------------------------------------------------


def test_version_1_is_the_car_as_it_was_added(services: Services) -> None:
    car_id = a_car_sold_after_an_oil_change(services)

    car = services.queries.car_at_version(car_id, 1)

    assert (car.version, car.owner, car.oil_changes, car.total_charges_cents) == (1, "Alice", 0, 0)
    assert car.added_at == car.updated_at == ADDED


def test_a_middle_version_has_its_event_and_none_after_it(services: Services) -> None:
    car_id = a_car_sold_after_an_oil_change(services)

    car = services.queries.car_at_version(car_id, 2)

    assert (car.version, car.owner, car.oil_changes, car.total_charges_cents) == (2, "Alice", 1, 4999)
    assert car.updated_at == OILED


def test_the_latest_version_is_the_car_as_its_head_has_it(services: Services) -> None:
    car_id = a_car_sold_after_an_oil_change(services)

    assert services.queries.car_at_version(car_id, 3) == services.queries.car(car_id)


def test_the_version_after_the_latest_is_not_found_and_says_how_far_the_car_got(services: Services) -> None:
    car_id = a_car_sold_after_an_oil_change(services)

    with pytest.raises(VersionNotFound) as refused:
        services.queries.car_at_version(car_id, 4)

    assert refused.value.field == "asOfVersion"
    assert "at version 3" in refused.value.message
    assert "no version 4" in refused.value.message


def test_the_largest_version_reads_the_cars_history_and_nothing_more(services: Services) -> None:
    car_id = a_car_sold_after_an_oil_change(services)
    queries, store = counted(services)

    with pytest.raises(VersionNotFound):
        queries.car_at_version(car_id, 10**18 - 1)

    assert store.reads == [(0, 1000, 3)], "one read of one page, as far as the car's last event"


def test_a_version_of_a_car_that_does_not_exist_is_car_not_found(services: Services) -> None:
    with pytest.raises(CarNotFound) as refused:
        services.queries.car_at_version(str(uuid.uuid4()), 1)

    assert type(refused.value) is CarNotFound
    assert refused.value.field == "carId"


def test_reaches_says_whether_the_car_has_a_version(services: Services) -> None:
    car_id = a_car_sold_after_an_oil_change(services)

    assert services.queries.reaches(car_id, 3)
    assert not services.queries.reaches(car_id, 4)
    assert not services.queries.reaches(str(uuid.uuid4()), 1)


# --- asOf -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "version"),
    [
        (ADDED, 1),  # at an event's own time: that event is in
        (OILED - MICROSECOND, 1),
        (OILED, 2),
        (OILED + timedelta(seconds=30), 2),  # between two events: the car after the earlier one
        (SOLD - MICROSECOND, 2),
        (SOLD, 3),
        (SOLD + timedelta(days=365 * 100), 3),  # long after: the car now
    ],
    ids=["added", "just-before-oil", "oil", "between", "just-before-sale", "sale", "century-later"],
)
def test_as_of_a_time_is_the_car_after_its_last_event_by_then(
    services: Services, moment: datetime, version: int
) -> None:
    car_id = a_car_sold_after_an_oil_change(services)

    car = services.queries.car_as_of(car_id, moment)

    assert car == services.queries.car_at_version(car_id, version)


def test_as_of_a_time_given_with_another_offset_is_the_same_instant(services: Services) -> None:
    car_id = a_car_sold_after_an_oil_change(services)
    in_helsinki = (OILED + timedelta(seconds=30)).astimezone(timezone(timedelta(hours=2)))

    assert services.queries.car_as_of(car_id, in_helsinki).version == 2


def test_as_of_a_time_before_the_car_was_added_is_not_found_and_says_when_it_was(services: Services) -> None:
    car_id = a_car_sold_after_an_oil_change(services)

    with pytest.raises(VersionNotFound) as refused:
        services.queries.car_as_of(car_id, ADDED - MICROSECOND)

    assert refused.value.field == "asOf"
    assert "was added at 2026-03-01T09:30:00Z" in refused.value.message


def test_as_of_any_time_for_a_car_that_does_not_exist_is_car_not_found(services: Services) -> None:
    with pytest.raises(CarNotFound) as refused:
        services.queries.car_as_of(str(uuid.uuid4()), SOLD)

    assert type(refused.value) is CarNotFound


def test_as_of_never_shows_an_event_from_after_the_time_even_when_clocks_disagree(services: Services) -> None:
    # Two instances with skewed clocks: the oil change (version 2) was stamped later than the sale
    # (version 3). At 09:31:30 the car was not yet oil-changed, so it is shown before both.
    car_id = a_car_sold_after_an_oil_change(services, times=(ADDED, SOLD, OILED))

    car = services.queries.car_as_of(car_id, OILED + timedelta(seconds=30))

    assert (car.version, car.owner, car.oil_changes) == (1, "Alice", 0)


def test_as_of_reads_one_page_and_stops_at_the_first_event_after_the_time(services: Services) -> None:
    car_id = a_car_sold_after_an_oil_change(services)
    queries, store = counted(services)

    assert queries.car_as_of(car_id, OILED).version == 2

    assert store.reads == [(0, 1000, 3)]
