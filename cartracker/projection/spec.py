"""What makes a projection a projection: the declaration each view module fills in.

A projection is data plus four pure functions, in the spirit of pyeventsourcing's
`ProcessApplication` policies and Marten's projection registry: the shared engine
(`engine`), the rebuild (`cartracker.rebuild`) and the registry (`registry`) read
only this. One row per car lives in a shard partition `"{family}:{shard:02d}"`,
carries the car's `version` (rows only move forward), and is the same whether it
was folded from the car's events or taken from its head -- gap healing and
rebuilds rely on that, and the property tests check it for every projection.

A projection may keep a per-shard subtotal, changed in the same transactional
batch as the rows: sums of integer row fields, and optionally the row count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from cartracker.domain.car import Car, evolve
from cartracker.domain.events import CarAdded, Event
from cartracker.ports import Document
from cartracker.projection.documents import SUBTOTAL_ID, as_int, lenient_int, shard_of

_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_FAMILY = re.compile(r"[a-z][A-Za-z0-9]*")


class BrokenHistory(ValueError):
    """The events of a car cannot be folded (its history does not start with CarAdded)."""


class Row(Protocol):
    @property
    def car_id(self) -> str: ...

    @property
    def version(self) -> int: ...


R = TypeVar("R", bound=Row)


@dataclass(frozen=True)
class Subtotal:
    """A shard's subtotal document: `sums` are row fields added up, `count` (if set) counts the rows."""

    doc_type: str
    sums: tuple[str, ...] = ()
    count: str | None = None

    def fields(self) -> tuple[str, ...]:
        return self.sums + (() if self.count is None else (self.count,))

    def of_rows(self, rows: Iterable[Document]) -> dict[str, int]:
        """The subtotal of these row documents (a damaged field counts as 0)."""
        totals = dict.fromkeys(self.fields(), 0)
        for doc in rows:
            for name in self.sums:
                totals[name] += lenient_int(doc.get(name))
            if self.count is not None:
                totals[self.count] += 1
        return totals

    def totals(self, doc: Document) -> dict[str, int]:
        """What a stored subtotal document says."""
        return {name: as_int(doc[name]) for name in self.fields()}

    def moved(self, totals: Mapping[str, int], new: Document, old: Document | None) -> dict[str, int]:
        """`totals` after a row changes from `old` (None: a new row) to `new`."""
        plus, minus = self.of_rows([new]), self.of_rows([] if old is None else [old])
        return {name: totals.get(name, 0) + plus[name] - minus[name] for name in self.fields()}

    def document(self, partition_key: str, totals: Mapping[str, int]) -> Document:
        return {
            "id": SUBTOTAL_ID,
            "partitionKey": partition_key,
            "docType": self.doc_type,
            **{name: totals.get(name, 0) for name in self.fields()},
        }


@dataclass(frozen=True)
class Projection(Generic[R]):
    """One projection, declared once: its names, its fold, its documents, its subtotal."""

    name: str  # in routes, parked entries, logs: `car-list`
    lease_prefix: str  # its change-feed trigger's own checkpoints (settings: infra provisions none)
    family: str  # its view partitions: `carList` -> `carList:00`, `carList:01`, ...
    row_doc_type: str
    from_car: Callable[[Car], R]  # the row of a car's current state (its head)
    evolve: Callable[[R | None, Event, str], R]  # one more event (version row.version + 1); BrokenHistory
    to_document: Callable[[R, str], Document]  # the row as stored in a partition
    from_document: Callable[[Document], R]
    subtotal: Subtotal | None = None
    shard: Callable[[str, int], int] = field(default=shard_of)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"a projection name is lower-case words joined by '-', not {self.name!r}")
        if not _FAMILY.fullmatch(self.family):
            raise ValueError(f"a partition family is letters and digits, not {self.family!r}")

    def partition(self, shard: int) -> str:
        return f"{self.family}:{shard:02d}"

    def partition_of(self, car_id: str, shards: int) -> str:
        return self.partition(self.shard(car_id, shards))

    def empty_totals(self) -> dict[str, int]:
        return {} if self.subtotal is None else dict.fromkeys(self.subtotal.fields(), 0)


AnyProjection = Projection[Any]


def evolve_through_car(
    row: R | None, event: Event, *, car_id: str, as_car: Callable[[R], Car], from_car: Callable[[Car], R]
) -> R:
    """One more event on a row, through the domain's own `evolve`: the row is widened to a `Car`
    (only the fields it keeps), evolved and narrowed again, so a view can never disagree with
    the aggregate about what an event does. That holds when every row field after an event
    depends only on row fields before it and the event; the property tests check it."""
    if row is None and not isinstance(event, CarAdded):
        raise BrokenHistory(f"the history of car {car_id} starts with {type(event).__name__}, not CarAdded")
    return from_car(evolve(None if row is None else as_car(row), event, car_id=car_id))
