"""The Car aggregate: `decide` turns a command into events, `evolve` folds an event into state.

`decide` raises a `DomainError` when the car's state forbids the command;
`evolve` never raises, because an event is a fact that already happened.

The state also records since when a service has been due by the miles driven or by the brake
pads (the moment of the event that made it due, kept while it stays due): that moment depends on
readings the head does not keep, so it is folded here, once, for every view that needs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import singledispatch

from pydantic import AwareDatetime, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, Command, InspectBrakes, ReplaceTires
from cartracker.domain.events import (
    BrakesInspected,
    CarAdded,
    Event,
    OilChanged,
    OwnerChanged,
    TiresReplaced,
)
from cartracker.domain.service_rules import BRAKE_PADS_DUE_AT_PERCENT, OIL_CHANGE_EVERY_MILES
from cartracker.domain.text import same_name
from cartracker.errors import BusinessRuleViolated, CarNotFound


class OilChange(BaseModel):
    """The last oil change: when, and at what mileage."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    at: AwareDatetime
    mileage: int


class Car(BaseModel):
    """A car's current state: the realtime view, kept in the head document."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    car_id: str
    version: int
    make: str
    model: str
    owner: str
    added_at: AwareDatetime
    updated_at: AwareDatetime
    last_mileage: int | None = None
    last_serviced: AwareDatetime | None = None
    total_charges_cents: int = 0
    oil_changes: int = 0
    brake_inspections: int = 0
    last_remaining_pad: int | None = None
    tires_replaced: int = 0
    owner_changes: int = 0
    last_oil_change: OilChange | None = None
    # Since when the last recorded mileage has been OIL_CHANGE_EVERY_MILES or more past the last oil
    # change's (0 for a car never oil-changed), and since when the last brake inspection's remaining
    # pad has been at most BRAKE_PADS_DUE_AT_PERCENT: None while not due.
    oil_due_by_mileage_since: AwareDatetime | None = None
    brakes_due_since: AwareDatetime | None = None


def decide(car: Car | None, command: Command, now: datetime, *, car_id: str = "") -> list[Event]:
    """The events a command produces on this car, or a `DomainError` saying why not."""
    if isinstance(command, AddCar):
        if car is not None:
            raise BusinessRuleViolated(f"car {car.car_id} already exists", field="carId")
        return [CarAdded(make=command.make, model=command.model, owner=command.owner, occurred_at=now)]
    if car is None:
        raise CarNotFound(car_id)
    if isinstance(command, ChangeOil):
        _check_mileage(car, command.mileage)
        return [OilChanged(mileage=command.mileage, charge_cents=command.charge_cents, occurred_at=now)]
    if isinstance(command, InspectBrakes):
        _check_mileage(car, command.mileage)
        return [
            BrakesInspected(mileage=command.mileage, remaining_pad=command.remaining_pad, occurred_at=now)
        ]
    if isinstance(command, ReplaceTires):
        return [
            TiresReplaced(
                number_of_tires_replaced=command.number_of_tires_replaced,
                charge_cents=command.charge_cents,
                occurred_at=now,
            )
        ]
    if isinstance(command, ChangeOwner):
        # NFKC + case folding + trimming: fullwidth or upper-case letters, or NFD, make no new owner.
        if same_name(command.new_owner, car.owner):
            raise BusinessRuleViolated(f"{car.owner!r} already owns this car", field="newOwner")
        return [OwnerChanged(new_owner=command.new_owner, occurred_at=now)]
    raise TypeError(f"not a car command: {type(command).__name__}")


def _check_mileage(car: Car, mileage: int) -> None:
    if car.last_mileage is not None and mileage < car.last_mileage:
        raise BusinessRuleViolated(
            f"mileage {mileage} is below the last recorded mileage {car.last_mileage}", field="mileage"
        )


def fold(car: Car | None, events: Iterable[Event], *, car_id: str) -> Car | None:
    for event in events:
        car = evolve(car, event, car_id=car_id)
    return car


def evolve(car: Car | None, event: Event, *, car_id: str) -> Car:
    """The state after one more event. The first event must be `CarAdded`."""
    if car is None:
        if not isinstance(event, CarAdded):
            raise TypeError(f"a car's history must start with CarAdded, not {type(event).__name__}")
        return Car(
            car_id=car_id,
            version=1,
            make=event.make,
            model=event.model,
            owner=event.owner,
            added_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    changes = _changes(event, car)
    changes.update(version=car.version + 1, updated_at=event.occurred_at)
    return car.model_copy(update=changes)


@singledispatch
def _changes(event: Event, car: Car) -> dict[str, object]:
    return {}


@_changes.register
def _(event: OilChanged, car: Car) -> dict[str, object]:
    return {
        "last_mileage": event.mileage,
        "last_serviced": event.occurred_at,
        "total_charges_cents": car.total_charges_cents + event.charge_cents,
        "oil_changes": car.oil_changes + 1,
        "last_oil_change": OilChange(at=event.occurred_at, mileage=event.mileage),
        "oil_due_by_mileage_since": None,  # the miles start again from this one's
    }


@_changes.register
def _(event: BrakesInspected, car: Car) -> dict[str, object]:
    return {
        "last_mileage": event.mileage,
        "last_serviced": event.occurred_at,
        "brake_inspections": car.brake_inspections + 1,
        "last_remaining_pad": event.remaining_pad,
        "oil_due_by_mileage_since": _still_due(
            event.mileage - _oil_changed_at_mileage(car) >= OIL_CHANGE_EVERY_MILES,
            car.oil_due_by_mileage_since,
            event.occurred_at,
        ),
        "brakes_due_since": _still_due(
            event.remaining_pad <= BRAKE_PADS_DUE_AT_PERCENT, car.brakes_due_since, event.occurred_at
        ),
    }


def _oil_changed_at_mileage(car: Car) -> int:
    return 0 if car.last_oil_change is None else car.last_oil_change.mileage


def _still_due(due: bool, since: datetime | None, now: datetime) -> datetime | None:
    """When a service became due, if it is due after this event: an earlier moment stays."""
    if not due:
        return None
    return now if since is None else since


@_changes.register
def _(event: TiresReplaced, car: Car) -> dict[str, object]:
    return {
        "last_serviced": event.occurred_at,
        "total_charges_cents": car.total_charges_cents + event.charge_cents,
        "tires_replaced": car.tires_replaced + event.number_of_tires_replaced,
    }


@_changes.register
def _(event: OwnerChanged, car: Car) -> dict[str, object]:
    return {"owner": event.new_owner, "owner_changes": car.owner_changes + 1}
