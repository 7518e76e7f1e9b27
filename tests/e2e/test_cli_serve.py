"""`python -m cartracker serve` as a user runs it: starts, logs each request in one line, stops on Ctrl-C.

Also what ends it early or abruptly: a second Ctrl-C while it stops, and a `--db` the process may
not write (file modes; root is made to obey them by dropping its capability to ignore them).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def test_serve_answers_logs_each_request_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "cartracker.sqlite3"
    process, lines, reader = start_serving(db)
    try:
        api = wait_for(lines, re.compile(r"listening on (http://\S+/api)")).group(1)
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        added = requests.post(
            f"{api}/cars",
            json={"make": "Saab", "model": "900", "owner": "Eve"},
            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
            timeout=10,
        )
        assert added.status_code == 201
        # The caller's trace reaches the function, comes back in the answer and lands on the event.
        assert re.fullmatch(rf"00-{trace_id}-[0-9a-f]{{16}}-01", added.headers["traceparent"])
        history = requests.get(f"{api}/cars/{added.json()['carId']}/events", timeout=10).json()
        assert [item["correlationId"] for item in history["items"]] == [trace_id]
        # The request is logged, and the projectors log the change they applied with the same ids:
        # a log query joins the request to the rows it changed. In whichever order they come.
        causation = history["items"][0]["causationId"]
        wait_for_all(
            lines,
            [
                re.compile(r'"POST /api/cars" 201 \d+B [\d.]+ms add_car'),
                *(
                    re.compile(
                        rf"{projection} applied {added.json()['carId']} v1 to {family}:\d+ after [\d.]+ s "
                        rf"\(correlationId={trace_id} causationId={causation}\)"
                    )
                    for projection, family in (("car-list", "carList"), ("service-due", "serviceDue"))
                ),
            ],
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    rest = "".join(iter_queue(lines))
    assert "stopped" in rest
    assert "Traceback" not in rest
    assert db.exists()


def wait_for(lines: queue.Queue[str], pattern: re.Pattern[str], timeout: float = 20.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if found := pattern.search(line):
            return found
    raise AssertionError(f"no line matched {pattern.pattern!r}; got:\n{''.join(seen)}")


def wait_for_all(lines: queue.Queue[str], patterns: list[re.Pattern[str]], timeout: float = 20.0) -> None:
    """Wait until each pattern has matched a line, in any order."""
    deadline = time.monotonic() + timeout
    missing, seen = list(patterns), []
    while missing and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        missing = [pattern for pattern in missing if not pattern.search(line)]
    assert not missing, f"no line matched {[p.pattern for p in missing]!r}; got:\n{''.join(seen)}"


def iter_queue(lines: queue.Queue[str]) -> list[str]:
    drained = []
    while not lines.empty():
        drained.append(lines.get_nowait())
    return drained


# --- a second Ctrl-C, and a --db this process may not write --------------------------------------


def start_serving(db: Path) -> tuple[subprocess.Popen[str], queue.Queue[str], threading.Thread]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cartracker", "serve", "--port", "0", "--db", str(db)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    stderr = process.stderr

    def read_lines() -> None:
        for line in stderr:
            lines.put(line)

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    return process, lines, reader


@pytest.mark.parametrize(
    "second_after",
    [0.0, 0.001, 0.005, 0.02, "stopping"],
    ids=["at-once", "1ms", "5ms", "20ms", "once-stopping"],
)
def test_a_second_ctrl_c_while_stopping_exits_without_a_traceback(
    tmp_path: Path, second_after: float | str
) -> None:
    """The first Ctrl-C stops cleanly (0); one more while it stops ends it at once (130), in one line."""
    process, lines, reader = start_serving(tmp_path / "cartracker.sqlite3")
    try:
        wait_for(lines, re.compile(r"listening on"))
        process.send_signal(signal.SIGINT)
        if second_after == "stopping":
            wait_for(lines, re.compile(r"stopping"))
        else:
            time.sleep(float(second_after))
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    stderr = "".join(iter_queue(lines))
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    assert code in (0, 130), stderr
    if code == 130:
        assert "python -m cartracker serve: interrupted again while stopping: stopped at once" in stderr


def unprivileged(argv: list[str]) -> list[str]:
    """Run `argv` as file modes bind any user: root ignores them unless it drops these capabilities."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    # util-linux (always installed on Debian) has it; a machine without it fails here, never skips.
    assert setpriv is not None, "running as root, and without setpriv file modes cannot be made to apply"
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--", *argv]


def a_database(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (x)")
    return path


def a_read_only_database(tmp: Path) -> Path:
    db = a_database(tmp / "cartracker.sqlite3")
    db.chmod(0o444)
    return db


def a_database_in_a_read_only_directory(tmp: Path) -> Path:
    folder = tmp / "locked"
    folder.mkdir()
    db = a_database(folder / "cartracker.sqlite3")
    folder.chmod(0o555)
    return db


def a_new_database_in_a_read_only_directory(tmp: Path) -> Path:
    folder = tmp / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    return folder / "sub" / "cartracker.sqlite3"


READ_ONLY = {
    "serve": ["serve", "--port", "0"],
    "demo": ["demo"],
    "rebuild": ["rebuild", "car-list"],
}


@pytest.mark.parametrize(
    ("command", "make_path", "says"),
    [
        pytest.param(
            command,
            a_read_only_database,
            r"cartracker\.sqlite3 is read-only: make it writable \(chmod u\+w ",
            id=f"{command}-read-only-file",
        )
        for command in READ_ONLY
    ]
    + [
        pytest.param(
            "serve",
            a_database_in_a_read_only_directory,
            r"cannot write in \S+locked, where SQLite keeps ",
            id="serve-read-only-directory",
        ),
        pytest.param(
            "demo",
            a_new_database_in_a_read_only_directory,
            r"the directory \S+locked is not writable: pass --db",
            id="demo-new-file-in-read-only-directory",
        ),
    ],
)
def test_a_db_this_process_may_not_write_is_refused_in_one_line(
    tmp_path: Path, command: str, make_path: Callable[[Path], Path], says: str
) -> None:
    path = make_path(tmp_path)
    try:
        done = subprocess.run(
            unprivileged([sys.executable, "-m", "cartracker", *READ_ONLY[command], "--db", str(path)]),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        for folder in tmp_path.rglob("locked"):
            folder.chmod(0o755)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"python -m cartracker {command}: error: "), line
    assert str(path.parent) in line
    assert re.search(says, line), line
