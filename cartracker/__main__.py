"""`python -m cartracker <command>`: run CarTracker with no Azure at all.

serve   host `function_app` over the embedded SQLite store (what `make run` calls)
rebuild re-derive a projection over that store (the Durable orchestration, run inline)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from cartracker import bootstrap
from cartracker.rebuild.cli import add_command as rebuild_command
from cartracker.settings import SETTING_SQLITE_PATH, SETTING_STORE

DEFAULT_DB = ".data/cartracker.sqlite3"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cartracker", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    serve = commands.add_parser("serve", help="serve the HTTP API locally over SQLite")
    serve.add_argument(
        "--host", default="127.0.0.1", type=_host_name, help="interface to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=7071, help="port; 0 picks a free one (default: %(default)s)"
    )
    serve.add_argument(
        "--db", default=DEFAULT_DB, help="SQLite file, created if missing (default: %(default)s)"
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        type=_host_name,
        metavar="NAME",
        help="also answer requests whose Host is NAME (repeatable); loopback names and --host always are",
    )
    serve.set_defaults(run=_serve)
    rebuild_command(commands, default_db=DEFAULT_DB)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    code: int = args.run(args)
    return code


def _host_name(value: str) -> str:
    from cartracker.localhost.hosts import AllowedHosts  # noqa: PLC0415 - keeps `--help` fast

    try:
        AllowedHosts.for_interface("localhost", [value])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def _serve(args: argparse.Namespace) -> int:
    from cartracker.localhost.changefeed import change_feed_pumps  # noqa: PLC0415
    from cartracker.localhost.index import app_index  # noqa: PLC0415
    from cartracker.localhost.server import serve  # noqa: PLC0415 - keeps `--help` fast

    # The functions build their services from the environment, as they do in Azure.
    os.environ[SETTING_STORE] = "sqlite"
    os.environ[SETTING_SQLITE_PATH] = args.db
    store = bootstrap.services().backend  # opened now: a bad path fails here, not on the first request
    try:
        serve(
            args.host,
            args.port,
            workers=change_feed_pumps(app_index().change_feed, store),
            allowed_hosts=args.allow_host,
        )
    except OSError as exc:
        logging.getLogger("cartracker").error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
