"""`python -m cartracker rebuild NAME`: the rebuild over the embedded store, from the command line.

The heavy imports wait until the command runs, so that `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace

from cartracker import db_path
from cartracker.rebuild import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, VIEWS

log = logging.getLogger("cartracker.rebuild")


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], *, default_db: str) -> None:
    """Add `rebuild NAME` to the `python -m cartracker` parser."""
    rebuild = commands.add_parser(
        "rebuild",
        help="re-derive a projection from the heads, as the Durable Functions orchestration does",
        description="Rebuild a projection over the embedded SQLite store --db, in place: safe beside a "
        "running `serve`. The local host cannot run Durable Functions; this runs the same orchestrator and "
        "activities, inline and in order, and prints a summary as JSON.",
    )
    # Checked when the command runs, so that an unknown name is one line, not argparse's usage text.
    rebuild.add_argument("view", metavar="NAME", help=f"the projection to rebuild: {', '.join(VIEWS)}")
    rebuild.add_argument("--db", default=default_db, help="SQLite file (default: %(default)s)")
    rebuild.add_argument(
        "--page-size",
        type=_page_size,
        default=DEFAULT_PAGE_SIZE,
        help=f"heads per page, 1-{MAX_PAGE_SIZE} (default: %(default)s)",
    )
    rebuild.set_defaults(
        run=_run, interrupted="interrupted: the view may be part-rebuilt; run the rebuild again to finish"
    )


def _page_size(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be a whole number 1-{MAX_PAGE_SIZE}, not {text!r}")
    return int(text)


def _run(args: argparse.Namespace) -> int:
    from cartracker.bootstrap import bootstrap  # noqa: PLC0415 - see the module docstring
    from cartracker.rebuild.local import run_rebuild  # noqa: PLC0415
    from cartracker.rebuild.orchestrator import RebuildFailed, RebuildInput  # noqa: PLC0415
    from cartracker.settings import Settings  # noqa: PLC0415

    if args.view not in VIEWS:
        log.error("no projection is called %r; registered: %s", args.view, ", ".join(VIEWS))
        return 2
    settings = replace(Settings.from_env(), store="sqlite", sqlite_path=args.db)
    with db_path.opening(args.db, create=False):  # a bad path is one line, exit status 2 (see __main__)
        services = bootstrap(settings)
    log.info(
        "rebuilding %s in %s (%d shards, pages of %d heads); Durable Functions do not run locally, "
        "so the orchestration's activities run here, in order",
        args.view,
        args.db,
        settings.list_shards,
        args.page_size,
    )
    try:
        job = RebuildInput(projection=args.view, shards=settings.list_shards, page_size=args.page_size)
        summary = run_rebuild(services, job)
    except RebuildFailed as exc:
        log.error("%s", exc.message)
        return 1
    print(json.dumps(summary, indent=2))  # the command's output; the log goes to stderr
    return 0
