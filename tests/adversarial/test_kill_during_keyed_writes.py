"""kill -9 of the local host while keyed writers hammer one car, then a restart on the same file.

Eight clients each send their commands with an Idempotency-Key and, like a
careful client, retry the same key until they get a definite answer (a
connection refused or reset, a 409 and a 503 all mean "try again"). The
server is killed twice mid-stream. Afterwards: every 2xx a client saw is in
the history exactly once, no key was applied twice, the money adds up, and
the car list agrees once the projector has caught up.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import requests

WRITERS = 8
COMMANDS_PER_WRITER = 12
KILL_AFTER = (25, 60)  # successes seen before each kill -9
LATE_RETRIES = 3  # each writer's first commands, sent again at the end
DEADLINE_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    db: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: list[Path] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        out = self.db.parent / f"serve-{len(self.log)}.log"
        self.log.append(out)
        with out.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cartracker", "serve", "--port", str(self.port), "--db", str(self.db)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, out.read_text()
            try:
                if requests.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the server did not come up: {out.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(db=tmp_path / "store.sqlite3", port=free_port())
    running.start()
    yield running
    running.stop()


@dataclass
class Outcome:
    key: str
    charge: Decimal
    status: int
    version: int


def test_no_acknowledged_write_is_lost_and_no_keyed_command_applied_twice_across_kill_9(
    server: Server,
) -> None:
    car = requests.post(
        f"{server.api}/cars", json={"make": "Volvo", "model": "V70", "owner": "Kim"}, timeout=10
    ).json()
    car_id = car["carId"]
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    successes = threading.Semaphore(0)
    stop = threading.Event()
    deadline = time.monotonic() + DEADLINE_SECONDS

    def send(key: str, body: dict[str, object], session: requests.Session) -> requests.Response:
        url = f"{server.api}/cars/{car_id}/tire-replacements"
        while time.monotonic() < deadline and not stop.is_set():
            try:
                answer = session.post(url, json=body, headers={"Idempotency-Key": key}, timeout=10)
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.02)  # the server is down or restarting: retry the same key
                continue
            if answer.status_code in (409, 503):
                continue
            return answer
        raise AssertionError(f"{key} got no definite answer before the deadline")

    def body(number: int, i: int) -> dict[str, object]:
        return {"numberOfTiresReplaced": 1 + i % 4, "charge": f"{number + 1}.{i:02d}"}

    def writer(number: int) -> None:
        with requests.Session() as session:
            for i in range(COMMANDS_PER_WRITER):
                key = f"w{number}-c{i}"
                answer = send(key, body(number, i), session)
                assert answer.status_code == 200, answer.text
                with lock:
                    outcomes.append(
                        Outcome(
                            key,
                            Decimal(f"{number + 1}.{i:02d}"),
                            answer.status_code,
                            answer.json()["version"],
                        )
                    )
                successes.release()

    def late_retries(number: int) -> None:
        first = {o.key: o.version for o in outcomes}
        with requests.Session() as session:
            for i in range(LATE_RETRIES):
                answer = send(f"w{number}-c{i}", body(number, i), session)
                assert answer.status_code == 200, answer.text
                assert answer.headers.get("Idempotent-Replayed") == "true"
                assert answer.json()["version"] == first[f"w{number}-c{i}"], (
                    "a replay answers the first outcome"
                )

    errors: list[BaseException] = []

    def guarded(number: int) -> None:
        try:
            writer(number)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    seen = 0
    for target in KILL_AFTER:
        while seen < target and not stop.is_set():
            if successes.acquire(timeout=1):
                seen += 1
            assert time.monotonic() < deadline, "the writers stalled"
        server.kill()
        server.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for number in range(WRITERS):
        late_retries(number)

    history = requests.get(f"{server.api}/cars/{car_id}/events", params={"pageSize": 200}, timeout=10).json()
    events = [item for item in history["items"] if item["type"] == "TiresReplaced"]
    assert len(outcomes) == WRITERS * COMMANDS_PER_WRITER
    assert len(events) == len(outcomes), "each acknowledged key is in the history exactly once"
    versions = sorted(o.version for o in outcomes)
    assert versions == sorted(e["version"] for e in events), "every 2xx names the version it wrote"
    expected_total = sum((o.charge for o in outcomes), Decimal(0))
    detail = requests.get(f"{server.api}/cars/{car_id}", timeout=10).json()
    assert Decimal(detail["totalCharges"]) == expected_total

    # The list is deferred: poll until the projector has caught up with the head.
    list_deadline = time.monotonic() + 30
    while True:
        page = requests.get(f"{server.api}/cars", timeout=10).json()
        row = next((item for item in page["items"] if item["carId"] == car_id), None)
        if row is not None and row["version"] == detail["version"]:
            break
        assert time.monotonic() < list_deadline, f"the list never caught up: {row}"
        time.sleep(0.05)
    assert Decimal(page["totalCharges"]) == expected_total
    assert Decimal(row["totalCharges"]) == expected_total
