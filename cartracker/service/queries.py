"""The realtime side of the read model: a car by id and its history, straight from the events container."""

from __future__ import annotations

from dataclasses import dataclass

from cartracker.documents import StoredEvent, stored_event_from_document
from cartracker.domain.car import Car
from cartracker.errors import CarNotFound
from cartracker.heads import load_head
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

    def history(self, car_id: str, *, after_version: int = 0, page_size: int = 50) -> HistoryPage:
        """One page of the car's events, oldest first; one query (plus a head read for an empty page)."""
        docs = self.store.read_events(car_id, after_version=after_version, limit=page_size + 1)
        if not docs and self.store.read_head(car_id) is None:
            raise CarNotFound(car_id)
        events = [stored_event_from_document(doc) for doc in docs[:page_size]]
        more = len(docs) > page_size
        return HistoryPage(events=events, next_after_version=events[-1].version if more else None)
