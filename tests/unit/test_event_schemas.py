"""Events keep one JSON shape, and old schema versions are lifted by upcasters before they fold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cartracker.documents import StoredEvent, event_document, stored_event_from_document
from cartracker.domain.events import (
    CURRENT_SCHEMA_VERSION,
    BrakesInspected,
    OilChanged,
    UnknownEvent,
    event_data,
    event_from_data,
)

WHEN = datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)


def test_an_event_document_round_trips_through_its_json_shape() -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    event = OilChanged(mileage=1200, charge_cents=4999, occurred_at=WHEN)
    stored = StoredEvent("c1", 7, event, "cmd-1", trace_id)
    doc = event_document(stored)
    assert doc == {
        "id": "c1:0000000007",
        "aggregateId": "c1",
        "docType": "event",
        "version": 7,
        "type": "OilChanged",
        "schemaVersion": 1,
        "occurredAt": "2026-01-02T03:04:05.600000Z",
        "data": {"mileage": 1200, "chargeCents": 4999},
        "correlationId": trace_id,
        "causationId": "cmd-1",
    }
    assert stored_event_from_document(doc) == stored


def test_older_event_documents_read_with_the_ids_they_have() -> None:
    event = OilChanged(mileage=1200, charge_cents=4999, occurred_at=WHEN)
    bare = event_document(StoredEvent("c1", 7, event))
    assert "correlationId" not in bare
    assert "causationId" not in bare
    assert stored_event_from_document(bare) == StoredEvent("c1", 7, event, None, None)
    # Before `causationId`, the command id was stored as `commandId`.
    assert stored_event_from_document({**bare, "commandId": "cmd-1"}).command_id == "cmd-1"


def test_an_old_schema_is_upcast_step_by_step_before_it_is_read() -> None:
    # Pretend BrakesInspected is at schema 3: schema 1 stored the pad as a fraction,
    # schema 2 called the field "pad".
    def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        return {"mileage": data["mileage"], "pad": round(data["padFraction"] * 100)}

    def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
        return {"mileage": data["mileage"], "remainingPad": data["pad"]}

    event = event_from_data(
        "BrakesInspected",
        1,
        {"mileage": 900, "padFraction": 0.42},
        WHEN,
        upcasters={("BrakesInspected", 1): v1_to_v2, ("BrakesInspected", 2): v2_to_v3},
        current_versions={**CURRENT_SCHEMA_VERSION, "BrakesInspected": 3},
    )
    assert event == BrakesInspected(mileage=900, remaining_pad=42, occurred_at=WHEN)


def test_a_schema_without_an_upcaster_is_refused_not_guessed() -> None:
    with pytest.raises(UnknownEvent, match="no upcaster"):
        event_from_data(
            "BrakesInspected",
            1,
            {"mileage": 900, "padFraction": 0.42},
            WHEN,
            current_versions={**CURRENT_SCHEMA_VERSION, "BrakesInspected": 2},
        )


def test_a_newer_schema_or_an_unknown_type_is_refused() -> None:
    data = event_data(OilChanged(mileage=1, charge_cents=1, occurred_at=WHEN))
    with pytest.raises(UnknownEvent, match="newer"):
        event_from_data("OilChanged", 2, data, WHEN)
    with pytest.raises(UnknownEvent, match="unknown event type"):
        event_from_data("CarWashed", 1, data, WHEN)


def test_data_that_does_not_match_its_schema_is_refused() -> None:
    with pytest.raises(UnknownEvent, match="does not match"):
        event_from_data("OilChanged", 1, {"mileage": "far"}, WHEN)


def test_an_event_is_written_with_its_types_current_schema_version() -> None:
    # Pretend OilChanged moved to schema 2 (and schema 1 upcasts to it): new events must say 2,
    # or reading them back would run the 1 -> 2 upcaster on data that is already at 2.
    current = {**CURRENT_SCHEMA_VERSION, "OilChanged": 2}
    stored = StoredEvent("c1", 2, OilChanged(mileage=10, charge_cents=5, occurred_at=WHEN))
    doc = event_document(stored, current_versions=current)
    assert doc["schemaVersion"] == 2
    # Read back at schema 2, the 1 -> 2 upcaster (which would zero the mileage) must not run.
    wrecks_v1 = {("OilChanged", 1): lambda data: {**data, "mileage": 0}}
    again = event_from_data(
        doc["type"], doc["schemaVersion"], doc["data"], doc["occurredAt"],
        upcasters=wrecks_v1, current_versions=current,
    )  # fmt: skip
    assert again == stored.event
    assert event_document(stored)["schemaVersion"] == CURRENT_SCHEMA_VERSION["OilChanged"]
