"""`python -m cartracker serve` as a user runs it: starts, logs each request in one line, stops on Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_serve_answers_logs_each_request_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "cartracker.sqlite3"
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
    try:
        api = wait_for(lines, re.compile(r"listening on (http://\S+/api)")).group(1)
        added = requests.post(
            f"{api}/cars", json={"make": "Saab", "model": "900", "owner": "Eve"}, timeout=10
        )
        assert added.status_code == 201
        wait_for(lines, re.compile(r'"POST /api/cars" 201 \d+B [\d.]+ms add_car'))
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


def iter_queue(lines: queue.Queue[str]) -> list[str]:
    drained = []
    while not lines.empty():
        drained.append(lines.get_nowait())
    return drained
