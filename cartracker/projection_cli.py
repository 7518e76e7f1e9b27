"""`python -m cartracker projections`: every projection's status over the embedded store, as a table.

The same figures as `GET /api/manage/projections`. The heavy imports wait until the
command runs, so that `--help` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from cartracker import db_path

if TYPE_CHECKING:
    from cartracker.projection.status import ProjectionStatus

_COLUMNS = ("projection", "lag", "pending", "last applied", "parked", "delay p50/p95/max")


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], *, default_db: str) -> None:
    """Add `projections` to the `python -m cartracker` parser."""
    projections = commands.add_parser(
        "projections",
        help="how far behind each projection is, and what it has parked",
        description="Print each registered projection's status over the embedded SQLite store --db: its "
        "lag in seconds, the changes still to deliver to it, when it last applied a batch, and how many "
        "changes it has parked, and its delay (occurredAt to applied) over its last events. Safe beside a "
        "running `serve`: it only reads.",
    )
    projections.add_argument("--db", default=default_db, help="SQLite file (default: %(default)s)")
    projections.set_defaults(run=_run, interrupted="interrupted")


def _run(args: argparse.Namespace) -> int:
    from cartracker.bootstrap import bootstrap  # noqa: PLC0415 - see the module docstring
    from cartracker.settings import Settings  # noqa: PLC0415

    settings = replace(Settings.from_env(), store="sqlite", sqlite_path=args.db)
    with db_path.opening(args.db, create=False):  # a bad path is one line, exit status 2 (see __main__)
        services = bootstrap(settings)
    print(table(services.statuses.all()))
    return 0


def table(statuses: Sequence[ProjectionStatus]) -> str:
    """The statuses as aligned text columns, one line per projection."""
    rows = [_COLUMNS] + [
        (
            status.name,
            "unknown" if status.lag_seconds is None else f"{status.lag_seconds:g}s",
            "unknown" if status.pending_changes is None else str(status.pending_changes),
            status.last_applied_at or "never",
            str(status.parked),
            "none yet"
            if status.delay is None
            else f"{status.delay.p50_seconds:g}/{status.delay.p95_seconds:g}/{status.delay.max_seconds:g}s",
        )
        for status in statuses
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
