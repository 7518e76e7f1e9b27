"""How far behind each projection is, from what the projection records itself: O(projections).

After each change-feed batch the engine moves its projection's *status document*
forward (`StatusRecorder`): the newest store write time (`_ts`) and change-feed
position (`_lsn`) among the changes it was handed, and when it applied them. It
lives in `views`, partition `"status"`, id `"status:{projection}"`, and only moves
forward: it is replaced `if_match` its etag and keeps the larger of the stored
and the new figures, so a redelivered old batch or a second instance cannot move
it back. The recorder keeps the etag it wrote, so a projector alone costs one
write per batch (one read more after another instance wrote it).

It also keeps the projection's delay over a recent window: for each of the last
`DELAY_WINDOW` events it applied, the milliseconds from the event's `occurredAt`
to the write of its row. Status reports their p50, p95 and max.

Status (`ProjectionStatuses`) compares that with the newest change in `events`
(`ChangeFeedProgress`, one query) -- lag in seconds, and on the embedded store the
exact number of changes still to deliver -- and counts each projection's parked
entries: 2 + one count per projection, never a read per car.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cartracker.errors import ConcurrencyConflict
from cartracker.ports import ChangeFeedProgress, Document, FeedMark, VersionedDocument
from cartracker.projection.documents import time_text
from cartracker.projection.ports import ViewStore

log = logging.getLogger(__name__)

STATUS_PARTITION = "status"
STATUS_DOC = "projectionStatus"
_MAX_ATTEMPTS = 3
# Events whose delay the status document keeps: enough for a p95, small enough (~600 bytes) to
# write with every batch.
DELAY_WINDOW = 100


def status_id(projection: str) -> str:
    return f"status:{projection}"


def batch_mark(changes: Iterable[Document]) -> FeedMark | None:
    """The newest `_ts` and `_lsn` among change-feed documents; None if they carry neither."""
    stamps = [doc["_ts"] for doc in changes if _is_number(doc.get("_ts"))]
    positions = [doc["_lsn"] for doc in changes if _is_number(doc.get("_lsn"))]
    if not stamps and not positions:
        return None
    return FeedMark(
        ts=float(max(stamps)) if stamps else None, position=int(max(positions)) if positions else None
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _later(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


class StatusRecorder:
    """Moves one projection's status document forward after each batch (see the module docstring)."""

    def __init__(self, projection: str, views: ViewStore, clock: Callable[[], datetime]) -> None:
        self.projection = projection
        self.views = views
        self.clock = clock
        self._known: VersionedDocument | None = None
        self._loaded = False
        self._pending: list[int] = []  # delays (ms) not written yet

    def record(self, mark: FeedMark, delays: Sequence[float] = ()) -> None:
        """Move the status to `mark`, adding the delays (seconds) of the events this batch applied.

        Delays wait in memory until the status is written anyway, when the batch moved it on, so
        that they cost no write of their own (on Cosmos DB `_ts` moves once a second at most).
        """
        self._pending = [*self._pending, *(round(seconds * 1000) for seconds in delays)][-DELAY_WINDOW:]
        for _ in range(_MAX_ATTEMPTS):
            if not self._loaded:
                self._known = self.views.read_statuses([status_id(self.projection)]).get(
                    status_id(self.projection)
                )
                self._loaded = True
            stored = None if self._known is None else self._known.doc
            ts = _later(_number(stored, "appliedTs"), mark.ts)
            position = _later(_number(stored, "position"), mark.position)
            if stored is not None and (ts, position) == (
                _number(stored, "appliedTs"),
                _number(stored, "position"),
            ):
                return  # an old batch again, or one within the same second: nothing moves
            window = [*_delays(stored), *self._pending][-DELAY_WINDOW:]
            doc = {
                "id": status_id(self.projection),
                "partitionKey": STATUS_PARTITION,
                "docType": STATUS_DOC,
                "projection": self.projection,
                "appliedTs": ts,
                "position": None if position is None else int(position),
                "appliedAt": time_text(self.clock()),
                "delaysMs": window,
            }
            try:
                etag = self.views.write_status(doc, None if self._known is None else self._known.etag)
            except ConcurrencyConflict:
                self._loaded = False  # another instance moved it: read it again
                continue
            self._known = VersionedDocument(doc, etag)
            self._pending = []
            return
        log.warning("%s: status kept changing under %d attempts; left alone", self.projection, _MAX_ATTEMPTS)


def _delays(doc: Document | None) -> list[int]:
    value = None if doc is None else doc.get("delaysMs")
    if not isinstance(value, list):
        return []  # a status written before delays were kept, or damaged: start a new window
    return [int(v) for v in value if isinstance(v, int) and not isinstance(v, bool) and v >= 0]


@dataclass(frozen=True)
class Delay:
    """The time from an event's `occurredAt` to its row's write, over the last `samples` events."""

    p50_seconds: float
    p95_seconds: float
    max_seconds: float
    samples: int

    @classmethod
    def of(cls, delays_ms: Sequence[int]) -> Delay | None:
        if not delays_ms:
            return None
        ordered = sorted(delays_ms)

        def rank(q: float) -> float:  # nearest rank: a delay some event really had
            return ordered[max(0, math.ceil(q * len(ordered)) - 1)] / 1000

        return cls(rank(0.5), rank(0.95), ordered[-1] / 1000, len(ordered))


def _number(doc: Document | None, name: str) -> float | None:
    value = None if doc is None else doc.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    lag_seconds: float | None  # None: it has applied nothing yet while `events` holds changes
    pending_changes: int | None  # None where the store cannot say cheaply
    last_applied_at: str | None
    parked: int
    delay: Delay | None = None  # None: no event applied since delays were kept


class ProjectionStatuses:
    def __init__(self, views: ViewStore, feed: ChangeFeedProgress, projections: Sequence[str]) -> None:
        self.views = views
        self.feed = feed
        self.projections = projections

    def all(self) -> list[ProjectionStatus]:
        """Every registered projection's status: 2 + len(projections) store calls."""
        return self._of(self.projections, count_parked=True)

    def one(self, name: str, *, count_parked: bool = True) -> ProjectionStatus:
        return self._of([name], count_parked=count_parked)[0]

    def _of(self, names: Sequence[str], *, count_parked: bool) -> list[ProjectionStatus]:
        # Status documents first: a change applied between the two reads makes the lag look larger,
        # never negative or falsely zero.
        stored = self.views.read_statuses([status_id(name) for name in names])
        newest = self.feed.newest_change()
        found = []
        for name in names:
            doc = stored.get(status_id(name))
            applied = None if doc is None else doc.doc
            pending = self.feed.pending_changes(None if applied is None else _position(applied))
            found.append(
                ProjectionStatus(
                    name=name,
                    lag_seconds=0.0 if pending == 0 else _lag(newest, applied, behind=bool(pending)),
                    pending_changes=pending,
                    last_applied_at=None if applied is None else applied.get("appliedAt"),
                    parked=self.views.count_parked(name) if count_parked else 0,
                    delay=Delay.of(_delays(applied)),
                )
            )
        return found


def _position(doc: Document) -> int | None:
    value = _number(doc, "position")
    return None if value is None else int(value)


def _lag(newest: FeedMark | None, applied: Document | None, *, behind: bool) -> float | None:
    """Seconds from the newest change applied to the newest change; `behind`: changes are known to
    be pending, so the answer is never 0 (Cosmos DB cannot say: there a lag under 1 s reads 0)."""
    if newest is None:
        return 0.0  # `events` is empty: nothing to apply
    applied_ts = _number(applied, "appliedTs")
    if newest.ts is None or applied_ts is None:
        return None  # it has applied nothing yet, or the newest change has no write time (an old file)
    lag = round(max(0.0, newest.ts - applied_ts), 3)
    return max(lag, 0.001) if behind else lag
