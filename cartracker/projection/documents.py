"""The JSON documents of the `views` container, identical in every store.

Per shard (partition key `"carList:{shard:02d}"`):

* one row per car, id = car id, docType `"carListRow"`: the car as the list shows it
  plus its `version` (rows only move forward by version) and a `listKey` to sort by;
* one subtotal, id `"subtotal"`, docType `"carListSubtotal"`: the shard's exact
  `totalChargesCents` and `carCount`, changed in the same transactional batch as the rows.

`listKey` is `"{addedAt}|{carId}"` with a fixed-width UTC time, so one string
orders the list newest first with ties broken by id. One field, because a
multi-field ORDER BY needs a composite index on Cosmos DB, and because keyset
pagination over one key is the same simple query on every store.

Documents the projector cannot process are *parked* in partition `"parked"`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from cartracker.ports import Document

ROW_DOC = "carListRow"
SUBTOTAL_DOC = "carListSubtotal"
PARKED_DOC = "parked"
SUBTOTAL_ID = "subtotal"
PARKED_PARTITION = "parked"

_LIST_KEY = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\|[0-9a-f-]{36}")


def shard_of(car_id: str, shards: int) -> int:
    """A stable shard for a car: the same on every process and Python version (unlike `hash()`)."""
    return int(hashlib.sha256(car_id.encode()).hexdigest()[:8], 16) % shards


def shard_partition(shard: int) -> str:
    return f"carList:{shard:02d}"


def row_partition(car_id: str, shards: int) -> str:
    return shard_partition(shard_of(car_id, shards))


def time_text(moment: datetime) -> str:
    """Fixed-width UTC text, so that string order is time order ("...:00Z" would sort after "...:00.5Z")."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def list_key(added_at: str, car_id: str) -> str:
    return f"{added_at}|{car_id}"


def is_list_key(text: str) -> bool:
    return _LIST_KEY.fullmatch(text) is not None


def subtotal_document(partition_key: str, total_charges_cents: int, car_count: int) -> Document:
    return {
        "id": SUBTOTAL_ID,
        "partitionKey": partition_key,
        "docType": SUBTOTAL_DOC,
        "totalChargesCents": total_charges_cents,
        "carCount": car_count,
    }


def parked_document(change: Document, reason: str, parked_at: datetime) -> Document:
    """A change the projector could not process, with why; the same change parks under the same id."""
    document_id = str(change.get("id", ""))
    version = change.get("version")
    key = f"{document_id}@{version}"
    return {
        "id": "parked-" + hashlib.sha256(key.encode()).hexdigest()[:32],
        "partitionKey": PARKED_PARTITION,
        "docType": PARKED_DOC,
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
