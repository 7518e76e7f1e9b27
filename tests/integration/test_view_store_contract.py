"""The ViewStore contract, run once on SQLite and once on the Cosmos adapter (real SDK, real server)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cartracker.bootstrap import Services
from cartracker.domain.car import OilChange
from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.errors import ConcurrencyConflict, ShardConflict
from cartracker.ports import Document
from cartracker.projection.car_list import CarListRow, row_document, shard_partition, subtotal_document
from cartracker.projection.documents import parked_document, without_system_fields
from cartracker.projection.ports import RowWrite, ShardState
from cartracker.projection.service_due import SERVICE_DUE, ServiceDueRow, due_until
from cartracker.projection.service_due import row_document as service_due_document

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def row(partition_key: str, *, minutes: int = 0, version: int = 1, cents: int = 0) -> Document:
    car = CarListRow(
        car_id=str(uuid.uuid4()),
        version=version,
        make="Volvo",
        model="V70",
        owner="Ann",
        added_at=T0 + timedelta(minutes=minutes),
        last_serviced=None,
        total_charges_cents=cents,
    )
    return row_document(car, partition_key)


def service_due_row(days_since_oil_change: int) -> Document:
    """A car whose oil change falls due (by time) 180 days after `T0 - days_since_oil_change`."""
    oil_at = T0 - timedelta(days=days_since_oil_change)
    car = ServiceDueRow(
        car_id=str(uuid.uuid4()),
        version=2,
        make="Volvo",
        model="V70",
        owner="Ann",
        added_at=oil_at,
        last_mileage=10,
        last_oil_change=OilChange(at=oil_at, mileage=10),
        remaining_pad=None,
        oil_due_by_mileage_since=None,
        brakes_due_since=None,
    )
    return service_due_document(car, SERVICE_DUE.partition_of(car.car_id, 7))


def shard() -> str:
    # Each test gets fresh stores, but a random shard also proves nothing leaks across partitions.
    return shard_partition(uuid.uuid4().int % 90)


def strip(docs: list[Document]) -> list[Document]:
    return [without_system_fields(d) for d in docs]


class TestViewStoreContract:
    def test_an_empty_shard_has_no_rows_and_no_subtotal(self, services: Services) -> None:
        state = services.views.read_shard(shard(), [str(uuid.uuid4())])
        assert (state.rows, state.subtotal) == ({}, None)

    def test_rows_and_subtotal_are_written_together_and_read_back_with_etags(
        self, services: Services
    ) -> None:
        pk = shard()
        a, b = row(pk, cents=4999), row(pk, cents=1)
        services.views.write_shard(
            pk, [RowWrite(a, None), RowWrite(b, None)], subtotal_document(pk, 5000, 2), subtotal_etag=None
        )
        state = services.views.read_shard(pk, [a["id"]])
        assert list(state.rows) == [a["id"]], "only the rows asked for"
        assert without_system_fields(state.rows[a["id"]].doc) == a
        assert state.subtotal is not None
        assert without_system_fields(state.subtotal.doc) == subtotal_document(pk, 5000, 2)
        assert state.rows[a["id"]].etag
        assert state.subtotal.etag

    def test_a_shard_read_sees_nothing_of_other_shards(self, services: Services) -> None:
        mine, other = shard_partition(1), shard_partition(2)
        a = row(other)
        services.views.write_shard(
            other, [RowWrite(a, None)], subtotal_document(other, 0, 1), subtotal_etag=None
        )
        state = services.views.read_shard(mine, [a["id"]])
        assert (state.rows, state.subtotal) == ({}, None)

    def test_a_stale_subtotal_etag_is_a_conflict_and_writes_nothing(self, services: Services) -> None:
        pk = shard()
        first = row(pk, cents=100)
        services.views.write_shard(
            pk, [RowWrite(first, None)], subtotal_document(pk, 100, 1), subtotal_etag=None
        )
        stale = services.views.read_shard(pk, []).subtotal
        assert stale is not None
        second = row(pk, cents=5)
        services.views.write_shard(
            pk, [RowWrite(second, None)], subtotal_document(pk, 105, 2), subtotal_etag=stale.etag
        )
        late = row(pk, cents=7)
        with pytest.raises(ConcurrencyConflict):
            services.views.write_shard(
                pk, [RowWrite(late, None)], subtotal_document(pk, 107, 2), subtotal_etag=stale.etag
            )
        state = services.views.read_shard(pk, [late["id"]])
        assert state.rows == {}, "the row of the failed batch was rolled back"
        assert state.subtotal is not None
        assert state.subtotal.doc["totalChargesCents"] == 105

    def test_adds_to_the_subtotal_from_a_stale_read_commute_and_never_conflict(
        self, services: Services
    ) -> None:
        # Two instances read the shard, then each writes a car of its own: both adds land, exactly.
        pk = shard()
        services.views.write_shard(pk, [RowWrite(row(pk, cents=100), None)], subtotal_document(pk, 100, 1))
        read_by_both = services.views.read_shard(pk, []).subtotal
        assert read_by_both is not None
        for cents in (250, -30):
            services.views.write_shard(
                pk,
                [RowWrite(row(pk, cents=cents), None)],
                add_to_subtotal={"totalChargesCents": cents, "carCount": 1},
            )
        subtotal = services.views.read_shard(pk, []).subtotal
        assert subtotal is not None
        assert without_system_fields(subtotal.doc) == subtotal_document(pk, 320, 3)
        assert subtotal.etag != read_by_both.etag, "an add moves the subtotal's etag, as any write does"

    def test_a_row_that_lost_its_race_rolls_its_add_back(self, services: Services) -> None:
        pk = shard()
        a = row(pk, cents=10)
        services.views.write_shard(pk, [RowWrite(a, None)], subtotal_document(pk, 10, 1))
        stale = services.views.read_shard(pk, [a["id"]]).rows[a["id"]].etag
        services.views.write_shard(
            pk,
            [RowWrite({**a, "version": 2, "totalChargesCents": 15}, stale)],
            add_to_subtotal={"totalChargesCents": 5},
        )
        with pytest.raises(ShardConflict) as conflict:
            services.views.write_shard(
                pk,
                [RowWrite({**a, "version": 2, "totalChargesCents": 15}, stale)],
                add_to_subtotal={"totalChargesCents": 5},
            )
        assert not conflict.value.on_subtotal
        subtotal = services.views.read_shard(pk, []).subtotal
        assert subtotal is not None
        assert subtotal.doc["totalChargesCents"] == 15

    def test_adding_to_a_missing_subtotal_is_a_conflict_on_the_subtotal(self, services: Services) -> None:
        pk = shard()
        a = row(pk)
        with pytest.raises(ShardConflict) as conflict:
            services.views.write_shard(pk, [RowWrite(a, None)], add_to_subtotal={"carCount": 1})
        assert conflict.value.on_subtotal
        assert services.views.read_shard(pk, [a["id"]]) == ShardState(), "the row was rolled back"

    def test_a_stale_subtotal_etag_is_a_conflict_on_the_subtotal(self, services: Services) -> None:
        pk = shard()
        services.views.write_shard(pk, [], subtotal_document(pk, 0, 0))
        stale = services.views.read_shard(pk, []).subtotal
        assert stale is not None
        services.views.write_shard(pk, [], subtotal_document(pk, 1, 0), subtotal_etag=stale.etag)
        with pytest.raises(ShardConflict) as conflict:
            services.views.write_shard(
                pk, [RowWrite(row(pk), None)], subtotal_document(pk, 2, 1), subtotal_etag=stale.etag
            )
        assert conflict.value.on_subtotal

    def test_ensuring_a_subtotal_creates_it_once_and_never_overwrites_it(self, services: Services) -> None:
        pk = shard()
        services.views.ensure_subtotal(pk, subtotal_document(pk, 0, 0))
        services.views.write_shard(
            pk, [RowWrite(row(pk, cents=7), None)], add_to_subtotal={"totalChargesCents": 7, "carCount": 1}
        )
        services.views.ensure_subtotal(pk, subtotal_document(pk, 0, 0))  # a second instance, a moment late
        subtotal = services.views.read_shard(pk, []).subtotal
        assert subtotal is not None
        assert without_system_fields(subtotal.doc) == subtotal_document(pk, 7, 1)

    def test_writing_and_adding_to_the_subtotal_at_once_is_refused(self, services: Services) -> None:
        pk = shard()
        with pytest.raises(ValueError, match="not both"):
            services.views.write_shard(pk, [], subtotal_document(pk, 0, 0), add_to_subtotal={"carCount": 1})

    def test_creating_a_row_that_exists_is_a_conflict(self, services: Services) -> None:
        pk = shard()
        a = row(pk)
        services.views.write_shard(pk, [RowWrite(a, None)], subtotal_document(pk, 0, 1), subtotal_etag=None)
        subtotal = services.views.read_shard(pk, []).subtotal
        assert subtotal is not None
        with pytest.raises(ConcurrencyConflict):
            services.views.write_shard(
                pk, [RowWrite(a, None)], subtotal_document(pk, 0, 2), subtotal_etag=subtotal.etag
            )

    def test_a_row_replaced_with_a_stale_etag_is_a_conflict(self, services: Services) -> None:
        pk = shard()
        a = row(pk)
        services.views.write_shard(pk, [RowWrite(a, None)], subtotal_document(pk, 0, 1), subtotal_etag=None)
        state = services.views.read_shard(pk, [a["id"]])
        assert state.subtotal is not None
        old_etag = state.rows[a["id"]].etag
        newer = {**a, "version": 2}
        services.views.write_shard(
            pk, [RowWrite(newer, old_etag)], subtotal_document(pk, 0, 1), subtotal_etag=state.subtotal.etag
        )
        subtotal = services.views.read_shard(pk, []).subtotal
        assert subtotal is not None
        with pytest.raises(ConcurrencyConflict):
            services.views.write_shard(
                pk,
                [RowWrite({**a, "version": 3}, old_etag)],
                subtotal_document(pk, 0, 1),
                subtotal_etag=subtotal.etag,
            )

    def test_rows_are_listed_newest_first_across_shards_by_keyset(self, services: Services) -> None:
        written = []
        for minutes, pk in enumerate([shard_partition(s) for s in (0, 1, 2, 1, 0, 2, 2)]):
            doc = row(pk, minutes=minutes)
            state = services.views.read_shard(pk, [])
            count = 0 if state.subtotal is None else state.subtotal.doc["carCount"]
            services.views.write_shard(
                pk,
                [RowWrite(doc, None)],
                subtotal_document(pk, 0, count + 1),
                subtotal_etag=None if state.subtotal is None else state.subtotal.etag,
            )
            written.append(doc)
        newest_first = sorted(written, key=lambda d: d["listKey"], reverse=True)
        assert strip(services.views.list_rows(before=None, limit=3)) == newest_first[:3]
        after_third = services.views.list_rows(before=newest_first[2]["listKey"], limit=10)
        assert strip(after_third) == newest_first[3:]

    def test_service_due_rows_are_listed_most_overdue_first_across_shards_below_now(
        self, services: Services
    ) -> None:
        rows = [service_due_row(days) for days in (30, -5, 200, 0, 90, -1, 10)]
        for doc in rows:
            services.views.write_shard(doc["partitionKey"], [RowWrite(doc, None)])
        services.views.write_shard(shard(), [RowWrite(row(shard()), None)])  # another projection's row
        now = T0 + timedelta(days=180)  # the rows oil-changed after T0 are not due yet
        due = sorted((d for d in rows if d["dueKey"] < due_until(now)), key=lambda d: d["dueKey"])
        assert len(due) == 5

        first = services.views.list_service_due(until=due_until(now), after=None, limit=2)
        assert strip(first) == due[:2]
        rest = services.views.list_service_due(until=due_until(now), after=first[-1]["dueKey"], limit=10)
        assert strip(rest) == due[2:]

    def test_the_summary_holds_every_subtotal_and_the_named_rows(self, services: Services) -> None:
        named = []
        for s in (3, 4):
            pk = shard_partition(s)
            a, b = row(pk, cents=s), row(pk, cents=10 * s)
            services.views.write_shard(
                pk,
                [RowWrite(a, None), RowWrite(b, None)],
                subtotal_document(pk, 11 * s, 2),
                subtotal_etag=None,
            )
            named.append((pk, a["id"]))
        summary = services.views.read_summary([*named, (shard_partition(5), str(uuid.uuid4()))])
        assert sorted((s["partitionKey"], s["totalChargesCents"]) for s in summary.subtotals) == [
            (shard_partition(3), 33),
            (shard_partition(4), 44),
        ]
        assert set(summary.rows) == {car_id for _, car_id in named}

    def test_parking_the_same_change_twice_keeps_one_and_lists_newest_first(self, services: Services) -> None:
        change = {"id": "x:0000000002", "aggregateId": "x", "version": 2, "docType": "event", "type": "?"}
        services.views.park(parked_document(change, "first reason", T0, projection="car-list"))
        later = T0 + timedelta(seconds=1)
        services.views.park(parked_document(change, "second reason", later, projection="car-list"))
        other = {**change, "id": "y:0000000001", "aggregateId": "y", "version": 1}
        services.views.park(parked_document(other, "other", T0 + timedelta(seconds=2), projection="car-list"))
        parked = services.views.list_parked(limit=10)
        assert [(p["documentId"], p["reason"]) for p in parked] == [
            ("y:0000000001", "other"),
            ("x:0000000002", "second reason"),
        ]
        assert services.views.list_parked(limit=1)[0]["documentId"] == "y:0000000001"

    def test_parked_changes_are_kept_and_listed_per_projection(self, services: Services) -> None:
        change = {"id": "x:0000000002", "aggregateId": "x", "version": 2, "docType": "event", "type": "?"}
        services.views.park(parked_document(change, "list", T0, projection="car-list"))
        services.views.park(parked_document(change, "other", T0, projection="car"))  # a prefix of the first
        mine = services.views.list_parked(limit=10, projection="car-list")
        assert [(p["projection"], p["reason"]) for p in mine] == [("car-list", "list")]
        assert [p["reason"] for p in services.views.list_parked(limit=10, projection="car")] == ["other"]
        assert len(services.views.list_parked(limit=10)) == 2, "the same change, once per projection"
        by_id = services.views.read_parked(after=None, limit=10, projection="car")
        assert [item.doc["reason"] for item in by_id] == ["other"]
        assert services.views.list_parked(limit=10, projection="service-due") == []

    def test_a_shard_write_may_delete_rows_and_leave_out_the_subtotal(self, services: Services) -> None:
        pk = shard()
        a, b = row(pk, cents=5), row(pk, cents=7)
        services.views.write_shard(pk, [RowWrite(a, None), RowWrite(b, None)])
        state = services.views.read_whole_shard(pk)
        assert (sorted(state.rows), state.subtotal) == (sorted([a["id"], b["id"]]), None)
        moved = {**a, "version": 4}
        services.views.write_shard(
            pk, [RowWrite(moved, state.rows[a["id"]].etag)], delete_rows=[(b["id"], state.rows[b["id"]].etag)]
        )
        after = services.views.read_whole_shard(pk)
        assert {car_id: without_system_fields(r.doc) for car_id, r in after.rows.items()} == {a["id"]: moved}
        with pytest.raises(ConcurrencyConflict):  # deleting a row that changed since it was read
            services.views.write_shard(pk, [], delete_rows=[(a["id"], state.rows[a["id"]].etag)])
        assert list(services.views.read_whole_shard(pk).rows) == [a["id"]], "all or nothing"

    def test_a_parked_change_is_read_by_id_and_counted_per_projection(self, services: Services) -> None:
        change = {"id": "car:0000000002", "aggregateId": "car", "version": 2, "docType": "event"}
        mine = parked_document(change, "bad", T0, projection="car-list")
        services.views.park(mine)
        services.views.park(parked_document(change, "bad", T0, projection="car-listing"))
        services.views.park(parked_document(change, "bad", T0, projection="car"))

        found = services.views.read_parked_change(mine["id"])
        assert found is not None
        assert without_system_fields(found.doc) == mine
        assert services.views.read_parked_change("parked:car-list:nope") is None
        assert [services.views.count_parked(name) for name in ("car-list", "car-listing", "car", "x")] == [
            1,
            1,
            1,
            0,
        ], "a projection whose name starts another's counts only its own"

    def test_a_status_document_is_created_once_and_replaced_only_at_its_etag(
        self, services: Services
    ) -> None:
        doc = {
            "id": "status:car-list",
            "partitionKey": "status",
            "docType": "projectionStatus",
            "appliedTs": 1,
        }
        etag = services.views.write_status(doc, None)
        with pytest.raises(ConcurrencyConflict):
            services.views.write_status(doc, None)
        newer = services.views.write_status({**doc, "appliedTs": 2}, etag)
        with pytest.raises(ConcurrencyConflict):
            services.views.write_status({**doc, "appliedTs": 3}, etag)

        found = services.views.read_statuses(["status:car-list", "status:other"])
        assert list(found) == ["status:car-list"]
        assert (found["status:car-list"].etag, found["status:car-list"].doc["appliedTs"]) == (newer, 2)


def test_the_projector_gives_the_fold_on_each_store(services: Services) -> None:
    """Over each store: a batch as the change feed would deliver it (events and heads) projects exactly."""
    cars = []
    for cents in (1, 10, 100):
        car_id = services.commands.add_car(AddCar(make="Saab", model="900", owner="Ann")).car_id
        services.commands.execute(
            car_id, ChangeOil(mileage=5, charge=f"0.{cents:02d}" if cents < 100 else "1")
        )
        cars.append(car_id)
    batch = []
    for car_id in cars:
        batch.extend(services.events.read_events(car_id))
        head = services.events.read_head(car_id)
        assert head is not None
        batch.append(head.doc)
    services.projector.apply(batch)
    services.projector.apply(batch)  # redelivered
    page = services.car_list.page()
    keys = [item.row.list_key for item in page.items]
    assert keys == sorted(keys, reverse=True), "newest first"
    by_car = {item.row.car_id: item.row.total_charges_cents for item in page.items}
    assert by_car == dict(zip(cars, [1, 10, 100], strict=True))
    assert (page.total_charges_cents, page.car_count, page.freshness) == (111, 3, "deferred")
