"""Shaping answers: pydantic bodies to JSON responses, and the domain's objects to response bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import azure.functions as func
import pydantic_core
from pydantic import BaseModel

from cartracker.documents import StoredEvent
from cartracker.domain.car import Car, OilChange
from cartracker.domain.events import event_data, event_type
from cartracker.domain.money import format_cents
from cartracker.http.requests import continuation_token
from cartracker.http.schemas import CarFreshness, HistoryItem, HistoryPage
from cartracker.service.commands import CommandResult
from cartracker.service.queries import HistoryPage as StoredPage

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


def json_response(
    body: BaseModel | Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    mimetype: str = JSON,
) -> func.HttpResponse:
    """A JSON answer from a pydantic body, or from a plain mapping already in the body's wire shape."""
    if isinstance(body, BaseModel):
        # Problems leave out what does not apply (no currentVersion unless 412); views keep their nulls.
        data: str | bytes = body.model_dump_json(by_alias=True, exclude_none=mimetype == PROBLEM_JSON)
    else:
        # pydantic_core writes what a model would write (datetimes as ISO 8601 with Z), from a dict.
        data = pydantic_core.to_json(body)
    return func.HttpResponse(data, status_code=status, headers=dict(headers or {}), mimetype=mimetype)


def etag(version: int) -> str:
    return f'"{version}"'


def car_view(car: Car) -> dict[str, Any]:
    """The car as `CarView` describes it, in its wire shape.

    Every command answers with this, so it is built straight from the domain's `Car`, whose values
    are already valid, instead of being validated again through `CarView`; a property test holds it
    to `CarView` for generated cars, and the API tests check every answer against openapi.json.
    """
    return {
        "carId": car.car_id,
        "version": car.version,
        "make": car.make,
        "model": car.model,
        "owner": car.owner,
        "addedAt": car.added_at,
        "updatedAt": car.updated_at,
        "lastMileage": car.last_mileage,
        "lastServiced": car.last_serviced,
        "totalCharges": format_cents(car.total_charges_cents),
        "oilChanges": car.oil_changes,
        "brakeInspections": car.brake_inspections,
        "lastRemainingPad": car.last_remaining_pad,
        "tiresReplaced": car.tires_replaced,
        "ownerChanges": car.owner_changes,
        "lastOilChange": oil_change_view(car.last_oil_change),
    }


def car_detail(car: Car, freshness: CarFreshness) -> dict[str, Any]:
    """`CarDetailView`: the car view and how fresh it is."""
    return {**car_view(car), "freshness": freshness}


def oil_change_view(oil: OilChange | None) -> dict[str, Any] | None:
    return None if oil is None else {"at": oil.at, "mileage": oil.mileage}


def command_response(
    result: CommandResult, *, status: int = 200, location: str | None = None
) -> func.HttpResponse:
    """`CommandResponse`, built as `car_view` is."""
    body = {
        "carId": result.car_id,
        "version": result.version,
        "consistencyToken": result.consistency_token,
        "car": car_view(result.car),
    }
    headers = {"ETag": etag(result.version)}
    if location is not None:
        headers["Location"] = location
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"  # as Stripe marks an answer repeated from a record
    return json_response(body, status=status, headers=headers)


def car_location(req: func.HttpRequest, car_id: str) -> str:
    """The new car's absolute URL, next to the collection the client posted to."""
    parts = urlsplit(req.url)
    return str(urlunsplit((parts.scheme, parts.netloc, f"{parts.path.rstrip('/')}/{car_id}", "", "")))


def version_location(req: func.HttpRequest, version: int) -> str:
    """The URL of the car at `version` (`?asOfVersion=`), beside the one asked for; no other query
    parameter is carried over (a function key given as `code` stays out of a header)."""
    parts = urlsplit(req.url)
    return str(urlunsplit((parts.scheme, parts.netloc, parts.path, f"asOfVersion={version}", "")))


def history_page(page: StoredPage) -> HistoryPage:
    after = page.next_after_version
    return HistoryPage(
        items=[history_item(stored) for stored in page.events],
        continuation_token=None if after is None else continuation_token(after),
    )


def history_item(stored: StoredEvent) -> HistoryItem:
    return HistoryItem(
        version=stored.version,
        type=event_type(stored.event),  # one of EVENT_TYPES, as EventType says
        occurred_at=stored.event.occurred_at,
        data=wire_data(event_data(stored.event)),
        correlation_id=stored.correlation_id,
        causation_id=stored.command_id,
    )


def wire_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """An event's stored data as clients see it: integer `chargeCents` becomes a two-decimal `charge`."""
    return {
        ("charge" if key == "chargeCents" else key): (format_cents(value) if key == "chargeCents" else value)
        for key, value in data.items()
    }
