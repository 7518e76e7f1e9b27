"""The realtime reads: one car by id (a point read of its head) and its history, page by page."""

from __future__ import annotations

import azure.functions as func

from cartracker import bootstrap
from cartracker.http.problems import problem_boundary
from cartracker.http.requests import car_id_param, continuation, if_none_match, page_size
from cartracker.http.responses import car_view, etag, history_page, json_response

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated


@bp.route(route="cars/{carId}", methods=["GET"])
@problem_boundary
def get_car(req: func.HttpRequest) -> func.HttpResponse:
    car = bootstrap.services().queries.car(car_id_param(req))
    # no-cache: caches may keep the body but must revalidate, which costs one point read and no body.
    headers = {"ETag": etag(car.version), "Cache-Control": "no-cache"}
    if if_none_match(req, headers["ETag"]):
        return func.HttpResponse(status_code=304, headers=headers)
    return json_response(car_view(car), headers=headers)


@bp.route(route="cars/{carId}/events", methods=["GET"])
@problem_boundary
def get_car_history(req: func.HttpRequest) -> func.HttpResponse:
    car_id = car_id_param(req)
    page = bootstrap.services().queries.history(
        car_id, after_version=continuation(req), page_size=page_size(req)
    )
    return json_response(history_page(page))
