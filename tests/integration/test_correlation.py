"""Correlation on each store: every event records the request's trace id and the command's id."""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from datetime import UTC, datetime

import pytest

from cartracker.bootstrap import Services
from cartracker.documents import StoredEvent, event_document, head_document
from cartracker.domain.car import fold
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.domain.events import CarAdded, OilChanged
from cartracker.http.responses import history_item
from cartracker.service.commands import CommandService

VOLVO = AddCar(make="Volvo", model="V70", owner="Alice")
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def trace_id() -> str:
    return secrets.token_hex(16)


def test_every_event_records_its_requests_trace_id_and_its_commands_id(services: Services) -> None:
    added_in, oil_in = trace_id(), trace_id()
    car_id = services.commands.add_car(VOLVO, correlation_id=added_in).car_id
    services.commands.execute(
        car_id, ChangeOil(mileage=10, charge="1"), idempotency_key="oil-1", correlation_id=oil_in
    )

    added, oil = services.events.read_events(car_id)
    assert added["correlationId"] == added_in
    assert re.fullmatch(r"[0-9a-f]{16}", added["causationId"])
    assert (oil["correlationId"], oil["causationId"]) == (oil_in, "oil-1")
    assert "commandId" not in added  # one field per id: causationId is the command id
    history = services.queries.history(car_id).events
    assert [(e.correlation_id, e.command_id) for e in history] == [
        (added_in, added["causationId"]),
        (oil_in, "oil-1"),
    ]


def test_a_keyed_replay_writes_nothing_and_the_events_keep_the_first_requests_ids(services: Services) -> None:
    first_in = trace_id()
    car_id = services.commands.add_car(VOLVO).car_id
    oil = ChangeOil(mileage=10, charge="1")
    services.commands.execute(car_id, oil, idempotency_key="oil-2", correlation_id=first_in)
    again = CommandService(services.events).execute(
        car_id, oil, idempotency_key="oil-2", correlation_id=trace_id()
    )
    assert again.replayed
    [_, stored] = services.queries.history(car_id).events
    assert (stored.correlation_id, stored.command_id) == (first_in, "oil-2")


def test_events_written_before_the_ids_were_recorded_still_read(services: Services) -> None:
    car_id = str(uuid.uuid4())
    added = CarAdded(make="Saab", model="900", owner="Ann", occurred_at=NOW)
    oil = OilChanged(mileage=5, charge_cents=100, occurred_at=NOW)
    bare = event_document(StoredEvent(car_id, 1, added))  # before command ids
    legacy = {**event_document(StoredEvent(car_id, 2, oil)), "commandId": "cmd-old"}  # before causationId
    car = fold(None, [added, oil], car_id=car_id)
    assert car is not None
    services.events.append(car_id, [bare, legacy], head_document(car), head_etag=None)

    first, second = services.queries.history(car_id).events
    assert (first.correlation_id, first.command_id) == (None, None)
    assert (second.correlation_id, second.command_id) == (None, "cmd-old")
    item = history_item(first).model_dump(by_alias=True)
    assert (item["correlationId"], item["causationId"]) == (None, None)
    # And the car takes commands on top of them.
    services.commands.execute(car_id, ChangeOil(mileage=6, charge="1"), correlation_id="c" * 32)
    assert services.queries.history(car_id).events[-1].correlation_id == "c" * 32


def test_each_applied_command_is_logged_with_its_ids(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    correlation_id = trace_id()
    with caplog.at_level(logging.INFO, logger="cartracker.commands"):
        car_id = services.commands.add_car(
            VOLVO, idempotency_key=f"add-{correlation_id}", correlation_id=correlation_id
        ).car_id
    [record] = [r for r in caplog.records if r.name == "cartracker.commands"]
    # The message carries the ids (the Functions host forwards only the message), and so do the
    # record's attributes (an OpenTelemetry exporter keeps them as custom dimensions).
    assert record.getMessage() == (
        f"AddCar applied to car {car_id}: versions 1-1 "
        f"(correlationId={correlation_id} causationId=add-{correlation_id})"
    )
    attributes = {name: record.__dict__[name] for name in ("correlationId", "causationId", "carId")}
    assert attributes == {
        "correlationId": correlation_id,
        "causationId": f"add-{correlation_id}",
        "carId": car_id,
    }


def test_a_command_sent_outside_a_request_is_not_logged(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cartracker.commands"):
        services.commands.add_car(VOLVO)  # the demo, a script: no request to join its events to
    assert [r for r in caplog.records if r.name == "cartracker.commands"] == []


def test_the_projectors_log_each_change_they_apply_with_its_ids(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    correlation_id = trace_id()
    car_id = services.commands.add_car(VOLVO, correlation_id=correlation_id).car_id
    services.commands.execute(
        car_id, ChangeOil(mileage=10, charge="1"), idempotency_key="oil-9", correlation_id=correlation_id
    )
    head = services.events.read_head(car_id)
    assert head is not None
    changes = [*services.events.read_events(car_id), head.doc]  # as the change feed delivers them
    with caplog.at_level(logging.INFO, logger="cartracker.projection.engine"):
        for projector in services.projectors.values():
            projector.apply(changes)
            projector.apply(changes)  # a redelivery applies nothing, and logs nothing
    applied = [r.__dict__ for r in caplog.records if r.name == "cartracker.projection.engine"]
    seen = sorted((r["projection"], r["version"], r["correlationId"], r["causationId"]) for r in applied)
    added_by = changes[0]["causationId"]
    assert seen == sorted(
        (name, version, correlation_id, causation)
        for name in services.projectors
        for version, causation in ((1, added_by), (2, "oil-9"))
    )
    assert all(f"(correlationId={correlation_id} causationId=" in r["msg"] % r["args"] for r in applied)
