"""Commands per second and latency, through the function layer in-process and over HTTP.

In-process: the HTTP functions (`change_oil`, ...) are called with
`func.HttpRequest` objects, as the Functions worker calls them, on 1 and on 4
threads; the requests are built before the clock starts (building them is the
worker's work, not ours). Over HTTP: the local host on a free loopback port,
with 8 keep-alive clients in a separate process (`bench.http_clients`).
Each thread or client drives cars of its own, so no command waits on another's
etag race: this is the throughput of independent cars, the common case.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import azure.functions as func

from bench.commands import NEW_CAR, command_mix
from bench.context import Context
from bench.report import Figure, Section, Store, Target, percentile
from bench.stores import cosmos_database, sqlite_services
from cartracker.bootstrap import Services
from cartracker.domain.catalog import ON_A_CAR
from cartracker.functions.commands import FUNCTIONS as BY_NAME
from cartracker.functions.commands import add_car
from cartracker.localhost.server import LocalHost
from tests.support.functions import BASE, body_of, installed

REPO_ROOT = Path(__file__).resolve().parents[1]
CARS_PER_THREAD = 10
ROUNDS = 5
HTTP_CLIENTS = 8
Function = Callable[[func.HttpRequest], func.HttpResponse]
FUNCTIONS: dict[str, Function] = {entry.slug: BY_NAME[entry.name] for entry in ON_A_CAR}


@dataclass(frozen=True)
class Run:
    commands: int
    seconds: float
    latencies_ms: list[float]  # ascending
    cpu_seconds: float  # this process's CPU time over the run
    rounds: tuple[float, ...] = ()  # commands/s of every round, when this run is the median of several

    @property
    def per_second(self) -> float:
        return self.commands / self.seconds

    def to_json(self) -> dict[str, object]:
        return {
            "commands": self.commands,
            "seconds": round(self.seconds, 3),
            "p50Ms": round(percentile(self.latencies_ms, 0.5), 3),
            "p99Ms": round(percentile(self.latencies_ms, 0.99), 3),
            "cpuMsPerCommand": round(self.cpu_seconds / self.commands * 1000, 4),
            **({"roundsPerSecond": [round(rate) for rate in self.rounds]} if self.rounds else {}),
        }


def run(ctx: Context) -> Section:
    scale = ctx.scale
    runs: dict[Store, dict[str, Run]] = {}
    runs["sqlite"] = measure(
        sqlite_services(ctx.directory, "throughput"), scale.commands, scale.http_commands, ctx
    )
    with cosmos_database(ctx.cosmos_server) as cosmos:
        runs["cosmos"] = measure(cosmos.services, scale.cosmos_commands, scale.cosmos_http_commands, ctx)
    return section(runs)


def measure(services: Services, commands: int, http_commands: int, ctx: Context) -> dict[str, Run]:
    """The three runs on one store; the 1-thread run is the median of `ROUNDS` (this machine is shared)."""
    cap = ctx.scale.max_seconds
    rounds = sorted(
        (in_process(services, threads=1, commands=commands, max_seconds=cap) for _ in range(ROUNDS)),
        key=lambda r: r.per_second,
    )
    return {
        "1 thread": replace(rounds[len(rounds) // 2], rounds=tuple(r.per_second for r in rounds)),
        "4 threads": in_process(services, threads=4, commands=commands, max_seconds=cap),
        "http": over_http(services, per_client=http_commands, max_seconds=cap),
    }


LABELS = {
    "1 thread": ("inProcess1", "in-process, 1 thread"),
    "4 threads": ("inProcess4", "in-process, 4 threads"),
    "http": ("http8", f"local host over HTTP, {HTTP_CLIENTS} clients"),
}


def section(runs: dict[Store, dict[str, Run]]) -> Section:
    """Rate, p50 and p99 of each run, and the process CPU per command of the 1-thread run."""
    out = Section("Commands: throughput and latency")
    for name, (key, label) in LABELS.items():
        by_store = {store: store_runs[name] for store, store_runs in runs.items()}
        target = Target(">=", 3000, "≥ 3,000 on SQLite", binds=("sqlite",)) if name == "1 thread" else None
        out.add(
            Figure(
                f"commands.{key}.perSecond",
                label,
                "commands/s",
                {store: r.per_second for store, r in by_store.items()},
                target,
                detail={store: r.to_json() for store, r in by_store.items()},
            )
        )
        for fraction, suffix in ((0.5, "p50"), (0.99, "p99")):
            out.add(
                Figure(
                    f"commands.{key}.{suffix}",
                    f"{label}, {suffix}",
                    "ms",
                    {store: percentile(r.latencies_ms, fraction) for store, r in by_store.items()},
                    digits=2,
                )
            )
    out.add(
        Figure(
            "commands.inProcess1.cpuPerCommand",
            "Python CPU per command, store client included",
            "ms",
            {store: r["1 thread"].cpu_seconds / r["1 thread"].commands * 1000 for store, r in runs.items()},
            digits=3,
            note="process CPU over the 1-thread run / commands: our code plus sqlite3 or the Cosmos SDK",
        )
    )
    return out


def in_process(services: Services, *, threads: int, commands: int, max_seconds: float) -> Run:
    """`commands` commands split over `threads` threads calling the functions directly."""
    with installed(services):
        plans = [function_calls(commands // threads) for _ in range(threads)]
        latencies: list[list[float]] = [[] for _ in plans]
        failures: list[str] = []
        start = threading.Barrier(threads + 1)
        deadline = time.monotonic() + max_seconds

        def worker(n: int) -> None:
            out = latencies[n]
            start.wait()
            for function, request in plans[n]:
                sent = time.perf_counter()
                response = function(request)
                out.append((time.perf_counter() - sent) * 1000)
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.get_body()[:200]!r}")
                if time.monotonic() > deadline:
                    return

        workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for thread in workers:
            thread.start()
        start.wait()
        began, cpu = time.perf_counter(), time.process_time()
        for thread in workers:
            thread.join()
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    if failures:
        raise RuntimeError(f"{len(failures)} commands failed, e.g. {failures[0]}")
    every = sorted(x for out in latencies for x in out)
    return Run(len(every), seconds, every, cpu)


def function_calls(count: int) -> list[tuple[Function, func.HttpRequest]]:
    """`count` command calls over new cars (added now, through the function: their heads are cached)."""
    cars = []
    for _ in range(CARS_PER_THREAD):
        response = add_car(_request("cars", NEW_CAR))
        if response.status_code != 201:
            raise RuntimeError(f"add car failed: {response.status_code} {response.get_body()[:200]!r}")
        cars.append(body_of(response)["carId"])
    return [
        (FUNCTIONS[c.route], _request(f"cars/{c.car_id}/{c.route}", c.body, car_id=c.car_id))
        for c in command_mix(cars, count)
    ]


def _request(path: str, body: object, *, car_id: str | None = None) -> func.HttpRequest:
    return func.HttpRequest(
        "POST",
        f"{BASE}/{path}",
        headers={"Content-Type": "application/json"},
        route_params={} if car_id is None else {"carId": car_id},
        body=json.dumps(body).encode(),
    )


def over_http(services: Services, *, per_client: int, max_seconds: float) -> Run:
    """The local host serving `services`; HTTP_CLIENTS clients in another process send `per_client` each."""
    with installed(services):
        host = LocalHost("127.0.0.1", 0)
        host.start()
        try:
            cpu = time.process_time()
            # The server's threads are ours, so this process's CPU time is the server's.
            done = subprocess.run(  # noqa: S603 - our own module, arguments we built
                [
                    sys.executable,
                    "-m",
                    "bench.http_clients",
                    "--api",
                    f"{host.url}/api",
                    "--clients",
                    str(HTTP_CLIENTS),
                    "--commands",
                    str(per_client),
                    "--seconds",
                    str(max_seconds),
                ],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=max_seconds + 120,
                check=False,
            )
            cpu = time.process_time() - cpu
        finally:
            host.stop()
    if done.returncode != 0:
        raise RuntimeError(f"the HTTP clients failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    if result["failures"]:
        raise RuntimeError(f"{len(result['failures'])} HTTP commands failed, e.g. {result['failures'][0]}")
    return Run(result["commands"], result["seconds"], result["latenciesMs"], cpu)
