"""The deferred car list, with predictions for the writes a client knows the projection may lack.

A page is two round trips whatever the number of cars: one keyset query for the
rows (newest first) and one query for every shard's subtotal together with the
rows of the cars named by `after` tokens. For each token whose row is behind the
token's version, one point read of that car's head (the realtime view) is folded
into the page and the totals, and marked `predicted`. Cost: 2 + lagging tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cartracker.errors import InvalidRequest
from cartracker.heads import load_head
from cartracker.ports import Document, EventStore
from cartracker.projection.car_list import (
    CarListRow,
    is_list_key,
    row_from_car,
    row_from_document,
    row_partition,
)
from cartracker.projection.documents import as_int
from cartracker.projection.ports import ViewStore
from cartracker.tokens import continuation_token as next_page_token
from cartracker.tokens import parse_consistency_token, parse_continuation_token

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_AFTER_TOKENS = 20
MAX_PARKED = 200

Freshness = Literal["deferred", "predicted"]
DEFERRED: Freshness = "deferred"
PREDICTED: Freshness = "predicted"


@dataclass(frozen=True)
class CarListItem:
    row: CarListRow
    freshness: Freshness


@dataclass(frozen=True)
class CarListPage:
    items: list[CarListItem]
    total_charges_cents: int
    car_count: int
    continuation_token: str | None
    freshness: Freshness


class CarListQueries:
    def __init__(self, views: ViewStore, events: EventStore, *, shards: int) -> None:
        self.views = views
        self.events = events
        self.shards = shards

    def page(
        self,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        continuation_token: str | None = None,
        after: Sequence[str] = (),
    ) -> CarListPage:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"must be between 1 and {MAX_PAGE_SIZE}", field="pageSize")
        if len(after) > MAX_AFTER_TOKENS:
            raise InvalidRequest(f"at most {MAX_AFTER_TOKENS} consistency tokens per request", field="after")
        before = (
            None
            if continuation_token is None
            else parse_continuation_token(continuation_token, valid=is_list_key)
        )
        written: dict[str, int] = {}
        for token in after:
            car_id, version = parse_consistency_token(token)
            written[car_id] = max(version, written.get(car_id, 0))

        # One more row than asked tells whether there is a next page.
        docs = self.views.list_rows(before=before, limit=page_size + 1)
        more = len(docs) > page_size
        rows = [row_from_document(d) for d in docs[:page_size]]
        summary = self.views.read_summary([(row_partition(c, self.shards), c) for c in written])
        total = sum(as_int(s["totalChargesCents"]) for s in summary.subtotals)
        count = sum(as_int(s["carCount"]) for s in summary.subtotals)
        items = {row.car_id: CarListItem(row, DEFERRED) for row in rows}
        next_key = rows[-1].list_key if more else None

        predicted_any = False
        for car_id, version in written.items():
            # The totals are corrected against the row the subtotals were read with (same query).
            stored = summary.rows.get(car_id)
            row = None if stored is None else row_from_document(stored)
            on_page = items.get(car_id)
            if on_page is not None and row is not None and row.version > on_page.row.version:
                # The page and the summary are two reads: the projector moved this row on in
                # between. Show the newer row, the one the totals were read with.
                on_page = items[car_id] = CarListItem(row, DEFERRED)
            if max(_version(row), _version(None if on_page is None else on_page.row)) >= version:
                continue  # the projection has caught up with this write
            head = load_head(self.events, car_id)
            if head is None or head.version <= _version(row):
                continue  # a token for a car that does not exist, or nothing newer to show
            predicted = row_from_car(head.car)
            total += predicted.total_charges_cents - (0 if row is None else row.total_charges_cents)
            count += row is None
            key = predicted.list_key
            # Shown where it sorts, if that is on this page (a new car sorts first: page 1).
            on_this_page = (before is None or key < before) and (next_key is None or key > next_key)
            if on_page is not None or on_this_page:
                items[car_id] = CarListItem(predicted, PREDICTED)
            predicted_any = True

        ordered = sorted(items.values(), key=lambda item: item.row.list_key, reverse=True)
        return CarListPage(
            items=ordered,
            total_charges_cents=total,
            car_count=count,
            continuation_token=None if next_key is None else next_page_token(next_key),
            freshness=PREDICTED if predicted_any else DEFERRED,
        )

    def parked(self, *, limit: int = MAX_PARKED, projection: str | None = None) -> list[Document]:
        """Parked changes, most recent first: of one projection (by name), or of all."""
        if not 1 <= limit <= MAX_PARKED:
            raise InvalidRequest(f"must be between 1 and {MAX_PARKED}", field="pageSize")
        return self.views.list_parked(limit=limit, projection=projection)


def _version(row: CarListRow | None) -> int:
    return 0 if row is None else row.version
