"""The local host against hostile HTTP: smuggling, bad framing, odd methods, DNS rebinding, floods, slowness.

Raw sockets, because a well-behaved client library refuses to send most of these requests.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
import pytest

from cartracker.bootstrap import Services
from cartracker.localhost.index import AppIndex, HttpFunction
from cartracker.localhost.routes import compile_template
from cartracker.localhost.server import MAX_READ_BYTES, Limits, LocalHost
from tests.support.functions import installed, sqlite_services

ROOT = Path(__file__).resolve().parents[2]
CAR = b'{"make": "Saab", "model": "900", "owner": "Eve"}'
PROBLEM_JSON = "application/problem+json"
WAIT = 10.0  # seconds a socket read may block before the test fails


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def problem(self, status: int) -> dict[str, Any]:
        assert self.status == status, (self.status, self.headers, self.body[:300])
        assert self.headers.get("content-type") == PROBLEM_JSON, self.headers
        problem: dict[str, Any] = json.loads(self.body)
        assert problem["status"] == status
        assert problem["detail"]
        return problem


class Raw:
    """One TCP connection to the host, spoken in bytes."""

    def __init__(self, host: LocalHost | str) -> None:
        address = urlsplit(host if isinstance(host, str) else host.url)
        assert address.hostname is not None
        assert address.port is not None
        self.sock = socket.create_connection((address.hostname, address.port), timeout=WAIT)
        self.buffer = b""

    def send(self, data: bytes) -> Raw:
        self.sock.sendall(data)
        return self

    def answer(self, *, head: bool = False) -> Answer:
        while b"\r\n\r\n" not in self.buffer:
            self._receive("the end of a response head")
        head_bytes, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head else int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._receive("the rest of a response body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Answer(int(status_line.split(" ")[1]), headers, body)

    def closed(self) -> bool:
        """True when the host closes the connection (before WAIT seconds) with nothing more to say."""
        try:
            return self.buffer == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()

    def _receive(self, what: str) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the host closed the connection before {what}: {self.buffer[:300]!r}")
        self.buffer += chunk


def request(
    method: str = "GET",
    target: str = "/api/health",
    *,
    host: str | None = "127.0.0.1",
    headers: tuple[str, ...] = (),
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    lines = [f"{method} {target} {version}", *([f"Host: {host}"] if host is not None else []), *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def add_car(*, host: str = "127.0.0.1") -> bytes:
    return request(
        "POST",
        "/api/cars",
        host=host,
        headers=("Content-Type: application/json", f"Content-Length: {len(CAR)}"),
        body=CAR,
    )


def car_count(services: Services) -> int:
    heads, _ = services.events.read_heads(limit=100_000)
    return len(heads)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with installed(sqlite_services(tmp_path_factory.mktemp("framing") / "store.sqlite3")) as services:
        yield services


@contextmanager
def running(**options: Any) -> Iterator[LocalHost]:
    host = LocalHost("127.0.0.1", 0, **options)
    host.start()
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture(scope="module")
def host(store: Services) -> Iterator[LocalHost]:
    with running(allowed_hosts=["cartracker.test"]) as host:
        yield host


def refused(host: LocalHost | str, data: bytes, status: int = 400) -> dict[str, Any]:
    """Send `data` on a fresh connection: the answer is a problem and the host then closes the connection."""
    raw = Raw(host)
    # The host may answer and close before taking everything; the answer is still there to read.
    with suppress(BrokenPipeError, ConnectionResetError):
        raw.send(data)
    try:
        problem = raw.answer().problem(status)
        assert raw.closed()
        return problem
    finally:
        raw.close()


def fields(problem: dict[str, Any]) -> set[str]:
    return {error["field"] for error in problem["errors"]}


# --- request smuggling and framing headers ------------------------------------------------------


def test_two_identical_content_lengths_are_refused_and_what_follows_never_runs(
    host: LocalHost, store: Services
) -> None:
    before = car_count(store)
    smuggled = request(headers=("Content-Length: 0", "Content-Length: 0")) + add_car()
    assert "Content-Length" in fields(refused(host, smuggled))
    assert car_count(store) == before


def test_two_different_content_lengths_are_refused_and_the_smuggled_request_never_runs(
    host: LocalHost, store: Services
) -> None:
    before = car_count(store)
    inner = add_car()
    smuggled = request(
        "POST",
        "/api/cars",
        headers=("Content-Type: application/json", "Content-Length: 0", f"Content-Length: {len(inner)}"),
        body=inner,
    )
    assert "Content-Length" in fields(refused(host, smuggled))
    assert car_count(store) == before


@pytest.mark.parametrize("listed", [f"{len(CAR)}, {len(CAR)}", f"{len(CAR)},0"])
def test_a_content_length_list_is_refused(host: LocalHost, store: Services, listed: str) -> None:
    before = car_count(store)
    listed = request(
        "POST", "/api/cars", headers=("Content-Type: application/json", f"Content-Length: {listed}")
    )
    refused(host, listed + CAR)
    assert car_count(store) == before


def test_content_length_beside_transfer_encoding_is_refused_and_the_smuggled_request_never_runs(
    host: LocalHost, store: Services
) -> None:
    before = car_count(store)
    inner = add_car()
    chunked_end = b"0\r\n\r\n"
    smuggled = request(
        "POST",
        "/api/cars",
        headers=("Content-Type: application/json", "Transfer-Encoding: chunked", "Content-Length: 5"),
        body=chunked_end + inner,
    )
    assert fields(refused(host, smuggled)) & {"Content-Length", "Transfer-Encoding"}
    assert car_count(store) == before


def test_transfer_encoding_given_twice_is_refused(host: LocalHost, store: Services) -> None:
    before = car_count(store)
    twice = request(
        "POST",
        "/api/cars",
        headers=(
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: chunked",
            "Content-Type: application/json",
        ),
        body=f"{len(CAR):x}\r\n".encode() + CAR + b"\r\n0\r\n\r\n",
    )
    assert "Transfer-Encoding" in fields(refused(host, twice))
    assert car_count(store) == before


@pytest.mark.parametrize("coding", ["gzip, chunked", "identity", "chunked, chunked", "chunked;x=1", "x"])
def test_a_transfer_encoding_other_than_chunked_is_refused(host: LocalHost, coding: str) -> None:
    problem = refused(
        host, request("POST", "/api/cars", headers=(f"Transfer-Encoding: {coding}",)) + b"0\r\n\r\n"
    )
    assert "Transfer-Encoding" in fields(problem)


@pytest.mark.parametrize("length", ["+47", "-1", " 1 2", "0x10", "1.0", "4 7", "\u0661"])
def test_a_content_length_that_is_not_plain_digits_is_refused(
    host: LocalHost, store: Services, length: str
) -> None:
    before = car_count(store)
    declared = request("POST", "/api/cars", headers=("Content-Type: application/json",))
    declared = declared.replace(b"\r\n\r\n", f"\r\nContent-Length: {length}\r\n\r\n".encode(), 1)
    assert "Content-Length" in fields(refused(host, declared + CAR + add_car()))
    assert car_count(store) == before


def test_a_chunked_body_is_read_and_served(host: LocalHost, store: Services) -> None:
    before = car_count(store)
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (CAR[:10], CAR[10:]))
    raw = Raw(host).send(
        request(
            "POST",
            "/api/cars",
            headers=("Content-Type: application/json", "Transfer-Encoding: chunked"),
            body=chunks + b"0\r\n\r\n",
        )
    )
    answer = raw.answer()
    raw.close()
    assert answer.status == 201, answer.body
    assert car_count(store) == before + 1


def test_a_chunked_body_over_the_limit_is_refused_with_413(host: LocalHost) -> None:
    chunk = b"x" * 65536
    raw = Raw(host).send(request("POST", "/api/cars", headers=("Transfer-Encoding: chunked",)))
    try:
        for _ in range(MAX_READ_BYTES // len(chunk) + 1):
            raw.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the host may stop reading as soon as the limit is passed
    assert raw.answer().problem(413)
    assert raw.closed()


def test_a_declared_body_over_the_limit_is_refused_without_reading_it(host: LocalHost) -> None:
    too_long = request("POST", "/api/cars", headers=(f"Content-Length: {MAX_READ_BYTES + 1}",))
    refused(host, too_long, 413)


# --- request lines, header lines, versions, targets, methods ------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"GET /",
        b"GET / HTTP/1.1 extra",
        b"GET /a b HTTP/1.1",
        b"GET\t/ HTTP/1.1",
        b" GET / HTTP/1.1",
        b"G\x00T / HTTP/1.1",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
        b"get / HTTP/1.1 HTTP/1.1",
    ],
)
def test_a_malformed_request_line_is_refused_with_a_problem(host: LocalHost, line: bytes) -> None:
    refused(host, line + b"\r\nHost: 127.0.0.1\r\n\r\n")


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/3.0", "HTTP/0.9"])
def test_an_unsupported_http_version_is_refused_with_505(host: LocalHost, version: str) -> None:
    refused(host, request(version=version), 505)


@pytest.mark.parametrize(
    "line", [b"no colon here", b"Content-Length : 0", b": no-name", b"X-Bad\x00Name: 1", b"X-Bad: a\rb"]
)
def test_a_header_line_that_is_not_a_field_is_refused(host: LocalHost, line: bytes) -> None:
    refused(host, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + line + b"\r\n\r\n")


def test_oversized_headers_are_refused_with_431(host: LocalHost) -> None:
    refused(host, request(headers=("X-Padding: " + "a" * 100_000,)), 431)


def test_many_small_headers_past_the_bound_are_refused_with_431(host: LocalHost) -> None:
    refused(host, request(headers=tuple(f"X-{n}: {n}" for n in range(20_000))), 431)


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("TRACE", "/api/health"),
        ("CONNECT", "127.0.0.1:443"),
        ("BREW", "/api/health"),
        ("PROPFIND", "/api/cars"),
    ],
)
def test_a_method_the_host_does_not_implement_gets_501(host: LocalHost, method: str, target: str) -> None:
    raw = Raw(host).send(request(method, target))
    raw.answer().problem(501)
    raw.close()


def test_a_known_method_on_a_route_without_it_gets_405_with_allow(host: LocalHost) -> None:
    raw = Raw(host).send(request("DELETE", "/api/health"))
    answer = raw.answer()
    raw.close()
    answer.problem(405)
    assert answer.headers["allow"] == "GET"  # the declared methods; HEAD is served but not advertised


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "http://evil.example/api/health"),
        ("OPTIONS", "*"),
        ("GET", "api/health"),
        ("GET", "/api/health#x"),
    ],
)
def test_a_target_that_is_not_origin_form_is_refused(host: LocalHost, method: str, target: str) -> None:
    refused(host, request(method, target))


def test_a_double_slash_target_is_a_path_not_an_authority(host: LocalHost) -> None:
    raw = Raw(host).send(request("GET", "//evil.example/api/health"))
    raw.answer().problem(404)
    raw.close()


# --- HEAD ---------------------------------------------------------------------------------------


def test_head_is_served_for_get_routes_with_the_get_headers_and_no_body(host: LocalHost) -> None:
    raw = Raw(host).send(add_car())
    car_id = json.loads(raw.answer().body)["carId"]
    for target in [f"/api/cars/{car_id}", f"/api/cars/{car_id}/events", "/api/openapi.json", "/api/ui"]:
        got = raw.send(request("GET", target)).answer()
        headed = raw.send(request("HEAD", target)).answer(head=True)
        assert (headed.status, got.status) == (200, 200), target
        assert _without_date(headed.headers) == _without_date(got.headers), target
    health = raw.send(request("HEAD", "/api/health")).answer(head=True)
    assert health.status == 200
    assert int(health.headers["content-length"]) > 0
    assert health.headers["content-type"].startswith("application/json")
    # Nothing of a body followed the HEAD answers: the next answer starts right after their heads.
    assert raw.send(request("GET", "/api/health")).answer().status == 200
    raw.close()


def _without_date(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "date"}


# --- Host allow-list (DNS rebinding) ------------------------------------------------------------


NOT_ALLOWED = ["evil.example", "localhost.evil.example", "127.0.0.1.evil.example", "127.1", "[::2]",
               "local host", "localhost:99999", "localhost:x", "", "0.0.0.0", "[::1"]  # fmt: skip


@pytest.mark.parametrize("name", NOT_ALLOWED)
def test_a_host_not_allowed_is_refused_and_nothing_runs(host: LocalHost, store: Services, name: str) -> None:
    before = car_count(store)
    problem = refused(host, add_car(host=name))
    assert fields(problem) == {"Host"}
    assert car_count(store) == before


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_a_request_without_host_is_refused(host: LocalHost, version: str) -> None:
    assert fields(refused(host, request(host=None, version=version))) == {"Host"}


@pytest.mark.parametrize(
    "name",
    ["localhost", "LOCALHOST:80", "localhost.", "127.0.0.1:1", "127.45.6.7", "[::1]:7071", "cartracker.test"],
)
def test_loopback_names_and_allowed_names_are_served_on_any_port(host: LocalHost, name: str) -> None:
    raw = Raw(host).send(request(host=name))
    assert raw.answer().status == 200
    raw.close()


def test_location_is_built_from_the_allowed_host(host: LocalHost) -> None:
    raw = Raw(host).send(add_car(host="cartracker.test:8080"))
    answer = raw.answer()
    raw.close()
    assert answer.status == 201
    car_id = json.loads(answer.body)["carId"]
    assert answer.headers["location"] == f"http://cartracker.test:8080/api/cars/{car_id}"


def test_serve_allow_host_adds_a_name(tmp_path: Path) -> None:
    db = str(tmp_path / "db.sqlite3")
    command = [sys.executable, "-m", "cartracker", "serve", "--port", "0", "--db", db,
               "--allow-host", "cartracker.test", "--allow-host", "other.test"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    stderr = process.stderr
    assert stderr is not None
    threading.Thread(target=lambda: [lines.put(line) for line in stderr], daemon=True).start()
    try:
        url = _listening_url(lines)
        for name in ("cartracker.test", "other.test:1234", "localhost"):
            raw = Raw(url).send(request(host=name))
            assert raw.answer().status == 200, name
            raw.close()
        refused(url, request(host="evil.example"))
    finally:
        process.terminate()
        process.wait(timeout=WAIT)


def _listening_url(lines: queue.Queue[str]) -> str:
    deadline = time.monotonic() + 20
    while (left := deadline - time.monotonic()) > 0:
        if found := re.search(r"listening on (http://[^/\s]+)", lines.get(timeout=left)):
            return found.group(1)
    raise AssertionError("the host never said where it listens")


# --- a bounded pool and slow clients ------------------------------------------------------------


def new_threads(before: set[threading.Thread]) -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t not in before)


def test_idle_connections_beyond_the_pool_neither_starve_a_request_nor_grow_threads(store: Services) -> None:
    before = set(threading.enumerate())
    with running(limits=Limits(threads=2)) as host:
        idle = [Raw(host) for _ in range(6)]
        kept_alive = [Raw(host) for _ in range(4)]
        for raw in kept_alive:
            assert raw.send(request()).answer().status == 200
        fresh = Raw(host)
        assert fresh.send(request()).answer().status == 200
        assert len(new_threads(before)) <= 3, new_threads(before)  # two workers and the one I/O thread
        for raw in [*idle, *kept_alive, fresh]:
            raw.close()


def test_a_full_pool_answers_503_with_retry_after_and_recovers(store: Services) -> None:
    entered = threading.Semaphore(0)
    release = threading.Event()

    def blocked(req: func.HttpRequest) -> func.HttpResponse:
        entered.release()
        release.wait(WAIT * 3)
        return func.HttpResponse("done")

    route = HttpFunction(
        "blocked", compile_template("blocked"), frozenset({"GET"}), "anonymous", "req", blocked
    )
    index = AppIndex(route_prefix="api", http=(route,), unserved=())
    before = set(threading.enumerate())
    with running(index=index, limits=Limits(threads=2, queue=1, queue_wait=0.2)) as host:
        try:
            busy = [Raw(host).send(request(target="/api/blocked")) for _ in range(2)]
            assert entered.acquire(timeout=WAIT)
            assert entered.acquire(timeout=WAIT)
            waiting = Raw(host).send(request(target="/api/blocked"))
            answer = waiting.answer()
            answer.problem(503)
            assert int(answer.headers["retry-after"]) >= 1
            assert waiting.closed()
            assert len(new_threads(before)) <= 3, new_threads(before)
        finally:
            release.set()
        assert [raw.answer().status for raw in busy] == [200, 200]
        later = Raw(host).send(request(target="/api/blocked"))
        assert later.answer().status == 200
        for raw in [*busy, waiting, later]:
            raw.close()


def test_a_half_sent_head_gets_408_and_is_closed(store: Services) -> None:
    with running(limits=Limits(request_timeout=0.3)) as host:
        raw = Raw(host).send(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        raw.answer().problem(408)
        assert raw.closed()
        raw.close()


def test_a_half_sent_body_gets_408_and_is_closed(store: Services) -> None:
    with running(limits=Limits(request_timeout=0.3)) as host:
        raw = Raw(host).send(add_car()[:-10])
        raw.answer().problem(408)
        assert raw.closed()
        raw.close()


def test_an_idle_keep_alive_connection_is_closed(store: Services) -> None:
    with running(limits=Limits(idle_timeout=0.3)) as host:
        raw = Raw(host)
        assert raw.send(request()).answer().status == 200
        assert raw.closed()
        raw.close()


def test_keep_alive_and_pipelining_answer_each_request_in_order(host: LocalHost) -> None:
    raw = Raw(host).send(request() + request("GET", "/api/nope") + request())
    assert [raw.answer().status for _ in range(3)] == [200, 404, 200]
    assert raw.send(request()).answer().status == 200
    raw.close()


def test_one_connection_serves_many_requests_in_a_row(host: LocalHost) -> None:
    raw = Raw(host)
    for _ in range(250):  # past the run of requests a thread serves on one connection before handing it back
        assert raw.send(request("GET", "/api/nope")).answer().status == 404
    raw.close()
