"""The demo's cars and their histories: made from a fixed seed, so every run plans the same commands.

A car's history is a list of steps, each a command and how many days ago it
happened: added one to two and a half years ago (or in the last weeks), then a
workshop visit every four to seven months (oil change, brake inspection, tires
now and then, a new owner once in a while). Every sixth car is of each kind the
service views pick out: oil change due by time (the last over 200 days ago), by
mileage (over 5,000 miles driven since), brake pads worn to 20 % or less, added
only lately, sold on; the rest are looked after.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from cartracker.domain.commands import AddCar, ChangeOil, ChangeOwner, Command, InspectBrakes, ReplaceTires

SEED = 2026
CAR_COUNT = 36
KINDS = ("looked-after", "oil-due-by-time", "oil-due-by-mileage", "brakes-worn", "new", "sold")

MODELS = (
    ("Toyota", "Corolla"), ("Volkswagen", "Golf"), ("Ford", "Focus"), ("Honda", "Civic"),
    ("Volvo", "V70"), ("Škoda", "Octavia"), ("Subaru", "Outback"), ("Mazda", "3"),
    ("Kia", "Ceed"), ("Hyundai", "i30"), ("Renault", "Clio"), ("Peugeot", "308"),
    ("BMW", "320d"), ("Audi", "A4 Avant"), ("Fiat", "Panda"), ("Saab", "9-3"),
    ("Toyota", "RAV4"), ("Ford", "Transit Custom"),
)  # fmt: skip
OWNERS = (
    "Alice Johnson", "Bob Smith", "José García", "Zoë Williams", "Søren Nielsen", "Aoife Murphy",
    "Łukasz Kowalski", "Mei Chen", "Priya Patel", "Kwame Mensah", "Fatima Al-Sayed", "Dmitri Ivanov",
    "Hannah Müller", "Lucas Martin", "Sofia Rossi", "Noah Brown", "Emma Dubois", "Yuki Tanaka",
    "Olivia Taylor", "Mateo Fernández", "Ingrid Berg", "Tomás Ó Briain", "Grace Lee", "Ahmed Hassan",
)  # fmt: skip
_HOUR = 1 / 24


@dataclass(frozen=True)
class Step:
    days_ago: float
    command: Command


@dataclass(frozen=True)
class DemoCar:
    index: int
    kind: str
    steps: tuple[Step, ...]  # oldest first; the first adds the car, and step k brings it to version k + 1

    def key(self, step: int) -> str:
        """The step's Idempotency-Key; the first also fixes the car's id (see `CommandService.add_car`)."""
        return f"demo-{SEED}-car-{self.index:02d}-step-{step:02d}"


def plan(seed: int = SEED, count: int = CAR_COUNT) -> list[DemoCar]:
    rng = random.Random(seed)  # noqa: S311 - the same made-up histories every run, not secrets
    return [_car(rng, index, KINDS[index % len(KINDS)]) for index in range(count)]


def _car(rng: random.Random, index: int, kind: str) -> DemoCar:
    make, model = rng.choice(MODELS)
    owner = rng.choice(OWNERS)
    added = rng.uniform(2, 25) if kind == "new" else rng.uniform(380, 900)
    steps = [Step(added, AddCar(make=make, model=model, owner=owner))]
    miles_a_day = rng.uniform(70, 110) if kind == "oil-due-by-mileage" else rng.uniform(18, 55)
    mileage = rng.randrange(5, 60) if kind == "new" else rng.randrange(2_000, 120_000, 10)
    pad = rng.randint(60, 100)
    tires_at = mileage + rng.randint(25_000, 40_000)
    last_visit = {"oil-due-by-time": rng.uniform(200, 320), "oil-due-by-mileage": rng.uniform(80, 110)}
    visits = _visit_days(rng, added, last_visit.get(kind, rng.uniform(8, 100)))
    sell_at = visits[len(visits) // 2] if kind == "sold" and visits else None
    day = added
    for visit in visits:
        mileage += round((day - visit) * miles_a_day * rng.uniform(0.8, 1.2))
        day = visit
        steps.append(_at(visit, ChangeOil, mileage=mileage, charge=_price(rng, 45, 130)))
        pad -= rng.randint(6, 14)
        if kind == "brakes-worn" and visit == visits[-1]:
            pad = rng.randint(8, 20)
        elif pad < 25:
            pad = 100  # worn pads are replaced at the visit, and the inspection sees the new ones
        steps.append(_at(visit - _HOUR, InspectBrakes, mileage=mileage, remainingPad=pad))
        if mileage >= tires_at:
            tires = rng.choice((2, 4, 4))
            charge = _price(rng, 90 * tires, 220 * tires)
            steps.append(_at(visit - 2 * _HOUR, ReplaceTires, numberOfTiresReplaced=tires, charge=charge))
            tires_at = mileage + rng.randint(25_000, 40_000)
        if visit == sell_at:
            new_owner = rng.choice([name for name in OWNERS if name != owner])
            steps.append(_at(visit - 3 * _HOUR, ChangeOwner, newOwner=new_owner))
    if kind == "oil-due-by-mileage" and visits:
        since = rng.uniform(2, 10)  # an inspection lately records the miles driven since the oil change
        driven = max(5_500, round((day - since) * miles_a_day))
        steps.append(_at(since, InspectBrakes, mileage=mileage + driven, remainingPad=max(pad - 5, 35)))
    return DemoCar(index, kind, tuple(steps))


def _visit_days(rng: random.Random, added: float, last: float) -> list[float]:
    """Days ago of each workshop visit, oldest first, the newest `last` days ago."""
    days: list[float] = []
    while last < added - 30:
        days.append(last)
        last += rng.uniform(120, 210)
    return days[::-1]


def _at(days_ago: float, command: type[Command], **body: Any) -> Step:
    # As a client sends it (camelCase, charges as decimal strings), checked by the command's own rules.
    return Step(days_ago, command.model_validate(body))


def _price(rng: random.Random, low: int, high: int) -> str:
    return f"{rng.randint(low, high)}.{rng.choice(('00', '50', '90', '95', '99'))}"
