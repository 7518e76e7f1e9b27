"""Python CPU time per command, with the store's I/O taken away.

The same function-layer calls as the throughput run (parse and validate the
request, load the head from the cache, decide, build the documents, shape the
response), over `MemoryEventStore`, a dict behind the `EventStore` port. What
is left is the app's own CPU cost per command: on Azure, the part of a
Functions instance's CPU that does not wait on Cosmos DB.
"""

from __future__ import annotations

import time
from dataclasses import replace

from bench.context import Context
from bench.memory_store import MemoryEventStore
from bench.report import Figure, Section, Target
from bench.stores import sqlite_services
from bench.throughput import function_calls
from cartracker.service.commands import CommandService
from cartracker.service.queries import CarQueries
from tests.support.functions import installed

WARM_UP = 500


def run(ctx: Context) -> Section:
    # The views are never touched by commands; a SQLite file only fills the Services' other slots.
    base = sqlite_services(ctx.directory, "cpu")
    store = MemoryEventStore()
    services = replace(base, events=store, commands=CommandService(store), queries=CarQueries(store))
    with installed(services):
        warm_up = function_calls(WARM_UP)
        timed = function_calls(ctx.scale.cpu_commands)
        for function, request in warm_up:  # first calls pay for imports and caches
            function(request)
        cpu = time.process_time()
        for function, request in timed:
            response = function(request)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.get_body()[:200]!r}")
        cpu = time.process_time() - cpu
    section = Section("Python CPU")
    section.add(
        Figure(
            "cpu.perCommand",
            "Python CPU per command, store I/O excluded",
            "ms",
            {"any": cpu / len(timed) * 1000},
            target=Target("<=", 0.3, "≤ 0.3"),
            digits=3,
            note="function layer over a dict EventStore, 1 thread, process CPU time / commands",
            detail={"commands": len(timed), "cpuSeconds": round(cpu, 3)},
        )
    )
    return section
