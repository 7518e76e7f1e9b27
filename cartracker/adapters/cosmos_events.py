"""The `EventStore` port on Cosmos DB: one transactional batch per append, one point read per load."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosResourceNotFoundError

from cartracker.adapters.cosmos_client import store_errors
from cartracker.documents import EVENT_DOC, HEAD_DOC, head_id
from cartracker.errors import ConcurrencyConflict
from cartracker.ports import Document, FeedMark, VersionedDocument

_HEADS_QUERY = "SELECT * FROM c WHERE c.docType = @docType"
_EVENTS_QUERY = (
    "SELECT * FROM c WHERE c.aggregateId = @carId AND c.docType = @docType AND c.version > @after "
    "ORDER BY c.version"
)
# The newest change in the container: its write time (the change feed orders by it per partition).
_NEWEST_CHANGE = "SELECT TOP 1 c._ts FROM c ORDER BY c._ts DESC"


class CosmosEventStore:
    def __init__(self, container: ContainerProxy) -> None:
        self.container = container

    def read_head(self, car_id: str) -> VersionedDocument | None:
        try:
            with store_errors():
                doc = self.container.read_item(head_id(car_id), partition_key=car_id)
        except CosmosResourceNotFoundError:
            return None
        return VersionedDocument(doc=doc, etag=doc["_etag"])

    def read_record(self, car_id: str, record_id: str) -> Document | None:
        try:
            with store_errors():
                doc: Document = self.container.read_item(record_id, partition_key=car_id)
        except CosmosResourceNotFoundError:
            return None
        return doc

    def append(
        self,
        car_id: str,
        events: Sequence[Document],
        head: Document,
        *,
        head_etag: str | None,
        record: Document | None = None,
    ) -> str:
        operations: list[Any] = [("create", (event,)) for event in events]
        if head_etag is None:
            operations.append(("create", (head,)))
        else:
            operations.append(("replace", (head["id"], head), {"if_match_etag": head_etag}))
        # Last, so that a failure here means the events and the head would have gone in.
        if record is not None:
            operations.append(("create", (record,)))
        try:
            with store_errors():
                results = self.container.execute_item_batch(operations, partition_key=car_id)
        except CosmosBatchOperationError as exc:
            # 409: an event id (car:version) or the idempotency record exists: another writer, or
            # this command, got there first. 412: the head's etag moved on. Either way the whole
            # batch was rolled back.
            if exc.status_code in (409, 412):
                on_record = record is not None and exc.error_index == len(operations) - 1
                raise ConcurrencyConflict(
                    f"car {car_id} was changed by another writer", record_exists=on_record
                ) from exc
            raise
        return str(results[len(events)]["eTag"])

    def read_events(self, car_id: str, *, after_version: int = 0, limit: int = 100) -> list[Document]:
        # The partition-key field is in the WHERE clause as well as in partition_key: the query then
        # stays scoped to one car on any Cosmos-protocol server, at no cost on the real service.
        parameters: list[dict[str, Any]] = [
            {"name": "@carId", "value": car_id},
            {"name": "@docType", "value": EVENT_DOC},
            {"name": "@after", "value": after_version},
        ]
        docs: list[Document] = []
        with store_errors():
            pages = self.container.query_items(
                _EVENTS_QUERY, parameters=parameters, partition_key=car_id, max_item_count=limit
            ).by_page()
            for page in pages:
                docs.extend(page)
                if len(docs) >= limit:
                    break
        return docs[:limit]

    def read_heads(self, *, limit: int, continuation: str | None = None) -> tuple[list[Document], str | None]:
        with store_errors():
            pages = self.container.query_items(
                _HEADS_QUERY,
                parameters=[{"name": "@docType", "value": HEAD_DOC}],
                enable_cross_partition_query=True,
                max_item_count=limit,
            ).by_page(continuation)
            page = list(next(pages, []))
            # by_page() is typed as a plain iterator; at run time it is azure-core's PageIterator.
            token: str | None = getattr(pages, "continuation_token", None)
        return page, token or None

    # --- its change feed, for projection status (cartracker.projection.status) ---------------

    def newest_change(self) -> FeedMark | None:
        # `_ts` is indexed whatever the policy says, so this reads one index entry per physical
        # partition (a few RU), not the documents.
        with store_errors():
            stamps = list(
                self.container.query_items(
                    _NEWEST_CHANGE, enable_cross_partition_query=True, max_item_count=1
                )
            )
        return FeedMark(ts=float(stamps[0]["_ts"]), position=None) if stamps else None

    def pending_changes(self, after: int | None) -> int | None:
        # The Functions host keeps the feed's continuation in its own lease documents; counting the
        # changes after it would read every one of them. Not cheap, so not said.
        return None
