"""Concurrent HTTP clients for the throughput bench, run as a separate process.

    python -m bench.http_clients --api http://127.0.0.1:PORT/api --clients 8 --commands 400 --seconds 30

The server under test runs in the bench's own process; the clients run here, in
another one, so that they do not take turns with the server for one Python
interpreter lock. Each client is a thread with its own `requests.Session`
(keep-alive), adds its own cars, then sends its commands one after another.
Prints one JSON object: commands sent, seconds, sorted latencies, failures.
Loopback only: `--api` must name 127.0.0.1, ::1 or localhost.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from urllib.parse import urlsplit

import requests

from bench.commands import NEW_CAR, command_mix

CARS_PER_CLIENT = 5
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_clients", description=__doc__.split("\n")[0])
    parser.add_argument("--api", required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--commands", type=int, required=True, help="per client")
    parser.add_argument("--seconds", type=float, required=True, help="stop sending after this long")
    args = parser.parse_args(argv)
    if urlsplit(args.api).hostname not in LOOPBACK:
        parser.error("--api must be a loopback address")

    sessions = [requests.Session() for _ in range(args.clients)]
    for session in sessions:
        session.trust_env = False  # no proxy from the environment: straight to the loopback address
    plans = [_plan(session, args.api, args.commands) for session in sessions]
    latencies: list[list[float]] = [[] for _ in sessions]
    failures: list[str] = []
    start = threading.Barrier(args.clients + 1)
    deadline = time.monotonic() + args.seconds

    def client(n: int) -> None:
        session, out = sessions[n], latencies[n]
        start.wait()
        for url, body in plans[n]:
            sent = time.perf_counter()
            response = session.post(url, json=body, timeout=30)
            out.append((time.perf_counter() - sent) * 1000)
            if response.status_code != 200:
                failures.append(f"{response.status_code} {url}: {response.text[:200]}")
            if time.monotonic() > deadline:
                return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    for session in sessions:
        session.close()
    every = sorted(x for out in latencies for x in out)
    json.dump(
        {"commands": len(every), "seconds": seconds, "latenciesMs": every, "failures": failures[:20]},
        sys.stdout,
    )
    return 0


def _plan(session: requests.Session, api: str, count: int) -> list[tuple[str, dict[str, object]]]:
    cars = []
    for _ in range(CARS_PER_CLIENT):
        response = session.post(f"{api}/cars", json=NEW_CAR, timeout=30)
        response.raise_for_status()
        cars.append(response.json()["carId"])
    return [(f"{api}/cars/{c.car_id}/{c.route}", c.body) for c in command_mix(cars, count)]


if __name__ == "__main__":
    sys.exit(main())
