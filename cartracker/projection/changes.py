"""Sorting a change-feed batch of the `events` container into what each car needs.

The feed delivers event documents and head documents (both live in the car's
partition and are written in one batch), and idempotency records, which no
projection reads. Per car we keep the readable events by
version (duplicates collapse) and the newest readable head. Anything unreadable
-- an unknown event type, a schema this code cannot upcast, a head written with
a newer schema, a document of no known kind -- becomes *poison*, with the reason,
to be parked; it never stops the other documents of the batch. A head written with
an older schema is no poison: it is skipped, and the car's events are folded instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from cartracker.documents import (
    EVENT_DOC,
    HEAD_DOC,
    HEAD_SCHEMA_VERSION,
    IDEMPOTENCY_DOC,
    StoredEvent,
    head_from_document,
    stored_event_from_document,
)
from cartracker.domain.car import Car
from cartracker.domain.events import UnknownEvent
from cartracker.ports import Document


@dataclass
class CarChanges:
    car_id: str
    events: dict[int, StoredEvent] = field(default_factory=dict)
    head: Car | None = None
    documents: list[Document] = field(default_factory=list)


@dataclass
class SortedChanges:
    cars: dict[str, CarChanges] = field(default_factory=dict)
    poison: list[tuple[Document, str]] = field(default_factory=list)


def sort_changes(documents: Iterable[Document]) -> SortedChanges:
    result = SortedChanges()
    for doc in documents:
        if doc.get("docType") == IDEMPOTENCY_DOC:
            continue  # a command's idempotency record: the events beside it carry what happened
        car_id = doc.get("aggregateId")
        if not isinstance(car_id, str) or not car_id:
            result.poison.append((doc, "document has no aggregateId"))
            continue
        reason = _add(result.cars.setdefault(car_id, CarChanges(car_id)), doc)
        if reason is not None:
            result.poison.append((doc, reason))
    # A car whose only documents were poison has nothing to project.
    result.cars = {k: v for k, v in result.cars.items() if v.events or v.head is not None}
    return result


def _add(car: CarChanges, doc: Document) -> str | None:
    """File one document under its car; the reason it is poison, or None."""
    doc_type = doc.get("docType")
    try:
        if doc_type == EVENT_DOC:
            stored = stored_event_from_document(doc)
            car.events[stored.version] = stored
        elif doc_type == HEAD_DOC:
            head = head_from_document(doc, None)
            if head is None and _older_head(doc):
                # Written before the head's schema last changed (the feed replayed from the beginning
                # holds every car's last head): the events beside it, or a head read, say the same.
                car.documents.append(doc)
                return None
            if head is None:
                return f"head schemaVersion {doc.get('schemaVersion')!r} is not one this code reads"
            if car.head is None or head.version > car.head.version:
                car.head = head.car
        else:
            return f"docType {doc_type!r} is not one this projector knows"
    except UnknownEvent as exc:
        return str(exc)
    except ValidationError as exc:
        return f"malformed {doc_type} document: {exc.errors()[0]['msg']}"
    except (KeyError, TypeError, ValueError) as exc:
        # A field missing or of the wrong type: the document is damaged, not our bug to hide.
        return f"malformed {doc_type} document: {type(exc).__name__} {exc}"
    car.documents.append(doc)
    return None


def _older_head(doc: Document) -> bool:
    version = doc.get("schemaVersion")
    return isinstance(version, int) and not isinstance(version, bool) and 1 <= version < HEAD_SCHEMA_VERSION
