"""`python -m cartracker projections`: the status table, from the same figures as the admin route."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cartracker.domain.commands import AddCar
from cartracker.projection.registry import names
from cartracker.projection_cli import add_command
from tests.support.functions import sqlite_services


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m cartracker")
    add_command(parser.add_subparsers(dest="command", required=True), default_db="unused.sqlite3")
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


def test_the_table_lists_every_projection_with_its_lag_pending_changes_and_parked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "store.sqlite3"
    services = sqlite_services(db)
    services.commands.add_car(AddCar(make="Volvo", model="V70", owner="Ann"))
    changes, _ = services.backend.read_changes("events", after=0, limit=100)
    services.projectors["car-list"].apply(changes)  # service-due has seen nothing yet

    assert run(["projections", "--db", str(db)]) == 0

    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "projection",
        "lag",
        "pending",
        "last",
        "applied",
        "parked",
        "delay",
        "p50/p95/max",
    ]
    rows = {line.split()[0]: line.split() for line in lines}
    assert list(rows) == list(names())
    assert rows["car-list"][1:3] == ["0s", "0"]
    assert rows["car-list"][-2] == "0"
    p50, p95, most = (float(figure) for figure in rows["car-list"][-1].removesuffix("s").split("/"))
    assert 0 <= p50 <= p95 <= most, "one event applied: its delay"
    assert rows["service-due"][1:] == ["unknown", "2", "never", "0", "none", "yet"], (
        "an event and a head to deliver"
    )
