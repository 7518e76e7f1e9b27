"""Shaping answers: pydantic bodies to JSON responses, and the domain's objects to response bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import azure.functions as func
from pydantic import BaseModel

from cartracker.documents import StoredEvent
from cartracker.domain.car import Car
from cartracker.domain.events import event_data, event_type
from cartracker.domain.money import format_cents
from cartracker.http.requests import continuation_token
from cartracker.http.schemas import CarView, CommandResponse, HistoryItem, HistoryPage
from cartracker.service.commands import CommandResult
from cartracker.service.queries import HistoryPage as StoredPage

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


def json_response(
    body: BaseModel,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    mimetype: str = JSON,
) -> func.HttpResponse:
    # Problems leave out what does not apply (no currentVersion unless 412); views keep their nulls.
    text = body.model_dump_json(by_alias=True, exclude_none=mimetype == PROBLEM_JSON)
    return func.HttpResponse(text, status_code=status, headers=dict(headers or {}), mimetype=mimetype)


def etag(version: int) -> str:
    return f'"{version}"'


def car_view(car: Car) -> CarView:
    return CarView(
        car_id=car.car_id,
        version=car.version,
        make=car.make,
        model=car.model,
        owner=car.owner,
        added_at=car.added_at,
        updated_at=car.updated_at,
        last_mileage=car.last_mileage,
        last_serviced=car.last_serviced,
        total_charges=format_cents(car.total_charges_cents),
        oil_changes=car.oil_changes,
        brake_inspections=car.brake_inspections,
        last_remaining_pad=car.last_remaining_pad,
        tires_replaced=car.tires_replaced,
        owner_changes=car.owner_changes,
    )


def command_response(
    result: CommandResult, *, status: int = 200, location: str | None = None
) -> func.HttpResponse:
    body = CommandResponse(
        car_id=result.car_id,
        version=result.version,
        consistency_token=result.consistency_token,
        car=car_view(result.car),
    )
    headers = {"ETag": etag(result.version)}
    if location is not None:
        headers["Location"] = location
    return json_response(body, status=status, headers=headers)


def car_location(req: func.HttpRequest, car_id: str) -> str:
    """The new car's absolute URL, next to the collection the client posted to."""
    parts = urlsplit(req.url)
    return str(urlunsplit((parts.scheme, parts.netloc, f"{parts.path.rstrip('/')}/{car_id}", "", "")))


def history_page(page: StoredPage) -> HistoryPage:
    after = page.next_after_version
    return HistoryPage(
        items=[history_item(stored) for stored in page.events],
        continuation_token=None if after is None else continuation_token(after),
    )


def history_item(stored: StoredEvent) -> HistoryItem:
    return HistoryItem(
        version=stored.version,
        type=event_type(stored.event),  # EVENT_TYPES and EventType agree (schemas.py)
        occurred_at=stored.event.occurred_at,
        data=wire_data(event_data(stored.event)),
    )


def wire_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """An event's stored data as clients see it: integer `chargeCents` becomes a two-decimal `charge`."""
    return {
        ("charge" if key == "chargeCents" else key): (format_cents(value) if key == "chargeCents" else value)
        for key, value in data.items()
    }
