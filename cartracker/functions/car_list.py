"""The deferred car list: its projector (a change-feed trigger), the list, and the parked changes.

The trigger body only turns the `DocumentList` into dicts and hands it to the
projector service; every rule lives in `cartracker.projection`. Its retry policy
redelivers a batch whose shard writes kept failing; on the last attempt the
projector parks those documents instead, so nothing is dropped silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.functions as func
from pydantic import Field

from cartracker import bootstrap
from cartracker.domain.money import format_cents
from cartracker.http.problems import problem_boundary
from cartracker.http.requests import page_size
from cartracker.http.responses import json_response
from cartracker.http.schemas import Body, CarId, Money
from cartracker.service.car_list import CarListItem, CarListPage, Freshness
from cartracker.settings import CAR_LIST_LEASE_PREFIX, CONNECTION_PREFIX

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated

# The Functions host (not the worker) retries a failed invocation with the same batch.
MAX_RETRIES = 5
PARKED_ROUTE = "manage/parked"


class CarListItemView(Body):
    car_id: CarId
    make: str
    model: str
    owner: str
    last_serviced: datetime | None
    total_charges: Money
    version: int = Field(ge=1, description="The car's version this item shows.")
    freshness: Freshness = Field(
        description="`deferred`: from the projection; `predicted`: folded in from the car's head "
        "for an `after` token the projection had not caught up with yet."
    )


class CarListPageView(Body):
    items: list[CarListItemView] = Field(description="Newest car first.")
    total_charges: Money = Field(description="Of every car, not only this page's.")
    car_count: int = Field(ge=0, description="Every car, not only this page's.")
    continuation_token: str | None = Field(
        description="Opaque; pass it back as `continuationToken` for the next page. Null on the last page."
    )
    freshness: Freshness = Field(
        description="`predicted` when any `after` token was ahead of the projection."
    )


class ParkedChange(Body):
    id: str
    document_id: str = Field(description="The id of the change-feed document that could not be projected.")
    car_id: str | None
    version: int | None
    reason: str
    parked_at: datetime
    document: dict[str, Any]


class ParkedList(Body):
    items: list[ParkedChange] = Field(description="Most recently parked first.")


@bp.route(route="cars", methods=["GET"])
@problem_boundary
def list_cars(req: func.HttpRequest) -> func.HttpResponse:
    # The Functions host hands a repeated query key over comma-joined; tokens never contain commas.
    after = [token for token in (req.params.get("after") or "").split(",") if token]
    page = bootstrap.services().car_list.page(
        page_size=page_size(req),
        continuation_token=req.params.get("continuationToken"),
        after=after,
    )
    return json_response(car_list_view(page), headers={"Cache-Control": "no-store"})


@bp.route(route=PARKED_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@problem_boundary
def list_parked(req: func.HttpRequest) -> func.HttpResponse:
    docs = bootstrap.services().car_list.parked(limit=page_size(req))
    return json_response(ParkedList(items=[ParkedChange.model_validate(d) for d in docs]))


@bp.function_name("project_car_list")
@bp.retry(
    strategy="exponential_backoff",
    max_retry_count=str(MAX_RETRIES),
    minimum_interval="00:00:02",
    maximum_interval="00:01:00",
)
@bp.cosmos_db_trigger(
    arg_name="changes",
    connection=CONNECTION_PREFIX,
    database_name="%COSMOS_DATABASE%",
    container_name="%COSMOS_EVENTS_CONTAINER%",
    lease_container_name="%COSMOS_LEASES_CONTAINER%",
    lease_container_prefix=CAR_LIST_LEASE_PREFIX,
    create_lease_container_if_not_exists=False,
    # Leases created after events were written must still see those events, and a projection added
    # later must replay the whole history. Only read when this prefix has no leases yet.
    start_from_beginning=True,  # type: ignore[arg-type]  # the library annotates it as datetime.time
    max_items_per_invocation=100,
)
def project_car_list(changes: func.DocumentList, context: func.Context) -> None:
    retry = context.retry_context
    last_attempt = retry is None or retry.retry_count >= retry.max_retry_count
    bootstrap.services().projector.apply([doc.to_dict() for doc in changes], park_failures=last_attempt)


def car_list_view(page: CarListPage) -> CarListPageView:
    return CarListPageView(
        items=[_item(item) for item in page.items],
        total_charges=format_cents(page.total_charges_cents),
        car_count=page.car_count,
        continuation_token=page.continuation_token,
        freshness=page.freshness,
    )


def _item(item: CarListItem) -> CarListItemView:
    row = item.row
    return CarListItemView(
        car_id=row.car_id,
        make=row.make,
        model=row.model,
        owner=row.owner,
        last_serviced=row.last_serviced,
        total_charges=format_cents(row.total_charges_cents),
        version=row.version,
        freshness=item.freshness,
    )
