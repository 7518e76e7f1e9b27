"""`python -m cartracker demo`: a few dozen cars with dated histories, added once however often it runs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cartracker.__main__ import main
from cartracker.bootstrap import Services, bootstrap
from cartracker.demo import StepClock, demo_car_id, fill
from cartracker.demo.plan import CAR_COUNT, DemoCar, plan
from cartracker.domain.commands import ChangeOil, ChangeOwner, InspectBrakes
from cartracker.settings import SETTING_SQLITE_PATH, SETTING_STORE, Settings

PLANNED_COMMANDS = sum(len(car.steps) for car in plan())


def store_at(path: Path, clock: StepClock | None = None) -> Services:
    settings = Settings.from_env({SETTING_STORE: "sqlite", SETTING_SQLITE_PATH: str(path)})
    return bootstrap(settings) if clock is None else bootstrap(settings, clock=clock)


def documents(services: Services) -> Counter[str]:
    """Documents in the events container by type, read from its change feed."""
    docs, _ = services.backend.read_changes("events", after=0, limit=100_000)
    return Counter(doc["docType"] for doc in docs if doc["docType"] != "idempotency")


def test_the_demo_adds_a_few_dozen_cars_and_running_it_again_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "new" / "demo.sqlite3"
    assert main(["demo", "--db", str(db)]) == 0
    assert f"added {CAR_COUNT} cars and {PLANNED_COMMANDS} commands" in capsys.readouterr().out
    first = documents(store_at(db))
    assert first == {"head": CAR_COUNT, "event": PLANNED_COMMANDS}
    assert 24 <= CAR_COUNT <= 60
    assert PLANNED_COMMANDS >= 5 * CAR_COUNT

    assert main(["demo", "--db", str(db)]) == 0
    assert "nothing added" in capsys.readouterr().out
    assert documents(store_at(db)) == first


def test_each_demo_car_is_where_its_add_car_key_puts_it_with_its_whole_history(tmp_path: Path) -> None:
    clock = StepClock()
    services = store_at(tmp_path / "demo.sqlite3", clock)
    filled = fill(services, clock, plan(), now=datetime.now(UTC))
    assert (filled.added, filled.commands, filled.skipped) == (CAR_COUNT, PLANNED_COMMANDS, 0)
    for car in plan():
        state = services.queries.car(demo_car_id(car))
        assert state.version == len(car.steps)
        owners = [step.command.new_owner for step in car.steps if isinstance(step.command, ChangeOwner)]
        assert state.owner == (owners[-1] if owners else car.steps[0].command.model_dump()["owner"])


def test_a_run_after_the_idempotency_records_expired_still_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    assert main(["demo", "--db", str(db)]) == 0
    later = StepClock()
    later.now = datetime.now(UTC) + timedelta(days=2)  # past every record's 24 h retention
    services = store_at(db, later)
    assert services.events.purge_expired_records() > 0
    before = documents(services)
    filled = fill(services, later, plan(), now=later.now)
    assert (filled.added, filled.commands) == (0, 0)
    assert documents(services) == before


def test_an_interrupted_demo_is_finished_by_the_next_run(tmp_path: Path) -> None:
    clock = StepClock()
    services = store_at(tmp_path / "demo.sqlite3", clock)
    cars = plan()
    part = [DemoCar(car.index, car.kind, car.steps[: (len(car.steps) + 1) // 2]) for car in cars[:20]]
    now = datetime.now(UTC)
    first = fill(services, clock, part, now=now)
    rest = fill(services, clock, cars, now=now)
    assert first.commands + rest.commands == PLANNED_COMMANDS
    assert (first.added, rest.added) == (20, CAR_COUNT - 20)
    assert documents(services) == {"head": CAR_COUNT, "event": PLANNED_COMMANDS}


def test_a_demo_car_changed_by_hand_is_left_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    clock = StepClock()
    services = store_at(db, clock)
    [car] = [car for car in plan() if car.kind == "looked-after"][:1]
    partial = DemoCar(car.index, car.kind, car.steps[:1])
    fill(services, clock, [partial], now=datetime.now(UTC))
    services.commands.execute(demo_car_id(car), ChangeOwner(newOwner="Someone Else"))  # the user's own
    filled = fill(services, clock, [car], now=datetime.now(UTC))
    assert (filled.commands, filled.skipped) == (0, 1)
    assert services.queries.car(demo_car_id(car)).owner == "Someone Else"


def test_every_history_is_in_order_in_the_past_and_every_run_plans_the_same() -> None:
    assert plan() == plan()
    assert len({car.key(0) for car in plan()}) == CAR_COUNT
    for car in plan():
        days = [step.days_ago for step in car.steps]
        assert days == sorted(days, reverse=True)
        assert len(set(days)) == len(days)
        assert days[-1] > 0
        mileages = [step.command.mileage for step in car.steps if hasattr(step.command, "mileage")]
        assert mileages == sorted(mileages)


def test_the_histories_give_every_service_view_cars_to_show() -> None:
    """What the service-due rules pick out: oil 180 days or 5,000 miles ago, brake pads at 20 % or less."""
    found: dict[str, set[str]] = {"oil-by-time": set(), "oil-by-mileage": set(), "brakes": set()}
    for car in plan():
        oil = [step for step in car.steps if isinstance(step.command, ChangeOil)]
        brakes = [step.command for step in car.steps if isinstance(step.command, InspectBrakes)]
        last_mileage = max((c.mileage for c in brakes), default=oil[-1].command.mileage if oil else 0)
        if oil and oil[-1].days_ago >= 180:
            found["oil-by-time"].add(car.kind)
        if oil and isinstance(oil[-1].command, ChangeOil) and last_mileage - oil[-1].command.mileage >= 5000:
            found["oil-by-mileage"].add(car.kind)
        if brakes and brakes[-1].remaining_pad <= 20:
            found["brakes"].add(car.kind)
    assert found == {
        "oil-by-time": {"oil-due-by-time"},
        "oil-by-mileage": {"oil-due-by-mileage"},
        "brakes": {"brakes-worn"},
    }
