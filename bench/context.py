"""What every bench section gets: where to put files, the Cosmos test server, and how much to do.

Every loop in the bench is bounded by a count from `Scale`; the timed ones are
also cut short at `Scale.max_seconds` so that a slow machine still finishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.support.cosmos import CosmosServer


@dataclass(frozen=True)
class Scale:
    commands: int  # commands timed per in-process run on SQLite (split over the threads)
    cosmos_commands: int  # the same on the Cosmos test server, which is slower
    http_commands: int  # commands per HTTP client, SQLite
    cosmos_http_commands: int  # the same on the Cosmos test server
    list_sizes: tuple[int, ...]  # car-list sizes on SQLite
    cosmos_list_sizes: tuple[int, ...]
    projector_cars: int  # cars (5 events each) the projector is timed on, SQLite
    cosmos_projector_cars: int
    cpu_commands: int
    cosmos_cpu_commands: int  # warm commands per variant and round, client CPU on the Cosmos test server
    cosmos_cpu_rounds: int
    original_cars: tuple[int, ...]  # fleet sizes the original's pattern is compared at
    original_rounds: int  # interleaved rounds per fleet size (the median is reported)
    max_seconds: float  # cap for any one timed loop


FULL = Scale(
    commands=6_000,
    cosmos_commands=1_200,
    http_commands=400,
    cosmos_http_commands=150,
    list_sizes=(1_000, 10_000, 100_000),
    cosmos_list_sizes=(1_000, 10_000),
    projector_cars=2_000,
    cosmos_projector_cars=300,
    cpu_commands=10_000,
    cosmos_cpu_commands=1_000,
    cosmos_cpu_rounds=5,
    original_cars=(200, 1_000),
    original_rounds=15,
    max_seconds=30.0,
)
QUICK = Scale(
    commands=600,
    cosmos_commands=120,
    http_commands=40,
    cosmos_http_commands=15,
    list_sizes=(1_000, 10_000),
    cosmos_list_sizes=(1_000,),
    projector_cars=200,
    cosmos_projector_cars=40,
    cpu_commands=1_000,
    cosmos_cpu_commands=200,
    cosmos_cpu_rounds=3,
    original_cars=(50,),
    original_rounds=3,
    max_seconds=10.0,
)


@dataclass(frozen=True)
class Context:
    quick: bool
    directory: Path  # a temporary directory, removed after the run
    cosmos_server: CosmosServer
    scale: Scale
