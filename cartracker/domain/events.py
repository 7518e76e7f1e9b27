"""Events: what happened to a car, in the past tense, and their one JSON shape.

Every store writes an event's `data` exactly as `event_data` returns it and
reads it back through `event_from_data`, which first runs the upcasters that
lift an old `schemaVersion` to the current one. Adding a field to an event
means bumping its schema version and registering an upcaster for the old one,
so that history written years ago still folds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    occurred_at: AwareDatetime


class CarAdded(Event):
    make: str
    model: str
    owner: str


class OilChanged(Event):
    mileage: int
    charge_cents: int


class BrakesInspected(Event):
    mileage: int
    remaining_pad: int


class TiresReplaced(Event):
    number_of_tires_replaced: int
    charge_cents: int


class OwnerChanged(Event):
    new_owner: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls for cls in (CarAdded, OilChanged, BrakesInspected, TiresReplaced, OwnerChanged)
}
CURRENT_SCHEMA_VERSION: dict[str, int] = {name: 1 for name in EVENT_TYPES}

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
# (event type, schema version it reads) -> function returning the data at version + 1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnknownEvent(ValueError):
    """An event this code cannot read: an unknown type, or a schema it cannot upcast."""


def event_type(event: Event) -> str:
    return type(event).__name__


def event_data(event: Event) -> dict[str, Any]:
    """The event's `data` as stored: camelCase, without the envelope's occurredAt."""
    return split_occurred_at(event)[1]


def split_occurred_at(event: Event) -> tuple[str, dict[str, Any]]:
    """The event's occurredAt as ISO 8601 text (UTC as `Z`), and its `data`: one serialization for both."""
    data = event.model_dump(mode="json", by_alias=True)
    return data.pop("occurredAt"), data


def event_from_data(
    type_name: str,
    schema_version: int,
    data: dict[str, Any],
    occurred_at: datetime | str,
    *,
    upcasters: dict[tuple[str, int], Upcaster] | None = None,
    current_versions: dict[str, int] | None = None,
) -> Event:
    """Rebuild an event from its stored parts, upcasting old schema versions first."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise UnknownEvent(f"unknown event type {type_name!r}")
    table = UPCASTERS if upcasters is None else upcasters
    current = (CURRENT_SCHEMA_VERSION if current_versions is None else current_versions)[type_name]
    version = schema_version
    while version < current:
        step = table.get((type_name, version))
        if step is None:
            raise UnknownEvent(f"no upcaster for {type_name} schema {version}")
        data = step(data)
        version += 1
    if version != current:
        raise UnknownEvent(f"{type_name} schema {schema_version} is newer than this code ({current})")
    try:
        return cls.model_validate({**data, "occurredAt": occurred_at})
    except ValidationError as exc:
        raise UnknownEvent(
            f"{type_name} data does not match schema {current}: {exc.errors()[0]['msg']}"
        ) from exc
