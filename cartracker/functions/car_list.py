"""The deferred car list: its change-feed trigger (`functions.projectors`) and the list."""

from __future__ import annotations

import azure.functions as func

from cartracker import bootstrap
from cartracker.domain.money import format_cents
from cartracker.functions.projectors import MAX_RETRIES, change_feed_projector
from cartracker.http.problems import problem_boundary
from cartracker.http.requests import flag, page_size
from cartracker.http.responses import json_response
from cartracker.http.views import CarListItemView, CarListPageView, ListLag
from cartracker.projection.car_list import CAR_LIST
from cartracker.service.car_list import CarListItem, CarListPage

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated

__all__ = ["MAX_RETRIES", "bp", "list_cars", "project_car_list"]


@bp.route(route="cars", methods=["GET"])
@problem_boundary
def list_cars(req: func.HttpRequest) -> func.HttpResponse:
    # The Functions host hands a repeated query key over comma-joined; tokens never contain commas.
    after = [token for token in (req.params.get("after") or "").split(",") if token]
    with_lag = flag(req, "lag")
    services = bootstrap.services()
    page = services.car_list.page(
        page_size=page_size(req),
        continuation_token=req.params.get("continuationToken"),
        after=after,
    )
    view = car_list_view(page)
    if not with_lag:
        return json_response(view, headers={"Cache-Control": "no-store"})
    # Two small reads more: the list's status document and the newest change in `events`.
    status = services.statuses.one(CAR_LIST.name, count_parked=False)
    lag = ListLag(seconds=status.lag_seconds, caught_up=status.lag_seconds == 0)
    return json_response(view.model_copy(update={"lag": lag}), headers={"Cache-Control": "no-store"})


project_car_list = change_feed_projector(bp, CAR_LIST, function_name="project_car_list")


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
