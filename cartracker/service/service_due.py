"""The cars that need a service, most overdue first: one keyset query per page, whatever the number of cars.

Whether a reason applies is decided here, at query time, from the due moments the rows store
(`cartracker.projection.service_due`): the query asks for rows whose `dueKey` is below "now",
and each row says which of its reasons are due now. A continuation token is the last row's
`dueKey`; a later page uses its own "now", so a car that falls due between two pages is on a later
one only if it sorts after the last row already shown (a walk from the first page always has it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cartracker.errors import InvalidRequest
from cartracker.projection.ports import ViewStore
from cartracker.projection.service_due import Due, ServiceDueRow, due_until, is_due_key, row_from_document
from cartracker.tokens import continuation_token as next_page_token
from cartracker.tokens import parse_continuation_token

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class ServiceDueItem:
    row: ServiceDueRow
    due: list[Due]


@dataclass(frozen=True)
class ServiceDuePage:
    items: list[ServiceDueItem]
    continuation_token: str | None


class ServiceDueQueries:
    def __init__(self, views: ViewStore, *, clock: Callable[[], datetime]) -> None:
        self.views = views
        self.clock = clock

    def page(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, continuation_token: str | None = None
    ) -> ServiceDuePage:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"must be between 1 and {MAX_PAGE_SIZE}", field="pageSize")
        after = (
            None
            if continuation_token is None
            else parse_continuation_token(continuation_token, valid=is_due_key)
        )
        now = self.clock()
        # One more row than asked tells whether there is a next page.
        docs = self.views.list_service_due(until=due_until(now), after=after, limit=page_size + 1)
        rows = [row_from_document(doc) for doc in docs[:page_size]]
        more = len(docs) > page_size
        return ServiceDuePage(
            items=[ServiceDueItem(row, row.due(now)) for row in rows],
            continuation_token=next_page_token(rows[-1].due_key) if more else None,
        )
