"""The JSON documents of the `views` container that every projection shares, identical in every store.

A projection keeps its rows in shard partitions `"{family}:{shard:02d}"` (one row per
car, id = car id) and, if it has one, a subtotal per shard, id `"subtotal"`, changed in
the same transactional batch as the rows. Each projection's own module
(`cartracker.projection.car_list`, ...) declares its family and row documents.

Documents a projector cannot process are *parked* in partition `"parked"`, under an id
`"parked:{projection}:{hash}"`: the same change parks under the same id, once per
projection, and one projection's entries are one id prefix (always indexed on Cosmos DB).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from cartracker.ports import Document

PARKED_DOC = "parked"
SUBTOTAL_ID = "subtotal"
PARKED_PARTITION = "parked"


def shard_of(car_id: str, shards: int) -> int:
    """A stable shard for a car: the same on every process and Python version (unlike `hash()`)."""
    return int(hashlib.sha256(car_id.encode()).hexdigest()[:8], 16) % shards


def time_text(moment: datetime) -> str:
    """Fixed-width UTC text, so that string order is time order ("...:00Z" would sort after "...:00.5Z")."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parked_id_prefix(projection: str) -> str:
    """The ids of one projection's parked changes all start with this."""
    return f"parked:{projection}:"


def parked_document(change: Document, reason: str, parked_at: datetime, *, projection: str) -> Document:
    """A change a projector could not process, with why; the same change parks under the same id."""
    document_id = str(change.get("id", ""))
    version = change.get("version")
    key = f"{document_id}@{version}"
    return {
        "id": parked_id_prefix(projection) + hashlib.sha256(key.encode()).hexdigest()[:32],
        "partitionKey": PARKED_PARTITION,
        "docType": PARKED_DOC,
        "projection": projection,
        "documentId": document_id,
        "carId": change.get("aggregateId"),
        "version": version if isinstance(version, int) else None,
        "reason": reason,
        "parkedAt": time_text(parked_at),
        "document": without_system_fields(change),
    }


def without_system_fields(doc: Document) -> Document:
    """The document as the app wrote it, without the store's `_etag`, `_ts`, `_lsn`, ..."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def as_int(value: Any) -> int:
    # Cosmos DB keeps JSON numbers as doubles: a stored 4999 may come back as 4999.0.
    return int(value)


def lenient_int(value: object) -> int:
    """A stored number, or 0 for a damaged field (a rebuild repairs, it does not stop)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value)
