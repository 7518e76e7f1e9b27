"""Every rule of the Car aggregate, accepted and rejected at its boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from cartracker.domain.car import Car, decide, evolve, fold
from cartracker.domain.catalog import ON_A_CAR, CommandEntry
from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, InspectBrakes, ReplaceTires
from cartracker.domain.events import BrakesInspected, CarAdded, OilChanged, OwnerChanged, TiresReplaced
from cartracker.domain.money import format_cents, parse_charge
from cartracker.errors import BusinessRuleViolated, CarNotFound

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CAR_ID = "0b8f1f0e-3c1a-4a57-9d5e-2f1f6f3e9a10"


def a_car(**changes: object) -> Car:
    car = evolve(None, CarAdded(make="Volvo", model="V70", owner="Alice", occurred_at=NOW), car_id=CAR_ID)
    return car.model_copy(update=changes)


def test_adding_a_car_records_trimmed_texts() -> None:
    command = AddCar(make="  Volvo ", model="V70", owner=" Alice")
    [event] = decide(None, command, NOW, car_id=CAR_ID)
    assert event == CarAdded(make="Volvo", model="V70", owner="Alice", occurred_at=NOW)


@pytest.mark.parametrize("text", ["x", "x" * 50, "  " + "x" * 50 + "  ", "Škoda Octavia", "日本"])
def test_texts_of_1_to_50_characters_after_trimming_are_accepted(text: str) -> None:
    assert AddCar(make=text, model="m", owner="o").make == text.strip()


@pytest.mark.parametrize("text", ["", "   ", "x" * 51, "bad\x00name", "tab\tname", "zero\u200bwidth"])
def test_empty_long_or_control_character_texts_are_rejected(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        AddCar(make="Volvo", model="V70", owner=text)
    assert info.value.errors()[0]["loc"] == ("owner",)


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        ChangeOil.model_validate({"mileage": 10, "charge": 1, "color": "red"})
    assert info.value.errors()[0]["loc"] == ("color",)


@pytest.mark.parametrize("mileage", [0, 1, 2_000_000])
def test_mileage_within_0_to_2_million_is_accepted(mileage: int) -> None:
    assert ChangeOil(mileage=mileage, charge="1").mileage == mileage


@pytest.mark.parametrize("mileage", [-1, 2_000_001, 10.5, "100", True])
def test_mileage_outside_range_or_not_an_integer_is_rejected(mileage: object) -> None:
    with pytest.raises(ValidationError):
        ChangeOil.model_validate({"mileage": mileage, "charge": 1})


def test_mileage_equal_to_the_last_is_accepted() -> None:
    car = a_car(last_mileage=1000)
    [event] = decide(car, ChangeOil(mileage=1000, charge="10"), NOW)
    assert isinstance(event, OilChanged)


def test_oil_change_below_last_mileage_is_rejected() -> None:
    car = a_car(last_mileage=1000)
    with pytest.raises(BusinessRuleViolated) as info:
        decide(car, ChangeOil(mileage=999, charge="10"), NOW)
    assert info.value.field == "mileage"


def test_brake_inspection_below_last_mileage_is_rejected() -> None:
    car = a_car(last_mileage=1000)
    with pytest.raises(BusinessRuleViolated):
        decide(car, InspectBrakes(mileage=999, remainingPad=50), NOW)
    assert decide(car, InspectBrakes(mileage=1000, remainingPad=50), NOW)


@pytest.mark.parametrize(
    ("charge", "cents"),
    [
        (0, 0),
        ("0.01", 1),
        (49.99, 4999),
        ("100000", 10_000_000),
        ("1.50", 150),
        ("1.5", 150),
        (0.1, 10),
        (1.500, 150),
        (100000.00, 10_000_000),
    ],
)
def test_charges_with_at_most_two_decimals_up_to_100000_are_accepted(charge: object, cents: int) -> None:
    assert ChangeOil.model_validate({"mileage": 1, "charge": charge}).charge_cents == cents


NOT_CHARGES = ["0.001", "1.500", " 1.50", "+1", "1e2", 0.001, -0.01, "100000.01", "abc", "NaN", "Infinity"]


@pytest.mark.parametrize("charge", [*NOT_CHARGES, None, True, [1]])
def test_charges_with_three_decimals_negative_or_not_numbers_are_rejected(charge: object) -> None:
    with pytest.raises(ValidationError) as info:
        ReplaceTires.model_validate({"numberOfTiresReplaced": 1, "charge": charge})
    assert info.value.errors()[0]["loc"] == ("charge",)


@pytest.mark.parametrize("pad", [0, 100])
def test_remaining_pad_is_a_percentage(pad: int) -> None:
    assert InspectBrakes(mileage=1, remainingPad=pad).remaining_pad == pad
    with pytest.raises(ValidationError):
        InspectBrakes(mileage=1, remainingPad=pad - 1 if pad == 0 else pad + 1)


@pytest.mark.parametrize("tires", [1, 4])
def test_one_to_four_tires_are_accepted(tires: int) -> None:
    assert ReplaceTires(numberOfTiresReplaced=tires, charge="1").number_of_tires_replaced == tires


@pytest.mark.parametrize("tires", [0, 5])
def test_zero_or_five_tires_are_rejected(tires: int) -> None:
    with pytest.raises(ValidationError):
        ReplaceTires(numberOfTiresReplaced=tires, charge="1")


def test_owner_change_to_the_same_owner_ignoring_case_and_spaces_is_rejected() -> None:
    with pytest.raises(BusinessRuleViolated) as info:
        decide(a_car(owner="Alice"), ChangeOwner(newOwner=" alice "), NOW)
    assert info.value.field == "newOwner"


def test_owner_change_to_someone_else_is_accepted() -> None:
    [event] = decide(a_car(owner="Alice"), ChangeOwner(newOwner="Alicia"), NOW)
    assert event == OwnerChanged(new_owner="Alicia", occurred_at=NOW)


@pytest.mark.parametrize("entry", ON_A_CAR, ids=lambda entry: entry.name)
def test_commands_on_a_car_that_does_not_exist_are_rejected(entry: CommandEntry) -> None:
    with pytest.raises(CarNotFound):
        decide(None, entry.command.model_validate(entry.example), NOW, car_id=CAR_ID)


def test_adding_a_car_that_exists_is_rejected() -> None:
    with pytest.raises(BusinessRuleViolated):
        decide(a_car(), AddCar(make="a", model="b", owner="c"), NOW)


def test_folding_the_history_gives_the_current_state() -> None:
    later = NOW + timedelta(days=30)
    car = fold(
        None,
        [
            CarAdded(make="Volvo", model="V70", owner="Alice", occurred_at=NOW),
            OilChanged(mileage=1000, charge_cents=10, occurred_at=NOW),
            TiresReplaced(number_of_tires_replaced=2, charge_cents=20, occurred_at=NOW),
            BrakesInspected(mileage=1500, remaining_pad=40, occurred_at=later),
            OwnerChanged(new_owner="Bob", occurred_at=later),
        ],
        car_id=CAR_ID,
    )
    assert car is not None
    assert (car.version, car.owner, car.last_mileage, car.total_charges_cents) == (5, "Bob", 1500, 30)
    assert (car.oil_changes, car.tires_replaced, car.brake_inspections, car.last_remaining_pad) == (
        1,
        2,
        1,
        40,
    )
    assert car.last_serviced == later
    assert format_cents(car.total_charges_cents) == "0.30"


def test_money_is_exact_where_floats_are_not() -> None:
    # Ten charges of 0.10 on a car total exactly 1.00 (as floats they would sum to 0.9999999999999999).
    dime = OilChanged(mileage=1, charge_cents=parse_charge(0.1), occurred_at=NOW)
    added = CarAdded(make="Saab", model="900", owner="Eve", occurred_at=NOW)
    car = fold(None, [added, *[dime] * 10], car_id=CAR_ID)
    assert car is not None
    assert car.total_charges_cents == 100
    assert format_cents(car.total_charges_cents) == "1.00"
    assert parse_charge(0.1) + parse_charge(0.2) == parse_charge("0.30")
    assert format_cents(parse_charge(0.1) + parse_charge(0.2)) == "0.30"
    assert format_cents(5) == "0.05"
    assert format_cents(-105) == "-1.05"
