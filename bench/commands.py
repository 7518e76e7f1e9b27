"""The command mix the throughput runs send: every command on a car in turn, valid every time.

The commands and their routes come from the catalog; what is written here is a
body per command such that each is accepted whatever came before: mileage only
grows per car, and each owner change names a new owner. So the runs measure the
path that appends an event, not the path that refuses one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cartracker.domain import commands as domain
from cartracker.domain.catalog import ON_A_CAR, CommandEntry

NEW_CAR: dict[str, Any] = {"make": "Volvo", "model": "V70", "owner": "Ann Andersson"}
Body = Callable[[int], dict[str, Any]]  # the body of a car's command number `turn` (from 0)


def _mileage(turn: int) -> int:
    return 1_000 + turn * 250


BODIES: dict[type[domain.Command], Body] = {
    domain.ChangeOil: lambda turn: {"mileage": _mileage(turn), "charge": "49.99"},
    domain.InspectBrakes: lambda turn: {"mileage": _mileage(turn), "remainingPad": 70},
    domain.ReplaceTires: lambda turn: {"numberOfTiresReplaced": 4, "charge": "420.00"},
    domain.ChangeOwner: lambda turn: {"newOwner": f"Owner {turn}"},
}


def bodies(commands: Sequence[CommandEntry]) -> dict[str, Body]:
    """Each command's body by its route; a command without one in `BODIES` stops the run before it starts."""
    missing = [entry.command.__name__ for entry in commands if entry.command not in BODIES]
    if missing:
        raise LookupError(f"bench/commands.py: write a body in BODIES for {', '.join(missing)}")
    return {entry.slug: BODIES[entry.command] for entry in commands}


ROUTES = tuple(entry.slug for entry in ON_A_CAR)


@dataclass(frozen=True)
class Command:
    car_id: str
    route: str  # one of ROUTES
    body: dict[str, Any]


def command_mix(car_ids: list[str], count: int) -> Iterator[Command]:
    """`count` commands over the cars round-robin, cycling through the commands on a car."""
    by_route = bodies(ON_A_CAR)
    cars = itertools.cycle(car_ids)
    for n in range(count):
        car_id = next(cars)
        turn = n // len(car_ids)  # how many commands this car has had before this one
        route = ROUTES[turn % len(ROUTES)]
        yield Command(car_id, route, by_route[route](turn))
