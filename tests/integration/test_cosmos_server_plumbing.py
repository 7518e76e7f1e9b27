"""Tests of the Cosmos test plumbing itself: the server, the counting transport and its quirk fixes.

The store's contract tests rely on these behaving like Cosmos DB where it matters
(atomic batches, etag checks, 404s, round-trip counts); if one of them breaks,
this file says so before the contract suite fails in a confusing way.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core import MatchConditions
from azure.cosmos import ContainerProxy, CosmosClient
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosBatchOperationError,
    CosmosHttpResponseError,
    CosmosResourceNotFoundError,
)

from cartracker.settings import EVENTS_CONTAINER, VIEWS_CONTAINER
from tests.support import cosmos
from tests.support.cosmos import (
    CosmosServer,
    CountingTransport,
    create_containers,
    make_client,
    start_cosmos_server,
)


@pytest.fixture(scope="module")
def server() -> Iterator[CosmosServer]:
    with start_cosmos_server() as running:
        yield running


@pytest.fixture(scope="module")
def transport() -> CountingTransport:
    return CountingTransport()


@pytest.fixture(scope="module")
def client(server: CosmosServer, transport: CountingTransport) -> CosmosClient:
    client = make_client(server.endpoint, transport)
    create_containers(client, "plumbing")
    return client


@pytest.fixture
def events(client: CosmosClient, transport: CountingTransport) -> ContainerProxy:
    container = client.get_database_client("plumbing").get_container_client(EVENTS_CONTAINER)
    container.read()  # the SDK reads container metadata once per client; keep it out of the counts
    transport.reset()
    return container


def new_car() -> str:
    return f"car-{uuid.uuid4().hex[:8]}"


def test_server_listens_on_loopback_and_client_reads_account(server: CosmosServer) -> None:
    assert server.running
    assert server.endpoint == f"https://127.0.0.1:{server.port}/"
    counting = CountingTransport()
    make_client(server.endpoint, counting)
    # One account read on creation, one health check the client waited for: nothing else.
    assert counting.kinds() == ["account", "account"]
    assert all(r.status == 200 for r in counting.records)
    assert counting.kinds(skip_account=True) == []


def test_point_read_is_exactly_one_round_trip(events: ContainerProxy, transport: CountingTransport) -> None:
    car = new_car()
    events.create_item({"id": "head", "aggregateId": car, "version": 0})
    transport.reset()

    item = events.read_item("head", partition_key=car)

    assert transport.count == 1
    assert transport.kinds() == ["read"]
    assert transport.records[0].method == "GET"
    assert transport.records[0].status == 200
    assert item["_etag"]


def test_missing_item_is_not_found_every_time(events: ContainerProxy, transport: CountingTransport) -> None:
    car = new_car()
    for _ in range(2):
        # Without the transport's fix the server answers 500 (and the SDK retries it).
        with pytest.raises(CosmosResourceNotFoundError):
            events.read_item("head", partition_key=car)
    assert transport.kinds() == ["read", "read"]


def test_point_read_is_scoped_by_partition_key(events: ContainerProxy) -> None:
    car = new_car()
    events.create_item({"id": "head", "aggregateId": car})
    with pytest.raises(CosmosResourceNotFoundError):
        events.read_item("head", partition_key=new_car())


def test_batch_create_and_replace_if_match(events: ContainerProxy, transport: CountingTransport) -> None:
    car = new_car()
    head = events.create_item({"id": "head", "aggregateId": car, "version": 0})
    transport.reset()

    results = events.execute_item_batch(
        [
            ("create", ({"id": f"{car}:0000000001", "aggregateId": car, "type": "Registered"},)),
            (
                "replace",
                ("head", {"id": "head", "aggregateId": car, "version": 1}),
                {"if_match_etag": head["_etag"]},
            ),
        ],
        partition_key=car,
    )

    assert transport.kinds() == ["batch"]
    assert [r["statusCode"] for r in results] == [201, 200]
    new_head = events.read_item("head", partition_key=car)
    assert new_head["version"] == 1
    assert new_head["_etag"] != head["_etag"]
    assert new_head["_etag"] == results[1]["eTag"] == results[1]["resourceBody"]["_etag"]


def test_failed_batch_applies_nothing(events: ContainerProxy, transport: CountingTransport) -> None:
    car = new_car()
    stale = events.create_item({"id": "head", "aggregateId": car, "version": 0})["_etag"]
    events.replace_item("head", {"id": "head", "aggregateId": car, "version": 1})
    transport.reset()

    with pytest.raises(CosmosBatchOperationError) as failure:
        events.execute_item_batch(
            [
                ("create", ({"id": f"{car}:0000000001", "aggregateId": car},)),
                (
                    "replace",
                    ("head", {"id": "head", "aggregateId": car, "version": 2}),
                    {"if_match_etag": stale},
                ),
            ],
            partition_key=car,
        )

    assert transport.kinds() == ["batch"]
    assert failure.value.status_code == 412
    assert failure.value.error_index == 1
    assert [r["statusCode"] for r in failure.value.operation_responses] == [424, 412]
    # All or nothing: the create before the failing replace was rolled back.
    with pytest.raises(CosmosResourceNotFoundError):
        events.read_item(f"{car}:0000000001", partition_key=car)


def test_duplicate_create_in_batch_is_a_409(events: ContainerProxy) -> None:
    car = new_car()
    events.create_item({"id": f"{car}:0000000001", "aggregateId": car})
    head = events.create_item({"id": "head", "aggregateId": car, "version": 1})

    with pytest.raises(CosmosBatchOperationError) as failure:
        events.execute_item_batch(
            [
                ("create", ({"id": f"{car}:0000000001", "aggregateId": car},)),
                (
                    "replace",
                    ("head", {"id": "head", "aggregateId": car, "version": 2}),
                    {"if_match_etag": head["_etag"]},
                ),
            ],
            partition_key=car,
        )

    assert failure.value.status_code == 409
    assert failure.value.error_index == 0
    assert events.read_item("head", partition_key=car)["version"] == 1


def test_replace_with_stale_etag_is_a_412(events: ContainerProxy) -> None:
    car = new_car()
    stale = events.create_item({"id": "head", "aggregateId": car, "version": 0})["_etag"]
    events.replace_item("head", {"id": "head", "aggregateId": car, "version": 1})
    with pytest.raises(CosmosAccessConditionFailedError):
        events.replace_item(
            "head",
            {"id": "head", "aggregateId": car, "version": 2},
            etag=stale,
            match_condition=MatchConditions.IfNotModified,
        )


def _patch(doc_id: str, operations: list[dict[str, object]], **options: object) -> tuple[object, ...]:
    return ("patch", (doc_id, operations), options)


def test_batch_patch_increments_and_commutes(events: ContainerProxy, transport: CountingTransport) -> None:
    car = new_car()
    before = events.create_item({"id": "total", "aggregateId": car, "count": 2, "cents": 500})
    transport.reset()

    for amount in (3, -1):
        results = events.execute_item_batch(
            [
                _patch(
                    "total",
                    [
                        {"op": "incr", "path": "/count", "value": 1},
                        {"op": "incr", "path": "/cents", "value": amount},
                        {"op": "incr", "path": "/new", "value": amount},
                    ],
                )
            ],
            partition_key=car,
        )
        assert results[0]["statusCode"] == 200

    assert transport.kinds() == ["batch", "batch"]
    after = events.read_item("total", partition_key=car)
    # incr adds to a number and creates a missing field with the value; every write moves the etag.
    assert (after["count"], after["cents"], after["new"]) == (4, 502, 2)
    assert after["_etag"] != before["_etag"]


def test_batch_patch_is_rolled_back_with_a_failing_operation(events: ContainerProxy) -> None:
    car = new_car()
    events.create_item({"id": "total", "aggregateId": car, "count": 1})
    row = events.create_item({"id": "row", "aggregateId": car, "version": 1})
    events.replace_item("row", {"id": "row", "aggregateId": car, "version": 2})  # row["_etag"] is stale

    with pytest.raises(CosmosBatchOperationError) as failure:
        events.execute_item_batch(
            [
                _patch("total", [{"op": "incr", "path": "/count", "value": 1}]),
                (
                    "replace",
                    ("row", {"id": "row", "aggregateId": car, "version": 3}),
                    {"if_match_etag": row["_etag"]},
                ),
            ],
            partition_key=car,
        )

    assert failure.value.status_code == 412
    assert [r["statusCode"] for r in failure.value.operation_responses] == [424, 412]
    assert events.read_item("total", partition_key=car)["count"] == 1


@pytest.mark.parametrize(
    ("operations", "options", "status"),
    [
        ([{"op": "incr", "path": "/count", "value": 1}], {}, 404),  # the document is missing
        ([{"op": "incr", "path": "/label", "value": 1}], {}, 400),  # not a number
        ([{"op": "incr", "path": "/count", "value": 1}] * 11, {}, 400),  # at most 10 operations
        ([{"op": "replace", "path": "/absent", "value": 1}], {}, 400),  # replace needs it to exist
        ([{"op": "remove", "path": "/absent"}], {}, 400),
        ([{"op": "set", "path": "/aggregateId", "value": "x"}], {}, 400),  # the partition key
        (
            [{"op": "incr", "path": "/count", "value": 1}],
            {"filter_predicate": "from c where c.count = 1"},
            400,
        ),
        ([{"op": "incr", "path": "/count", "value": 1}], {"if_match_etag": '"stale"'}, 412),
    ],
)
def test_batch_patch_refusals_change_nothing(
    events: ContainerProxy, operations: list[dict[str, object]], options: dict[str, object], status: int
) -> None:
    car = new_car()
    original = events.create_item({"id": "total", "aggregateId": car, "count": 1, "label": "a"})
    target = "missing" if status == 404 else "total"

    with pytest.raises(CosmosBatchOperationError) as failure:
        events.execute_item_batch([_patch(target, operations, **options)], partition_key=car)

    assert failure.value.status_code == status
    assert events.read_item("total", partition_key=car)["_etag"] == original["_etag"]


def test_batch_patch_add_set_replace_remove_move(events: ContainerProxy) -> None:
    car = new_car()
    events.create_item({"id": "doc", "aggregateId": car, "a": 1, "list": [1, 3], "nested": {"x": 1}})

    events.execute_item_batch(
        [
            _patch(
                "doc",
                [
                    {"op": "add", "path": "/list/1", "value": 2},
                    {"op": "add", "path": "/list/-", "value": 4},
                    {"op": "set", "path": "/list/0", "value": 0},
                    {"op": "replace", "path": "/a", "value": 10},
                    {"op": "remove", "path": "/nested/x"},
                    {"op": "set", "path": "/nested/y", "value": "y"},
                    {"op": "move", "from": "/a", "path": "/b"},
                ],
            )
        ],
        partition_key=car,
    )

    doc = events.read_item("doc", partition_key=car)
    assert (doc["list"], doc["nested"], doc["b"], "a" in doc) == ([0, 2, 3, 4], {"y": "y"}, 10, False)


def test_added_latency_holds_every_request() -> None:
    # The benchmarks imitate a network with it; each round trip must take at least that long.
    with start_cosmos_server(latency_ms=60) as slow:
        counting = CountingTransport()
        client = make_client(slow.endpoint, counting)
        counting.reset()
        started = time.perf_counter()
        list(client.list_databases())
        elapsed = time.perf_counter() - started
    assert counting.kinds() == ["metadata"]
    # A lower bound only: the hold makes a round trip at least this long however fast the machine.
    assert elapsed >= 0.06


def test_single_partition_query_must_filter_on_the_partition_key(
    client: CosmosClient, transport: CountingTransport
) -> None:
    views = client.get_database_client("plumbing").get_container_client(VIEWS_CONTAINER)
    for shard in ("carList:0", "carList:1"):
        views.upsert_item({"id": "subtotal", "partitionKey": shard, "docType": "subtotal"})
    transport.reset()

    rows = list(
        views.query_items(
            "SELECT * FROM c WHERE c.partitionKey = @pk AND c.docType = 'subtotal'",
            parameters=[{"name": "@pk", "value": "carList:1"}],
            partition_key="carList:1",
        )
    )
    assert [r["partitionKey"] for r in rows] == ["carList:1"]
    assert transport.kinds() == ["query"]

    # The server ignores the partition-key header of a query: without the filter it refuses.
    with pytest.raises(CosmosHttpResponseError) as refused:
        list(views.query_items("SELECT * FROM c WHERE c.docType = 'subtotal'", partition_key="carList:1"))
    assert refused.value.status_code == 400


def test_server_exits_when_its_stdin_closes() -> None:
    server = start_cosmos_server()
    try:
        stdin = server.process.stdin
        assert stdin is not None
        stdin.close()
        assert server.process.wait(timeout=10) == 0
    finally:
        server.stop()


def test_missing_node_is_an_error_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(RuntimeError, match="`node` is not on PATH"):
        start_cosmos_server()


def test_missing_npm_package_is_an_error_with_nodes_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A script outside the repository cannot resolve the package, like a checkout without `npm ci`.
    script = tmp_path / "cosmos_server.js"
    script.write_text('require("@vercel/cosmosdb-server");\n', encoding="utf-8")
    monkeypatch.setattr(cosmos, "SERVER_SCRIPT", script)
    with pytest.raises(RuntimeError, match="npm ci") as failure:
        start_cosmos_server(timeout=20)
    assert "Cannot find module" in str(failure.value)
