"""`python -m cartracker <command>`: run CarTracker on this machine, with no Azure at all.

serve   host `function_app` over the embedded SQLite store (what `make run` calls)
demo    fill that store with a few dozen cars and their histories (what `make demo` calls)
rebuild re-derive a projection over that store (the Durable orchestration, run inline)
projections how far behind each projection is, and what it parked

Errors a user can fix end the command with one line that says what to do: a bad
`--db` names the path and the fix (exit status 2). Ctrl-C stops `serve` cleanly
(status 0); a second Ctrl-C while it shuts down stops it at once, as Ctrl-C does
`demo` and `rebuild`: one line, no traceback, status 130 (128 + SIGINT, what a
shell reports for a command ended by Ctrl-C).
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
from collections.abc import Sequence

from cartracker import bootstrap, db_path
from cartracker.demo import add_command as demo_command
from cartracker.errors import StoreUnavailable
from cartracker.projection_cli import add_command as projections_command
from cartracker.rebuild.cli import add_command as rebuild_command
from cartracker.settings import SETTING_SQLITE_PATH, SETTING_STORE, ConfigurationError

DEFAULT_DB = ".data/cartracker.sqlite3"
INTERRUPTED = 128 + signal.SIGINT

_DESCRIPTION = (
    "Run CarTracker on this machine, with no Azure at all: the HTTP API and its web page over an "
    "embedded SQLite store, demo data, and projection rebuilds. Each command has its own --help."
)
_SERVE = (
    "Serve the HTTP API, the web page (/api/ui) and the change-feed projections over the SQLite file "
    "--db, created if missing. A development server: Ctrl-C stops it cleanly; a second Ctrl-C while "
    "it stops ends it at once (exit status 130)."
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cartracker", description=_DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    serve = commands.add_parser("serve", help="serve the HTTP API locally over SQLite", description=_SERVE)
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
    serve.set_defaults(run=_serve, interrupted="interrupted again while stopping: stopped at once")
    demo_command(commands, default_db=DEFAULT_DB)
    rebuild_command(commands, default_db=DEFAULT_DB)
    projections_command(commands, default_db=DEFAULT_DB)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.run(args)
    except (db_path.UnusableDb, ConfigurationError) as exc:
        return _fail(args.command, str(exc), 2)
    except StoreUnavailable as exc:
        return _fail(args.command, f"the store at {args.db} failed: {exc.message}", 1)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a third Ctrl-C would interrupt this line
        said = getattr(args, "interrupted", "interrupted")  # a command may say what is left to do
        print(f"python -m cartracker {args.command}: {said}", file=sys.stderr)
        return INTERRUPTED
    return code


def _fail(command: str, message: str, code: int) -> int:
    print(f"python -m cartracker {command}: error: {message}", file=sys.stderr)
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

    with db_path.opening(args.db):  # a bad path fails here, in one line, not on the first request
        # The functions build their services from the environment, as they do in Azure.
        os.environ[SETTING_STORE] = "sqlite"
        os.environ[SETTING_SQLITE_PATH] = args.db
        store = bootstrap.services().backend
    try:
        serve(
            args.host,
            args.port,
            workers=change_feed_pumps(app_index().change_feed, store),
            allowed_hosts=args.allow_host,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail(
                "serve",
                f"port {args.port} on {args.host} is in use (another `make run`?): stop that server, or "
                f"pass another port (make run PORT={args.port + 1}; --port 0 picks a free one)",
                1,
            )
        return _fail("serve", f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", 1)
    # Stopped cleanly: from here a Ctrl-C could only interrupt the interpreter's exit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
