"""The `ViewStore` port on Cosmos DB: one query or one transactional batch per call.

Every query on a single partition also filters on the partition-key field: the
real service needs only `partition_key=`, but a Cosmos-protocol server may scope
the query by its WHERE clause alone.

The list is paged by keyset (`listKey < @before`, `TOP @limit`), not by the SDK's
continuation token: the Python SDK does not resume cross-partition ORDER BY
queries from a continuation token, so an SDK token would silently restart the list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from azure.core import MatchConditions
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosBatchOperationError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from cartracker.adapters.cosmos_client import store_errors
from cartracker.errors import ConcurrencyConflict, ShardConflict
from cartracker.ports import Document, VersionedDocument
from cartracker.projection.car_list import ROW_DOC, SUBTOTAL_DOC
from cartracker.projection.documents import PARKED_PARTITION, SUBTOTAL_ID, parked_id_prefix
from cartracker.projection.ports import (
    MAX_ROWS_PER_WRITE,
    MAX_SUBTOTAL_FIELDS,
    ListSummary,
    RowWrite,
    ShardState,
)
from cartracker.projection.service_due import ROW_DOC as SERVICE_DUE_ROW_DOC
from cartracker.projection.status import STATUS_PARTITION

_SHARD = "SELECT * FROM c WHERE c.partitionKey = @pk AND (ARRAY_CONTAINS(@ids, c.id) OR c.id = @subtotal)"
_FIRST_PAGE = "SELECT TOP @limit * FROM c WHERE c.docType = @row ORDER BY c.listKey DESC"
_PAGE_BEFORE = (
    "SELECT TOP @limit * FROM c WHERE c.docType = @row AND c.listKey < @before ORDER BY c.listKey DESC"
)
_SERVICE_DUE = (
    "SELECT TOP @limit * FROM c WHERE c.docType = @row AND c.dueKey > @after AND c.dueKey < @until "
    "ORDER BY c.dueKey"
)
_SUMMARY = (
    "SELECT * FROM c WHERE c.docType = @subtotalDoc OR (c.docType = @row AND ARRAY_CONTAINS(@ids, c.id))"
)
_SUMMARY_PAGE = 1_100
# One projection's parked changes share an id prefix (`id` is always indexed); "" matches them all.
_PARKED = (
    "SELECT TOP @limit * FROM c WHERE c.partitionKey = @pk AND STARTSWITH(c.id, @prefix) "
    "ORDER BY c.parkedAt DESC"
)
_WHOLE_SHARD = "SELECT * FROM c WHERE c.partitionKey = @pk AND c.id != @subtotal"
_PARKED_BY_ID = (
    "SELECT TOP @limit * FROM c WHERE c.partitionKey = @pk AND c.id > @after "
    "AND STARTSWITH(c.id, @prefix) ORDER BY c.id"
)
_COUNT_PARKED = "SELECT VALUE COUNT(1) FROM c WHERE c.partitionKey = @pk AND STARTSWITH(c.id, @prefix)"
_STATUSES = "SELECT * FROM c WHERE c.partitionKey = @pk AND ARRAY_CONTAINS(@ids, c.id)"
# A status document to create exists, or one to replace changed or is gone.
_STATUS_CONFLICTS = (CosmosResourceExistsError, CosmosAccessConditionFailedError, CosmosResourceNotFoundError)


class CosmosViewStore:
    def __init__(self, container: ContainerProxy) -> None:
        self.container = container

    def read_shard(self, partition_key: str, car_ids: Sequence[str]) -> ShardState:
        parameters: list[dict[str, Any]] = [
            {"name": "@pk", "value": partition_key},
            {"name": "@ids", "value": list(car_ids)},
            {"name": "@subtotal", "value": SUBTOTAL_ID},
        ]
        with store_errors():
            docs = list(
                self.container.query_items(
                    _SHARD,
                    parameters=parameters,
                    partition_key=partition_key,
                    max_item_count=MAX_ROWS_PER_WRITE + 1,
                )
            )
        found = {doc["id"]: VersionedDocument(doc, doc["_etag"]) for doc in docs}
        subtotal = found.pop(SUBTOTAL_ID, None)
        return ShardState(rows=found, subtotal=subtotal)

    def write_shard(
        self,
        partition_key: str,
        rows: Sequence[RowWrite],
        subtotal: Document | None = None,
        *,
        subtotal_etag: str | None = None,
        add_to_subtotal: Mapping[str, int] | None = None,
        delete_rows: Sequence[tuple[str, str]] = (),
    ) -> None:
        if subtotal is not None and add_to_subtotal is not None:
            raise ValueError("write the subtotal or add to it, not both")
        operations: list[Any] = [_operation(row.doc, row.etag) for row in rows]
        operations.extend(("delete", (car_id,), {"if_match_etag": etag}) for car_id, etag in delete_rows)
        if subtotal is not None:
            operations.append(_operation(subtotal, subtotal_etag))
        elif add_to_subtotal:
            operations.append(_increment(add_to_subtotal))
        changes_subtotal = len(operations) > len(rows) + len(delete_rows)
        try:
            with store_errors():
                self.container.execute_item_batch(operations, partition_key=partition_key)
        except CosmosBatchOperationError as exc:
            # 409: a row or subtotal to create exists; 412: a row or the subtotal changed since we
            # read it; 404: a row to replace or delete, or the subtotal to add to, is gone. The
            # batch was rolled back as a whole; `error_index` names the operation that refused it.
            if exc.status_code in (404, 409, 412):
                on_subtotal = changes_subtotal and exc.error_index == len(operations) - 1
                raise ShardConflict(
                    f"shard {partition_key} changed since it was read", on_subtotal=on_subtotal
                ) from exc
            raise

    def ensure_subtotal(self, partition_key: str, doc: Document) -> None:
        try:
            with store_errors():
                self.container.create_item(doc)
        except CosmosResourceExistsError:
            pass  # another instance created it first: it is there, which is all we need

    def list_rows(self, *, before: str | None, limit: int) -> list[Document]:
        parameters: list[dict[str, Any]] = [
            {"name": "@limit", "value": limit},
            {"name": "@row", "value": ROW_DOC},
        ]
        if before is not None:
            parameters.append({"name": "@before", "value": before})
        with store_errors():
            return list(
                self.container.query_items(
                    _FIRST_PAGE if before is None else _PAGE_BEFORE,
                    parameters=parameters,
                    enable_cross_partition_query=True,
                    max_item_count=limit,
                )
            )

    def list_service_due(self, *, until: str, after: str | None, limit: int) -> list[Document]:
        parameters: list[dict[str, Any]] = [
            {"name": "@limit", "value": limit},
            {"name": "@row", "value": SERVICE_DUE_ROW_DOC},
            {"name": "@after", "value": after or ""},
            {"name": "@until", "value": until},
        ]
        with store_errors():
            return list(
                self.container.query_items(
                    _SERVICE_DUE,
                    parameters=parameters,
                    enable_cross_partition_query=True,
                    max_item_count=limit,
                )
            )

    def read_summary(self, rows: Sequence[tuple[str, str]]) -> ListSummary:
        parameters: list[dict[str, Any]] = [
            {"name": "@subtotalDoc", "value": SUBTOTAL_DOC},
            {"name": "@row", "value": ROW_DOC},
            {"name": "@ids", "value": [car_id for _, car_id in rows]},
        ]
        with store_errors():
            docs = list(
                self.container.query_items(
                    _SUMMARY,
                    parameters=parameters,
                    enable_cross_partition_query=True,
                    # One page: a subtotal per shard (at most 1,000) and a row per token (at most 20).
                    max_item_count=_SUMMARY_PAGE,
                )
            )
        return ListSummary(
            subtotals=[d for d in docs if d.get("docType") == SUBTOTAL_DOC],
            rows={d["id"]: d for d in docs if d.get("docType") == ROW_DOC},
        )

    def park(self, doc: Document) -> None:
        with store_errors():
            self.container.upsert_item(doc)

    def list_parked(self, *, limit: int, projection: str | None = None) -> list[Document]:
        parameters: list[dict[str, Any]] = [
            {"name": "@limit", "value": limit},
            {"name": "@pk", "value": PARKED_PARTITION},
            {"name": "@prefix", "value": "" if projection is None else parked_id_prefix(projection)},
        ]
        with store_errors():
            return list(
                self.container.query_items(
                    _PARKED, parameters=parameters, partition_key=PARKED_PARTITION, max_item_count=limit
                )
            )

    # --- for rebuilds ----------------------------------------------------------------------------

    def read_whole_shard(self, partition_key: str) -> ShardState:
        # Subtotal first, rows after (see the port): the pages of the query are not one snapshot.
        try:
            with store_errors():
                doc = self.container.read_item(SUBTOTAL_ID, partition_key=partition_key)
            subtotal: VersionedDocument | None = VersionedDocument(doc, doc["_etag"])
        except CosmosResourceNotFoundError:
            subtotal = None
        parameters: list[dict[str, Any]] = [
            {"name": "@pk", "value": partition_key},
            {"name": "@subtotal", "value": SUBTOTAL_ID},
        ]
        with store_errors():
            docs = list(
                self.container.query_items(
                    _WHOLE_SHARD, parameters=parameters, partition_key=partition_key, max_item_count=1000
                )
            )
        rows = {doc["id"]: VersionedDocument(doc, doc["_etag"]) for doc in docs}
        return ShardState(rows=rows, subtotal=subtotal)

    def read_parked(
        self, *, after: str | None, limit: int, projection: str | None = None
    ) -> list[VersionedDocument]:
        parameters: list[dict[str, Any]] = [
            {"name": "@limit", "value": limit},
            {"name": "@pk", "value": PARKED_PARTITION},
            {"name": "@after", "value": after or ""},
            {"name": "@prefix", "value": "" if projection is None else parked_id_prefix(projection)},
        ]
        with store_errors():
            docs = list(
                self.container.query_items(
                    _PARKED_BY_ID, parameters=parameters, partition_key=PARKED_PARTITION, max_item_count=limit
                )
            )
        return [VersionedDocument(doc, doc["_etag"]) for doc in docs]

    def unpark(self, doc_id: str, etag: str) -> bool:
        try:
            with store_errors():
                self.container.delete_item(
                    doc_id,
                    partition_key=PARKED_PARTITION,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (CosmosResourceNotFoundError, CosmosAccessConditionFailedError):
            return False
        return True

    def read_parked_change(self, doc_id: str) -> VersionedDocument | None:
        try:
            with store_errors():
                doc = self.container.read_item(doc_id, partition_key=PARKED_PARTITION)
        except CosmosResourceNotFoundError:
            return None
        return VersionedDocument(doc, doc["_etag"])

    def count_parked(self, projection: str) -> int:
        parameters: list[dict[str, Any]] = [
            {"name": "@pk", "value": PARKED_PARTITION},
            {"name": "@prefix", "value": parked_id_prefix(projection)},
        ]
        with store_errors():
            counts = list(
                self.container.query_items(
                    _COUNT_PARKED, parameters=parameters, partition_key=PARKED_PARTITION
                )
            )
        # A `SELECT VALUE` query yields bare values; the SDK's type says documents.
        return int(cast(Any, counts[0])) if counts else 0

    # --- for status ------------------------------------------------------------------------------

    def read_statuses(self, doc_ids: Sequence[str]) -> dict[str, VersionedDocument]:
        parameters: list[dict[str, Any]] = [
            {"name": "@pk", "value": STATUS_PARTITION},
            {"name": "@ids", "value": list(doc_ids)},
        ]
        with store_errors():
            docs = list(
                self.container.query_items(
                    _STATUSES,
                    parameters=parameters,
                    partition_key=STATUS_PARTITION,
                    max_item_count=max(1, len(doc_ids)),
                )
            )
        return {doc["id"]: VersionedDocument(doc, doc["_etag"]) for doc in docs}

    def write_status(self, doc: Document, etag: str | None) -> str:
        try:
            with store_errors():
                if etag is None:
                    written = self.container.create_item(doc)
                else:
                    written = self.container.replace_item(
                        doc["id"], doc, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
        except _STATUS_CONFLICTS as exc:
            raise ConcurrencyConflict(f"status {doc['id']} changed since it was read") from exc
        return str(written["_etag"])


def _increment(amounts: Mapping[str, int]) -> tuple[Any, ...]:
    """A patch of the subtotal adding `amounts` to its fields (`incr` creates a missing field)."""
    if len(amounts) > MAX_SUBTOTAL_FIELDS:
        raise ValueError(f"a patch holds at most {MAX_SUBTOTAL_FIELDS} operations, not {len(amounts)}")
    patch = [{"op": "incr", "path": f"/{name}", "value": amount} for name, amount in amounts.items()]
    return ("patch", (SUBTOTAL_ID, patch))


def _operation(doc: Document, etag: str | None) -> tuple[Any, ...]:
    if etag is None:
        return ("create", (doc,))
    return ("replace", (doc["id"], doc), {"if_match_etag": etag})
