"""The JSON documents of the `events` container, identical in every store.

A car's partition holds one document per event, id `"{carId}:{version:010d}"`
(so a second writer of the same version collides), and one *head* document,
id `"{carId}:head"`, holding the car's current state (the realtime view), its
version and the last Idempotency-Keys clients sent for it (for idempotent retries).
The head is a cache of the fold of the events: it is rebuilt from them when it
is missing or written with an older `schemaVersion`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cartracker.domain.car import Car
from cartracker.domain.events import Event, event_from_data, event_type, split_occurred_at

EVENT_DOC = "event"
HEAD_DOC = "head"
HEAD_SCHEMA_VERSION = 1
# How many recent command ids a head remembers: a retry older than this appends again.
IDEMPOTENCY_MEMORY = 10


def event_id(car_id: str, version: int) -> str:
    return f"{car_id}:{version:010d}"


def head_id(car_id: str) -> str:
    return f"{car_id}:head"


@dataclass(frozen=True)
class StoredEvent:
    car_id: str
    version: int
    event: Event
    command_id: str | None = None


@dataclass(frozen=True)
class CommandRecord:
    """A command the head remembers: its id, a fingerprint of its payload, and what it produced."""

    command_id: str
    fingerprint: str
    version: int
    event_count: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.command_id, "fp": self.fingerprint, "v": self.version, "n": self.event_count}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CommandRecord:
        return cls(command_id=doc["id"], fingerprint=doc["fp"], version=doc["v"], event_count=doc["n"])


@dataclass(frozen=True)
class Head:
    """A car's head as loaded: state, recent commands and the store's etag for if-match writes."""

    car: Car
    commands: tuple[CommandRecord, ...] = ()
    etag: str | None = None

    @property
    def version(self) -> int:
        return self.car.version

    def find_command(self, command_id: str) -> CommandRecord | None:
        return next((c for c in self.commands if c.command_id == command_id), None)


def event_document(stored: StoredEvent) -> dict[str, Any]:
    occurred_at, data = split_occurred_at(stored.event)
    doc: dict[str, Any] = {
        "id": event_id(stored.car_id, stored.version),
        "aggregateId": stored.car_id,
        "docType": EVENT_DOC,
        "version": stored.version,
        "type": event_type(stored.event),
        "schemaVersion": 1,
        "occurredAt": occurred_at,
        "data": data,
    }
    if stored.command_id is not None:
        doc["commandId"] = stored.command_id
    return doc


def stored_event_from_document(doc: dict[str, Any]) -> StoredEvent:
    """Parse an event document; raises `UnknownEvent` for a type or schema this code cannot read."""
    event = event_from_data(doc["type"], int(doc.get("schemaVersion", 1)), doc["data"], doc["occurredAt"])
    return StoredEvent(
        car_id=doc["aggregateId"], version=int(doc["version"]), event=event, command_id=doc.get("commandId")
    )


def head_document(car: Car, commands: Sequence[CommandRecord]) -> dict[str, Any]:
    return {
        "id": head_id(car.car_id),
        "aggregateId": car.car_id,
        "docType": HEAD_DOC,
        "version": car.version,
        "schemaVersion": HEAD_SCHEMA_VERSION,
        "state": car.model_dump(mode="json", by_alias=True),
        "commands": [c.to_json() for c in commands[-IDEMPOTENCY_MEMORY:]],
    }


def head_from_document(doc: dict[str, Any], etag: str | None) -> Head | None:
    """The head, or None when it was written with another schema and must be rebuilt from events."""
    if doc.get("schemaVersion") != HEAD_SCHEMA_VERSION:
        return None
    return Head(
        car=Car.model_validate(doc["state"]),
        commands=tuple(CommandRecord.from_json(c) for c in doc.get("commands", ())),
        etag=etag,
    )
