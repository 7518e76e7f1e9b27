"""The command mix the throughput runs send: the four car commands in turn, valid every time.

Mileage only grows per car, and each owner change names a new owner, so every
command is accepted: the runs measure the path that appends an event, not the
path that refuses one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ROUTES = ("oil-changes", "brake-inspections", "tire-replacements", "owner-changes")
NEW_CAR: dict[str, Any] = {"make": "Volvo", "model": "V70", "owner": "Ann Andersson"}


@dataclass(frozen=True)
class Command:
    car_id: str
    route: str  # one of ROUTES
    body: dict[str, Any]


def command_mix(car_ids: list[str], count: int) -> Iterator[Command]:
    """`count` commands over the cars round-robin, cycling through the four kinds."""
    cars = itertools.cycle(car_ids)
    for n in range(count):
        car_id = next(cars)
        turn = n // len(car_ids)  # how many commands this car has had before this one
        route = ROUTES[turn % len(ROUTES)]
        yield Command(car_id, route, _body(route, turn))


def _body(route: str, turn: int) -> dict[str, Any]:
    mileage = 1_000 + turn * 250
    if route == "oil-changes":
        return {"mileage": mileage, "charge": "49.99"}
    if route == "brake-inspections":
        return {"mileage": mileage, "remainingPad": 70}
    if route == "tire-replacements":
        return {"numberOfTiresReplaced": 4, "charge": "420.00"}
    return {"newOwner": f"Owner {turn}"}
