"""Figures, targets and the one table: what every bench section returns, and how run.py prints it.

A `Figure` holds one measured quantity for each store it was measured on
(`sqlite`, `cosmos`, or `any` for a figure that does not depend on the store),
with its unit and, when the project promises one, its `Target`. A target says
which stores it binds: the SQLite throughput target says nothing about the
Cosmos test server, while the round-trip targets bind both.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Store = Literal["sqlite", "cosmos", "any"]
STORES: tuple[Store, ...] = ("sqlite", "cosmos")
COLUMNS = {"sqlite": "SQLite", "cosmos": "Cosmos protocol"}


@dataclass(frozen=True)
class Target:
    """`value <op> limit`, checked on the stores named in `binds` (all measured ones when empty)."""

    op: Literal["<=", ">="]
    limit: float
    text: str  # as the table shows it, e.g. "≥ 3,000"
    binds: tuple[Store, ...] = ()

    def met(self, value: float) -> bool:
        return value <= self.limit if self.op == "<=" else value >= self.limit

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "limit": self.limit, "text": self.text, "binds": list(self.binds) or "all"}


@dataclass
class Figure:
    key: str  # stable name in results.json
    label: str  # what the table shows
    unit: str
    values: dict[Store, float] = field(default_factory=dict)
    target: Target | None = None
    digits: int = 0
    note: str = ""  # how it was measured, in a few words (results.json only)
    detail: Mapping[Any, Any] = field(default_factory=dict)  # extra numbers for results.json

    def met(self) -> bool | None:
        """Whether every bound value meets the target; None without a target or a bound value."""
        if self.target is None:
            return None
        bound = [v for s, v in self.values.items() if not self.target.binds or s in self.target.binds]
        if not bound:
            return None
        return all(self.target.met(v) for v in bound)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "values": {store: round(value, 4) for store, value in self.values.items()},
            "target": None if self.target is None else self.target.to_json(),
            "met": self.met(),
            "note": self.note,
            **({"detail": dict(self.detail)} if self.detail else {}),
        }


@dataclass
class Section:
    name: str
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # printed after the table (e.g. another table)
    data: dict[str, Any] = field(default_factory=dict)  # more results.json content

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure


def render_table(sections: Sequence[Section]) -> str:
    """One plain-text table (it is also valid Markdown): figure | SQLite | Cosmos protocol | target | met?"""
    header = ["figure", COLUMNS["sqlite"], COLUMNS["cosmos"], "target", "met?"]
    lines: list[list[str]] = []
    for section in sections:
        lines.append([f"**{section.name}**", "", "", "", ""])
        for figure in section.figures:
            lines.append(
                [
                    f"{figure.label} ({figure.unit})",
                    *(_cell(figure, store) for store in STORES),
                    "" if figure.target is None else figure.target.text,
                    {True: "yes", False: "NO", None: ""}[figure.met()],
                ]
            )
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def row(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    rule = (
        "|" + "|".join("-" * (w + 1) + ":" if i else ":" + "-" * (w + 1) for i, w in enumerate(widths)) + "|"
    )
    return "\n".join([row(header), rule, *(row(cells) for cells in lines)])


def _cell(figure: Figure, store: Store) -> str:
    if "any" in figure.values:
        return _number(figure.values["any"], figure.digits) if store == "sqlite" else "(no store)"
    value = figure.values.get(store)
    return "-" if value is None else _number(value, figure.digits)


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def machine() -> dict[str, Any]:
    """What the figures were measured on: they mean little without it."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memoryGiB": _memory_gib(),
        "python": platform.python_version(),
        "sqlite": _sqlite_version(),
        "os": platform.system(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def describe(about: dict[str, Any]) -> str:
    """The machine in one line, for the table's caption."""
    memory = f", {about['memoryGiB']} GiB" if about.get("memoryGiB") else ""
    return (
        f"{about['cpu']}, {about['cores']} cores{memory}, {about['os']}, Python {about['python']}, "
        f"SQLite {about['sqlite']}; {about['date']}"
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _sqlite_version() -> str:
    import sqlite3  # noqa: PLC0415 - only for the version string

    return sqlite3.sqlite_version


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The value at `fraction` (0-1) of an ascending list, nearest rank: no interpolation to explain."""
    if not sorted_values:
        return float("nan")
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]
