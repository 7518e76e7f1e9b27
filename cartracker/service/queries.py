"""The realtime side of the read model: a car by id, as it is or as it was, and its history, straight
from the events container."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cartracker.documents import StoredEvent, stored_event_from_document
from cartracker.domain.car import Car
from cartracker.errors import CarNotFound, VersionNotFound
from cartracker.heads import fold_history, load_head
from cartracker.ports import EventStore


@dataclass(frozen=True)
class HistoryPage:
    events: list[StoredEvent]
    next_after_version: int | None


class CarQueries:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def car(self, car_id: str) -> Car:
        """The car's current state: one point read of its head."""
        head = load_head(self.store, car_id)
        if head is None:
            raise CarNotFound(car_id)
        return head.car

    def car_at_version(self, car_id: str, version: int) -> Car:
        """The car right after its event `version`: one query for events 1 to `version`, folded.

        A version beyond the car's reads its whole history (never more) and is refused.
        """
        car = fold_history(self.store, car_id, up_to_version=version)
        if car is None:
            raise CarNotFound(car_id)
        if car.version < version:
            raise VersionNotFound(
                car_id,
                f"car {car_id} is at version {car.version}; it has no version {version}",
                field="asOfVersion",
            )
        return car

    def car_as_of(self, car_id: str, moment: datetime) -> Car:
        """The car as it was at `moment`: its events in version order up to the first one after it.

        One query, read a page at a time until an event after `moment` shows; a point read more
        only to say why there is nothing to show (no such car, or not added yet).
        """
        car = fold_history(self.store, car_id, occurred_by=moment)
        if car is not None:
            return car
        head = load_head(self.store, car_id)
        if head is None:
            raise CarNotFound(car_id)
        raise VersionNotFound(
            car_id, f"car {car_id} was added at {_utc(head.car.added_at)}, after {_utc(moment)}", field="asOf"
        )

    def reaches(self, car_id: str, version: int) -> bool:
        """Whether the car has a version `version` (one point read of its head)."""
        head = load_head(self.store, car_id)
        return head is not None and head.version >= version

    def history(self, car_id: str, *, after_version: int = 0, page_size: int = 50) -> HistoryPage:
        """One page of the car's events, oldest first; one query (plus a head read for an empty page)."""
        docs = self.store.read_events(car_id, after_version=after_version, limit=page_size + 1)
        if not docs and self.store.read_head(car_id) is None:
            raise CarNotFound(car_id)
        events = [stored_event_from_document(doc) for doc in docs[:page_size]]
        more = len(docs) > page_size
        return HistoryPage(events=events, next_after_version=events[-1].version if more else None)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
