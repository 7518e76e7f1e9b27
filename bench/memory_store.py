"""An EventStore kept in a dict: the service's own CPU cost, with the store's I/O taken away."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from cartracker.documents import head_id
from cartracker.errors import ConcurrencyConflict
from cartracker.ports import Document, VersionedDocument


class MemoryEventStore:
    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], VersionedDocument] = {}
        self._etags = itertools.count(1)

    def read_head(self, car_id: str) -> VersionedDocument | None:
        return self.docs.get((car_id, head_id(car_id)))

    def read_record(self, car_id: str, record_id: str) -> Document | None:
        found = self.docs.get((car_id, record_id))
        return None if found is None else found.doc

    def append(
        self,
        car_id: str,
        events: Sequence[Document],
        head: Document,
        *,
        head_etag: str | None,
        record: Document | None = None,
    ) -> str:
        current = self.docs.get((car_id, head["id"]))
        if (current.etag if current else None) != head_etag or any(
            (car_id, e["id"]) in self.docs for e in events
        ):
            raise ConcurrencyConflict(car_id)
        if record is not None:
            if (car_id, record["id"]) in self.docs:
                raise ConcurrencyConflict(car_id, record_exists=True)
            self.docs[(car_id, record["id"])] = VersionedDocument(record, str(next(self._etags)))
        for event in events:
            self.docs[(car_id, event["id"])] = VersionedDocument(event, str(next(self._etags)))
        etag = str(next(self._etags))
        self.docs[(car_id, head["id"])] = VersionedDocument(head, etag)
        return etag

    def read_events(self, car_id: str, *, after_version: int = 0, limit: int = 100) -> list[Document]:
        docs = sorted(
            (v.doc for (pk, _), v in self.docs.items() if pk == car_id and v.doc["docType"] == "event"),
            key=lambda d: int(d["version"]),
        )
        return [d for d in docs if d["version"] > after_version][:limit]

    def read_heads(self, *, limit: int, continuation: str | None = None) -> tuple[list[Document], str | None]:
        heads = sorted(
            (v.doc for v in self.docs.values() if v.doc["docType"] == "head"), key=lambda d: d["id"]
        )
        start = int(continuation or 0)
        page = heads[start : start + limit]
        return page, (str(start + limit) if start + limit < len(heads) else None)
