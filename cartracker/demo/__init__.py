"""`python -m cartracker demo`: cars and histories in the local store, so every view has something to show.

The cars go in through the command service, as a client's requests do: the
same rules, events, heads and idempotency records. Each step happens on the date
its plan gives (`plan.py`): the service's clock is set to that date before the
command runs, so histories reach back months and the service views see oil
changes that are overdue.

Running it again adds nothing. Each command carries an Idempotency-Key made
from the fixed seed, so "add car" lands on the same car id every time; and a
step runs only on the version its plan expects (If-Match), so a car that has all
its steps is left alone, one changed by hand too, and a run that was interrupted
is finished by the next. (The idempotency records are dated with their steps, so
most have expired at once: the versions, not the records, make a rerun a no-op.)
"""

from __future__ import annotations

import argparse
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from cartracker import db_path
from cartracker.bootstrap import Services, bootstrap
from cartracker.demo.plan import CAR_COUNT, DemoCar, plan
from cartracker.domain.commands import AddCar
from cartracker.errors import CarNotFound, DomainError, PreconditionFailed
from cartracker.service.commands import _ADD_CAR_NAMESPACE
from cartracker.settings import Settings

log = logging.getLogger("cartracker.demo")


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], *, default_db: str) -> None:
    """Add `demo` to the `python -m cartracker` parser."""
    demo = commands.add_parser(
        "demo",
        help="fill the local store with demo cars and their service histories",
        description=f"Add {CAR_COUNT} cars with service histories reaching back up to 30 months to the "
        "SQLite file --db (created if missing), through the command service, so the car list, a car's "
        "history and the service views have something to show. Running it again adds nothing.",
    )
    demo.add_argument(
        "--db", default=default_db, help="SQLite file, created if missing (default: %(default)s)"
    )
    demo.set_defaults(
        run=_run,
        default_db=default_db,
        interrupted="interrupted: what was written stays; run the demo again to finish",
    )


class StepClock:
    """The command service's clock during the demo: it reads the date of the step about to run."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Filled:
    cars: int  # demo cars in the store now
    added: int  # of which this run added
    commands: int  # commands this run applied, "add car" included
    skipped: int  # demo cars someone changed by hand: the rest of their plan is left out


def fill(services: Services, clock: StepClock, cars: Sequence[DemoCar], *, now: datetime) -> Filled:
    """Apply every step the store does not have yet; `services` must run on `clock`."""
    added = applied = skipped = 0
    for car in cars:
        car_id = demo_car_id(car)
        version = _progress(services, car, car_id)
        if version is None:
            log.warning("left demo car %s as it is: it has commands the demo did not send", car_id)
            skipped += 1
            continue
        for k in range(version, len(car.steps)):
            step = car.steps[k]
            clock.now = now - timedelta(days=step.days_ago)
            try:
                if isinstance(step.command, AddCar):
                    result = services.commands.add_car(step.command, idempotency_key=car.key(k))
                else:
                    result = services.commands.execute(
                        car_id, step.command, expected_version=k, idempotency_key=car.key(k)
                    )
            except (DomainError, PreconditionFailed) as exc:  # someone changed the car just now
                log.warning("left demo car %s as it is: %s", car_id, exc.message)
                skipped += 1
                break
            applied += not result.replayed
            added += k == 0 and not result.replayed
    return Filled(cars=len(cars), added=added, commands=applied, skipped=skipped)


def demo_car_id(car: DemoCar) -> str:
    """The id `CommandService.add_car` gives the car, from its Idempotency-Key: known before the car
    is, so a run can tell what is there already even after the key's record has expired."""
    return str(uuid.uuid5(_ADD_CAR_NAMESPACE, car.key(0)))


def _progress(services: Services, car: DemoCar, car_id: str) -> int | None:
    """How many of the car's steps the store has (its version), or None when its newest event is not
    the demo's step: someone changed the car, and the rest of the plan may not fit it any more."""
    try:
        version = services.queries.car(car_id).version
    except CarNotFound:
        return 0
    [newest] = services.queries.history(car_id, after_version=version - 1, page_size=1).events
    return version if newest.command_id == car.key(version - 1) else None


def _run(args: argparse.Namespace) -> int:
    clock = StepClock()
    settings = replace(Settings.from_env(), store="sqlite", sqlite_path=args.db)
    with db_path.opening(args.db):  # a bad path is one line, exit status 2 (see __main__)
        services = bootstrap(settings, clock=clock)
    filled = fill(services, clock, plan(), now=datetime.now(UTC))
    if filled.commands:
        print(
            f"demo: {filled.cars} cars in {args.db}: added {filled.added} cars and {filled.commands} commands"
        )
    else:
        print(f"demo: {filled.cars} cars in {args.db}, all there already: nothing added")
    serve = "make run" if args.db == args.default_db else f"python -m cartracker serve --db {args.db}"
    print(f"see them: {serve}, then open http://127.0.0.1:7071/api/ui")
    return 0
