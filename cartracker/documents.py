"""The JSON documents of the `events` container, identical in every store.

A car's partition holds one document per event, id `"{carId}:{version:010d}"`
(so a second writer of the same version collides), one *head* document, id
`"{carId}:head"`, holding the car's current state (the realtime view) and its
version, and one *idempotency record* per Idempotency-Key a client sent for the
car, id `"{carId}:idempotency:{hash of the key}"`, written in the same batch as
the command's events and kept for the retention (Cosmos per-item `ttl`).
The head is a cache of the fold of the events: it is rebuilt from them when it
is missing or written with an older `schemaVersion`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cartracker.domain.car import Car
from cartracker.domain.events import (
    CURRENT_SCHEMA_VERSION,
    Event,
    event_from_data,
    event_type,
    split_occurred_at,
)

EVENT_DOC = "event"
HEAD_DOC = "head"
IDEMPOTENCY_DOC = "idempotency"
# 2: the car records its last oil change and since when an oil change (by miles) or the brakes are due.
HEAD_SCHEMA_VERSION = 2
# How long an Idempotency-Key is remembered: a retry within it returns the first outcome.
IDEMPOTENCY_RETENTION = timedelta(hours=24)


def event_id(car_id: str, version: int) -> str:
    return f"{car_id}:{version:010d}"


def head_id(car_id: str) -> str:
    return f"{car_id}:head"


@dataclass(frozen=True)
class StoredEvent:
    """An event at its place in a car's stream, with the ids of what caused it.

    `command_id` is the command that wrote it (stored as `causationId`); `correlation_id` is the
    trace id of the request that sent the command (`correlationId`). Either is None on events
    written before it was recorded, and on events written outside an HTTP request.
    """

    car_id: str
    version: int
    event: Event
    command_id: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class Head:
    """A car's head as loaded: its state and the store's etag for if-match writes."""

    car: Car
    etag: str | None = None

    @property
    def version(self) -> int:
        return self.car.version


@dataclass(frozen=True)
class CommandRecord:
    """What a keyed command produced, kept so that a retry answers the same.

    `fingerprint` identifies the payload (another payload with the key is refused); `car` is
    the car right after the command, i.e. the body the first answer carried.
    """

    command_id: str
    fingerprint: str
    car: Car
    recorded_at: datetime


def idempotency_id(car_id: str, key: str) -> str:
    # Hashed: a key is any printable ASCII, and Cosmos ids may not contain / \ ? #.
    return f"{car_id}:idempotency:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def record_document(car_id: str, key: str, record: CommandRecord, retention: timedelta) -> dict[str, Any]:
    seconds = int(retention.total_seconds())
    return {
        "id": idempotency_id(car_id, key),
        "aggregateId": car_id,
        "docType": IDEMPOTENCY_DOC,
        "commandId": record.command_id,
        "fingerprint": record.fingerprint,
        "version": record.car.version,
        "recordedAt": record.recorded_at.isoformat(),
        # Cosmos deletes the item `ttl` seconds after its last write; SQLite sweeps by expiresAt.
        "ttl": seconds,
        "expiresAt": int(record.recorded_at.timestamp()) + seconds,
        "car": record.car.model_dump(mode="json", by_alias=True),
    }


def record_from_document(doc: dict[str, Any], now: datetime) -> CommandRecord | None:
    """The record, or None once it has expired (a store may not have deleted it yet)."""
    if int(doc["expiresAt"]) <= now.timestamp():
        return None
    return CommandRecord(
        command_id=doc["commandId"],
        fingerprint=doc["fingerprint"],
        car=Car.model_validate(doc["car"]),
        recorded_at=datetime.fromisoformat(doc["recordedAt"]),
    )


def event_document(
    stored: StoredEvent, *, current_versions: Mapping[str, int] = CURRENT_SCHEMA_VERSION
) -> dict[str, Any]:
    """The event as stored, labelled with its type's current schema version (what `data` follows)."""
    occurred_at, data = split_occurred_at(stored.event)
    type_name = event_type(stored.event)
    doc: dict[str, Any] = {
        "id": event_id(stored.car_id, stored.version),
        "aggregateId": stored.car_id,
        "docType": EVENT_DOC,
        "version": stored.version,
        "type": type_name,
        "schemaVersion": current_versions[type_name],
        "occurredAt": occurred_at,
        "data": data,
    }
    # Each id once: `causationId` took over from `commandId` (same value), as every byte of an
    # event is written on every command.
    if stored.correlation_id is not None:
        doc["correlationId"] = stored.correlation_id
    if stored.command_id is not None:
        doc["causationId"] = stored.command_id
    return doc


def stored_event_from_document(doc: dict[str, Any]) -> StoredEvent:
    """Parse an event document; raises `UnknownEvent` for a type or schema this code cannot read."""
    event = event_from_data(doc["type"], int(doc.get("schemaVersion", 1)), doc["data"], doc["occurredAt"])
    return StoredEvent(
        car_id=doc["aggregateId"],
        version=int(doc["version"]),
        event=event,
        command_id=causation_id(doc),
        correlation_id=doc.get("correlationId"),
    )


def causation_id(doc: Mapping[str, Any]) -> str | None:
    """The id of the command that wrote an event document (`commandId` on events written before
    `causationId` replaced it)."""
    value = doc.get("causationId", doc.get("commandId"))
    return None if value is None else str(value)


def head_document(car: Car) -> dict[str, Any]:
    return {
        "id": head_id(car.car_id),
        "aggregateId": car.car_id,
        "docType": HEAD_DOC,
        "version": car.version,
        "schemaVersion": HEAD_SCHEMA_VERSION,
        "state": car.model_dump(mode="json", by_alias=True),
    }


def head_from_document(doc: dict[str, Any], etag: str | None) -> Head | None:
    """The head, or None when it was written with another schema and must be rebuilt from events."""
    if doc.get("schemaVersion") != HEAD_SCHEMA_VERSION:
        return None
    return Head(car=Car.model_validate(doc["state"]), etag=etag)
