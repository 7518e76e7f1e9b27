"""When a car is due a service, at the rules' boundaries, with the clock passed in as `now`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cartracker.domain.car import Car, fold
from cartracker.domain.events import BrakesInspected, CarAdded, Event, OilChanged, OwnerChanged
from cartracker.domain.service_rules import (
    BRAKE_PADS_DUE_AT_PERCENT,
    OIL_CHANGE_EVERY_DAYS,
    OIL_CHANGE_EVERY_MILES,
)
from cartracker.projection.service_due import (
    Due,
    ServiceDueRow,
    row_document,
    row_from_car,
    row_from_document,
)

ADDED = datetime(2025, 1, 10, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def car_after(*events: Event) -> Car:
    car = fold(None, [CarAdded(make="Volvo", model="V70", owner="Ann", occurred_at=ADDED), *events],
               car_id=str(uuid.uuid4()))  # fmt: skip
    assert car is not None
    return car


def due_at(now: datetime, *events: Event) -> list[Due]:
    return row_from_car(car_after(*events)).due(now)


def inspected(mileage: int, pad: int = 80, *, days: float = 1) -> BrakesInspected:
    return BrakesInspected(mileage=mileage, remaining_pad=pad, occurred_at=ADDED + days * DAY)


def oil_changed(mileage: int, *, days: float) -> OilChanged:
    return OilChanged(mileage=mileage, charge_cents=4999, occurred_at=ADDED + days * DAY)


def test_the_rules_are_the_documented_defaults() -> None:
    assert (OIL_CHANGE_EVERY_MILES, OIL_CHANGE_EVERY_DAYS, BRAKE_PADS_DUE_AT_PERCENT) == (5_000, 180, 20)


def test_a_new_car_is_due_nothing() -> None:
    assert due_at(ADDED + DAY) == []


def test_a_car_never_oil_changed_counts_its_miles_from_zero() -> None:
    assert due_at(ADDED + 3 * DAY, inspected(4_999)) == []
    [due] = due_at(ADDED + 3 * DAY, inspected(4_999, days=1), inspected(5_000, days=2))
    assert due == Due("oil-change", "mileage", ADDED + 2 * DAY, miles_since_oil_change=5_000)


def test_an_oil_change_is_due_5000_miles_past_the_last_one_not_4999() -> None:
    changed = oil_changed(12_000, days=1)
    assert due_at(ADDED + 3 * DAY, changed, inspected(16_999, days=2)) == []
    [due] = due_at(ADDED + 3 * DAY, changed, inspected(17_000, days=2))
    assert (due.service, due.reason, due.since, due.miles_since_oil_change) == (
        "oil-change",
        "mileage",
        ADDED + 2 * DAY,
        5_000,
    )


def test_due_by_miles_stays_due_since_the_reading_that_first_showed_it() -> None:
    [due] = due_at(ADDED + 9 * DAY, inspected(5_200, days=2), inspected(9_000, days=5))
    assert (due.since, due.miles_since_oil_change) == (ADDED + 2 * DAY, 9_000)


def test_an_oil_change_is_due_180_days_after_the_last_one_not_179() -> None:
    changed_at = ADDED + 10 * DAY
    changed = oil_changed(100, days=10)
    assert due_at(changed_at + 179 * DAY, changed) == []
    assert due_at(changed_at + 180 * DAY - timedelta(microseconds=1), changed) == []
    assert due_at(changed_at + 180 * DAY, changed) == [Due("oil-change", "time", changed_at + 180 * DAY)]


def test_a_car_never_oil_changed_is_due_180_days_after_it_was_added() -> None:
    assert due_at(ADDED + 179 * DAY) == []
    assert due_at(ADDED + 180 * DAY) == [Due("oil-change", "time", ADDED + 180 * DAY)]


def test_an_oil_change_resets_both_the_miles_and_the_days() -> None:
    worn = [inspected(6_000, days=2)]
    assert [d.reason for d in due_at(ADDED + 200 * DAY, *worn)] == ["mileage", "time"]
    after_change = due_at(ADDED + 200 * DAY, *worn, oil_changed(6_000, days=199))
    assert after_change == []
    assert row_from_car(car_after(*worn, oil_changed(6_000, days=199))).oil_due_by_mileage_since is None


def test_brakes_are_due_at_20_percent_pad_not_21() -> None:
    assert due_at(ADDED + 3 * DAY, inspected(100, pad=21)) == []
    [due] = due_at(ADDED + 3 * DAY, inspected(100, pad=20))
    assert due == Due("brakes", "brake-pad", ADDED + DAY, remaining_pad=20)


def test_brakes_stay_due_since_the_first_low_inspection_until_one_finds_them_fine() -> None:
    low = [inspected(100, pad=15, days=1), inspected(200, pad=8, days=4)]
    [due] = due_at(ADDED + 5 * DAY, *low)
    assert (due.since, due.remaining_pad) == (ADDED + DAY, 8)
    assert due_at(ADDED + 6 * DAY, *low, inspected(300, pad=90, days=5)) == []


def test_reasons_are_listed_longest_due_first() -> None:
    events = [inspected(100, pad=10, days=1), inspected(5_100, pad=10, days=30)]
    reasons = [(d.service, d.reason) for d in due_at(ADDED + 400 * DAY, *events)]
    assert reasons == [("brakes", "brake-pad"), ("oil-change", "mileage"), ("oil-change", "time")]


def test_a_row_sorts_by_its_earliest_due_moment_even_before_it_is_due() -> None:
    fresh = row_from_car(car_after())
    assert fresh.due_since == ADDED + 180 * DAY
    worn = row_from_car(car_after(inspected(100, pad=5, days=3)))
    assert worn.due_since == ADDED + 3 * DAY
    assert worn.due_key < fresh.due_key


def test_other_events_change_no_due_moment() -> None:
    car = car_after(
        inspected(5_000, pad=20, days=1), OwnerChanged(new_owner="Bob", occurred_at=ADDED + 2 * DAY)
    )
    row = row_from_car(car)
    assert (row.oil_due_by_mileage_since, row.brakes_due_since, row.owner) == (
        ADDED + DAY,
        ADDED + DAY,
        "Bob",
    )


def test_a_row_reads_back_from_its_document_unchanged() -> None:
    rows: list[ServiceDueRow] = [
        row_from_car(car_after()),
        row_from_car(car_after(oil_changed(10, days=1), inspected(5_010, pad=3, days=2))),
    ]
    for row in rows:
        assert row_from_document(row_document(row, "serviceDue:00")) == row
