"""`python -m bench.run`: measure CarTracker on SQLite and on a Cosmos-protocol server, print one table.

    python -m bench.run                  # the full run (a few minutes); writes bench/results.json
    python -m bench.run --quick          # a smoke run (well under a minute); writes bench/results.local.json
    python -m bench.run --only cpu costs # some sections only; writes bench/results.local.json
    python -m bench.run --out FILE       # write the results elsewhere

Sections: round trips per operation (counted), command throughput and latency
in-process and over HTTP, list-page latency as the list grows, projector
throughput, Python CPU per command, client CPU per Cosmos command as a ratio
to a raw HTTPS round trip, document sizes with the RU estimates they imply on
Azure, and the C# original's data-access pattern beside CarTracker's.
Everything runs on this machine over loopback: the SQLite store in a temporary
directory, and `@vercel/cosmosdb-server` (from npm, as the tests use it) as the
Cosmos-protocol server. Figures depend on the machine, so results.json records
which machine made them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    cosmos_cpu,
    costs,
    cpu,
    list_scale,
    original_pattern,
    projector,
    round_trips,
    scale_out,
    throughput,
)
from bench.context import FULL, QUICK, Context
from bench.report import Figure, Section, describe, machine, render_table
from tests.support.cosmos import start_cosmos_server

SECTIONS: list[tuple[str, Callable[[Context], Section]]] = [
    ("round trips", round_trips.run),
    ("throughput", throughput.run),
    ("list scale", list_scale.run),
    ("projector", projector.run),
    ("scale-out", scale_out.run),
    ("cpu", cpu.run),
    ("cosmos cpu", cosmos_cpu.run),
    ("costs", costs.run),
    ("original pattern", original_pattern.run),
]
BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small counts: a smoke run, not figures to publish"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="results file (default: bench/results.json; with --quick or --only: bench/results.local.json)",
    )
    parser.add_argument(
        "--only", nargs="+", choices=[name for name, _ in SECTIONS], help="run only these sections"
    )
    args = parser.parse_args(argv)
    # Only a full run of every section may replace the published figures.
    partial = args.quick or bool(args.only)
    out: Path = args.out or BENCH_DIR / ("results.local.json" if partial else "results.json")

    started = time.perf_counter()
    sections: list[Section] = []
    with (
        tempfile.TemporaryDirectory(prefix="cartracker-bench-") as directory,
        start_cosmos_server() as server,
    ):
        ctx = Context(
            quick=args.quick,
            directory=Path(directory),
            cosmos_server=server,
            scale=QUICK if args.quick else FULL,
        )
        for name, section_run in SECTIONS:
            if args.only and name not in args.only:
                continue
            print(f"{name} ...", end=" ", flush=True)
            section_started = time.perf_counter()
            section = section_run(ctx)
            section.seconds = time.perf_counter() - section_started
            print(f"{section.seconds:.1f} s", flush=True)
            sections.append(section)
    if (between := ratios(sections)) is not None:
        sections.append(between)
    total = time.perf_counter() - started

    about = machine()
    print(f"\n{describe(about)}")
    print(render_table(sections))
    for note in (note for section in sections for note in section.notes):
        print(f"\n{note}")
    print(f"\n{total:.0f} s in all; results in {out}")
    out.write_text(
        json.dumps(results(sections, about, quick=args.quick, seconds=total), indent=2, ensure_ascii=False)
        + "\n"
    )
    return 0


def ratios(sections: list[Section]) -> Section | None:
    """Ratios between figures of different sections, measured in this one run (None if one is missing)."""
    figures = {figure.key: figure for section in sections for figure in section.figures}
    sqlite, memory = figures.get("commands.inProcess1.cpuPerCommand"), figures.get("cpu.perCommand")
    if sqlite is None or memory is None or "sqlite" not in sqlite.values:
        return None
    section = Section("Ratios between sections (this run)")
    section.add(
        Figure(
            "ratios.sqliteOverMemoryCpu",
            "Python CPU per command: on SQLite ÷ on an in-memory store",
            "ratio",
            {"sqlite": sqlite.values["sqlite"] / memory.values["any"]},
            digits=2,
            note="what the embedded store adds to a command's CPU, whatever the machine's speed",
        )
    )
    return section


def results(sections: list[Section], about: dict[str, Any], *, quick: bool, seconds: float) -> dict[str, Any]:
    return {
        "machine": about,
        "mode": "quick" if quick else "full",
        "seconds": round(seconds, 1),
        "sections": [
            {
                "name": section.name,
                "seconds": round(section.seconds, 1),
                "figures": {figure.key: figure.to_json() for figure in section.figures},
                **section.data,
            }
            for section in sections
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
