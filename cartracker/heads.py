"""Loading a car's head: the point read, the rebuild from events, and the in-process cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from cartracker.documents import Head, head_from_document, stored_event_from_document
from cartracker.domain.car import Car, evolve
from cartracker.ports import EventStore

# Events per query page when folding a history: 1,000 events are about 430 KB, one page on Cosmos DB.
EVENT_PAGE = 1000


def load_head(store: EventStore, car_id: str) -> Head | None:
    """The car's head from one point read; rebuilt by folding the events if missing or outdated.

    A rebuilt head has no etag of its own when the stored head is missing (the next append
    creates it) and the stored etag when it is outdated (the next append replaces it).
    """
    stored = store.read_head(car_id)
    if stored is not None:
        head = head_from_document(stored.doc, stored.etag)
        if head is not None:
            return head
    car = fold_history(store, car_id)
    if car is None:
        return None
    return Head(car=car, etag=None if stored is None else stored.etag)


def fold_history(
    store: EventStore, car_id: str, *, up_to_version: int | None = None, occurred_by: datetime | None = None
) -> Car | None:
    """The car as the fold of its events, read in version order in pages of `EVENT_PAGE`.

    `up_to_version` stops after that version; `occurred_by` stops before the first event that
    occurred after it, so no state folded here holds an event from after that time. The reads
    never go past the car's last event, however large `up_to_version` is.
    """
    car: Car | None = None
    after = 0
    while up_to_version is None or after < up_to_version:
        limit = EVENT_PAGE if up_to_version is None else min(EVENT_PAGE, up_to_version - after)
        docs = store.read_events(car_id, after_version=after, limit=limit)
        for doc in docs:
            stored = stored_event_from_document(doc)
            if occurred_by is not None and stored.event.occurred_at > occurred_by:
                return car
            car = evolve(car, stored.event, car_id=car_id)
        if len(docs) < limit:
            break
        after = int(docs[-1]["version"])
    return car


class HeadCache:
    """The last head this process wrote or read per car, with its etag, LRU-bounded.

    It may be stale (another instance wrote since); the etag on the next append catches that,
    so the cache can only cost a retry, never a wrong write.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._heads: OrderedDict[str, Head] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, car_id: str) -> Head | None:
        with self._lock:
            head = self._heads.get(car_id)
            if head is not None:
                self._heads.move_to_end(car_id)
            return head

    def put(self, head: Head) -> None:
        with self._lock:
            known = self._heads.get(head.car.car_id)
            if known is not None and known.version > head.version:
                return  # a slower thread finished an older write; keep the newer head
            self._heads[head.car.car_id] = head
            self._heads.move_to_end(head.car.car_id)
            while len(self._heads) > self.capacity:
                self._heads.popitem(last=False)

    def forget(self, car_id: str) -> None:
        with self._lock:
            self._heads.pop(car_id, None)
