"""The ports the service layer talks to. Cosmos DB and SQLite are adapters behind them.

Ports speak in JSON documents (dicts) so that every adapter stores exactly the
shapes defined in `cartracker.documents` and `cartracker.projection.documents`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Document = dict[str, Any]


@dataclass(frozen=True)
class VersionedDocument:
    doc: Document
    etag: str


class EventStore(Protocol):
    def read_head(self, car_id: str) -> VersionedDocument | None:
        """Point read of the car's head document (one round trip)."""
        ...

    def append(
        self,
        car_id: str,
        events: Sequence[Document],
        head: Document,
        *,
        head_etag: str | None,
        record: Document | None = None,
    ) -> str:
        """Create the event documents and write the head, all or nothing, in one round trip.

        `head_etag=None` creates the head (a new car, or a head rebuilt from events);
        otherwise the head is replaced only if it still has that etag. A keyed command's
        idempotency `record` is created in the same batch. Returns the new head etag.
        Raises `ConcurrencyConflict` when an event id or the record exists already or the
        head moved on, `StoreUnavailable` when the store stays unreachable.
        """
        ...

    def read_record(self, car_id: str, record_id: str) -> Document | None:
        """Point read of an idempotency record (one round trip), or None. Expiry is the caller's to judge."""
        ...

    def read_events(self, car_id: str, *, after_version: int = 0, limit: int = 100) -> list[Document]:
        """Event documents of one car with version > after_version, oldest first, at most `limit`."""
        ...

    def read_heads(self, *, limit: int, continuation: str | None = None) -> tuple[list[Document], str | None]:
        """One page of every car's head document (for rebuilds), and the token for the next page."""
        ...


class ChangeFeedSource(Protocol):
    """A pull-model change feed, as the embedded store offers it to the local host.

    Like Cosmos's latest-version mode: each document appears at the position of its
    last write, so a document changed twice since the checkpoint is delivered once.
    """

    def read_changes(self, container: str, *, after: int, limit: int) -> tuple[list[Document], int]:
        """Documents changed after position `after`, in write order, and the position reached."""
        ...

    def load_checkpoint(self, name: str) -> int: ...

    def save_checkpoint(self, name: str, position: int) -> None: ...


@dataclass(frozen=True)
class FeedMark:
    """A point of the `events` change feed: a store write time, and (embedded store) its position."""

    ts: float | None  # seconds since the epoch; Cosmos DB's `_ts` is whole seconds
    position: int | None  # the embedded store's global change-feed sequence; None on Cosmos DB


class ChangeFeedProgress(Protocol):
    """What the event store can say cheaply about its own change feed."""

    def newest_change(self) -> FeedMark | None:
        """The newest change in `events` (None: no document at all): one query."""
        ...

    def pending_changes(self, after: int | None) -> int | None:
        """How many changes the feed delivers after position `after` (None: from the beginning);
        None when the store cannot say cheaply (Cosmos DB)."""
        ...
