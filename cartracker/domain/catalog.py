"""The commands the app accepts, each declared once: its class, the event it records, its slug.

Every list of commands is derived from `COMMANDS`: the HTTP functions and their
routes (`functions/commands.py`, `http/commands.py`), the OpenAPI operations and
the links between them (`http/openapi.py`), the test matrices and the benchmark
mix. `tests/unit/test_command_catalog.py` fails when one of them (or the page's
forms) misses a command, or when a command or event class is not declared here. The rules stay
in the command class (its fields) and in `car.decide` (the car's state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic.alias_generators import to_snake

from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, Command, InspectBrakes, ReplaceTires
from cartracker.domain.events import (
    BrakesInspected,
    CarAdded,
    Event,
    OilChanged,
    OwnerChanged,
    TiresReplaced,
)


@dataclass(frozen=True)
class CommandEntry:
    command: type[Command]
    event: type[Event]  # what `decide` records when the command is accepted
    slug: str  # the collection it adds to: `cars` for a new car, else one under the car
    summary: str  # one line, in the imperative, for people (the spec's summary)
    example: Mapping[str, Any] = field(compare=False)  # a valid body on a car just added, as sent

    @property
    def name(self) -> str:
        """`change_oil`: the HTTP function's name and the spec's operationId."""
        return to_snake(self.command.__name__)


ADD_CAR = CommandEntry(
    AddCar, CarAdded, "cars", "Add a car", {"make": "Volvo", "model": "V70", "owner": "Alice"}
)
# The commands on a car that exists, in the order the spec lists them.
ON_A_CAR: tuple[CommandEntry, ...] = (
    CommandEntry(
        ChangeOil, OilChanged, "oil-changes", "Record an oil change", {"mileage": 12000, "charge": "49.99"}
    ),
    CommandEntry(
        InspectBrakes,
        BrakesInspected,
        "brake-inspections",
        "Record a brake inspection",
        {"mileage": 12500, "remainingPad": 60},
    ),
    CommandEntry(
        ReplaceTires,
        TiresReplaced,
        "tire-replacements",
        "Record a tire replacement",
        {"numberOfTiresReplaced": 4, "charge": "420.00"},
    ),
    CommandEntry(ChangeOwner, OwnerChanged, "owner-changes", "Change the car's owner", {"newOwner": "Bob"}),
)
COMMANDS: tuple[CommandEntry, ...] = (ADD_CAR, *ON_A_CAR)
