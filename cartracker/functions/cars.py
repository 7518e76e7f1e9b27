"""The realtime reads: one car by id (a point read of its head), as it was (`asOfVersion`, `asOf`), and
its history, page by page."""

from __future__ import annotations

from datetime import datetime

import azure.functions as func

from cartracker import bootstrap
from cartracker.domain.car import Car
from cartracker.http.problems import problem_boundary
from cartracker.http.requests import as_of, car_id_param, continuation, if_none_match, page_size
from cartracker.http.responses import car_detail, etag, history_page, json_response, version_location
from cartracker.http.schemas import CarFreshness
from cartracker.service.queries import CarQueries

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated

# no-cache: caches may keep the body but must revalidate, which costs one point read and no body.
REVALIDATE = "no-cache"
# A version's state never changes. Private: API routes take a function key, and a shared cache would
# hand the answer, unrevalidated for a year, to anyone asking for the URL without one.
IMMUTABLE = "private, max-age=31536000, immutable"


@bp.route(route="cars/{carId}", methods=["GET"])
@problem_boundary
def get_car(req: func.HttpRequest) -> func.HttpResponse:
    car_id = car_id_param(req)
    point = as_of(req)
    queries = bootstrap.services().queries
    if isinstance(point, int):
        return _at_version(req, queries, car_id, point)
    if isinstance(point, datetime):
        # What `asOf` resolves to can still grow (a command decided before it may land after it),
        # so it is revalidated; the version it resolved to is the URL that can be cached for good.
        car = queries.car_as_of(car_id, point)
        headers = {"Content-Location": version_location(req, car.version), "Cache-Control": REVALIDATE}
        return _answer(req, car, "historical", headers)
    car = queries.car(car_id)
    return _answer(req, car, "realtime", {"Cache-Control": REVALIDATE})


def _at_version(req: func.HttpRequest, queries: CarQueries, car_id: str, version: int) -> func.HttpResponse:
    headers = {"ETag": etag(version), "Cache-Control": IMMUTABLE}
    # Revalidating a version needs only to know the car got that far: a point read, not the events.
    if if_none_match(req, headers["ETag"]) and queries.reaches(car_id, version):
        return func.HttpResponse(status_code=304, headers=headers)
    return _answer(req, queries.car_at_version(car_id, version), "historical", headers)


def _answer(
    req: func.HttpRequest, car: Car, freshness: CarFreshness, headers: dict[str, str]
) -> func.HttpResponse:
    headers = {"ETag": etag(car.version), **headers}
    if if_none_match(req, headers["ETag"]):
        return func.HttpResponse(status_code=304, headers=headers)
    return json_response(car_detail(car, freshness), headers=headers)


@bp.route(route="cars/{carId}/events", methods=["GET"])
@problem_boundary
def get_car_history(req: func.HttpRequest) -> func.HttpResponse:
    car_id = car_id_param(req)
    page = bootstrap.services().queries.history(
        car_id, after_version=continuation(req), page_size=page_size(req)
    )
    return json_response(history_page(page))
