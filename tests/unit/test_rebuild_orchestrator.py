"""The rebuild orchestrator, driven as Durable drives it: the registered generator, a fake context.

The fake records every point where the orchestrator yields (one activity, or a
fan-out of several), answers from fake activities, and throws a failed
activity back into the generator as a plain `Exception`, as Durable does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from cartracker.functions import rebuild as rebuild_functions
from cartracker.http.openapi import ROUTES
from cartracker.rebuild.orchestrator import (
    CLEAR_PARKED,
    ORCHESTRATOR,
    READ_HEADS,
    REBUILD_ROWS,
    REBUILD_SHARD,
    RebuildFailed,
)
from tests.support.functions import installed, problem_of, sqlite_services

Orchestrator = Callable[[Any], Generator[Any, Any, Any]]
Activity = Callable[[dict[str, Any]], Any]


def registered_orchestrator() -> Orchestrator:
    """The generator function the Functions host runs, taken from the blueprint."""
    function: Orchestrator = (
        rebuild_functions.rebuild_projection.build().get_user_function().orchestrator_function
    )
    return function


@dataclass
class Call:
    name: str
    payload: dict[str, Any]
    result: Any = None
    error: Exception | None = None


@dataclass
class FanOut:
    calls: list[Call]


@dataclass
class FakeContext:
    input: Any
    activities: dict[str, Activity]
    yields: list[Call | FanOut] = field(default_factory=list)
    statuses: list[Any] = field(default_factory=list)
    new_input: Any = None

    def get_input(self) -> Any:
        return json.loads(json.dumps(self.input))

    def call_activity_with_retry(self, name: str, retry_options: Any, input_: Any = None) -> Call:
        assert retry_options.max_number_of_attempts >= 2, "idempotent activities are worth retrying"
        payload = json.loads(json.dumps(input_))  # Durable serializes every payload
        try:
            return Call(name, payload, result=self.activities[name](payload))
        except Exception as exc:
            return Call(name, payload, error=exc)

    def task_all(self, tasks: list[Call]) -> FanOut:
        return FanOut(tasks)

    def continue_as_new(self, input_: Any) -> None:
        self.new_input = json.loads(json.dumps(input_))

    def set_custom_status(self, status: Any) -> None:
        self.statuses.append(status)


def drive(context: FakeContext) -> Any:
    """Run the registered orchestrator to its end, the way Durable resumes it."""
    generator = registered_orchestrator()(context)
    try:
        task = next(generator)
        while True:
            context.yields.append(task)
            calls = task.calls if isinstance(task, FanOut) else [task]
            failed = next((c for c in calls if c.error is not None), None)
            if failed is not None:
                # What Durable throws into an orchestrator for a failed activity: a plain Exception.
                task = generator.throw(Exception(f"Activity function '{failed.name}' failed: {failed.error}"))
            elif isinstance(task, FanOut):
                task = generator.send([c.result for c in calls])
            else:
                task = generator.send(task.result)
    except StopIteration as stop:
        return stop.value


class FakeStore:
    """Heads in pages by a continuation that is the index of the next head, and canned activity results."""

    def __init__(self, car_ids: list[str], *, removed_per_shard: int = 0, parked: int = 0) -> None:
        self.car_ids = car_ids
        self.removed_per_shard = removed_per_shard
        self.parked = parked

    def activities(self) -> dict[str, Activity]:
        return {
            READ_HEADS: self.read_heads,
            REBUILD_ROWS: lambda p: {
                "seen": len(p["carIds"]),
                "repaired": len(p["carIds"]) // 2,
                "skipped": 0,
            },
            REBUILD_SHARD: lambda p: {
                "rowsRemoved": self.removed_per_shard,
                "subtotalCorrected": p["shard"] == 1,
            },
            CLEAR_PARKED: lambda p: {"cleared": self.parked, "remaining": 1},
        }

    def read_heads(self, payload: dict[str, Any]) -> dict[str, Any]:
        start = int(payload["continuation"] or 0)
        end = start + payload["pageSize"]
        return {
            "carIds": self.car_ids[start:end],
            "continuation": str(end) if end < len(self.car_ids) else None,
        }


def job(**overrides: Any) -> dict[str, Any]:
    return {"projection": "car-list", "shards": 3, "pageSize": 4, "chunkSize": 2, **overrides}


def shape(yields: list[Call | FanOut]) -> list[tuple[str, int]]:
    """Each yield as (activity, how many at once)."""
    return [(y.calls[0].name, len(y.calls)) if isinstance(y, FanOut) else (y.name, 1) for y in yields]


def test_rebuild_pages_through_heads_then_fans_out_rows_shards_and_clears_parked() -> None:
    cars = [f"car-{i}" for i in range(7)]
    context = FakeContext(job(), FakeStore(cars).activities())
    drive(context)
    assert shape(context.yields) == [
        (READ_HEADS, 1),
        (REBUILD_ROWS, 2),  # 4 heads in chunks of 2, at once
        (READ_HEADS, 1),
        (REBUILD_ROWS, 2),  # the last 3 heads: 2 + 1
        (REBUILD_SHARD, 3),  # every shard at once, after every row
        (CLEAR_PARKED, 1),
    ]
    rows = [
        c.payload["carIds"]
        for y in context.yields
        if isinstance(y, FanOut)
        for c in y.calls
        if c.name == REBUILD_ROWS
    ]
    assert rows == [cars[0:2], cars[2:4], cars[4:6], cars[6:7]]
    shards = next(y for y in context.yields if isinstance(y, FanOut) and y.calls[0].name == REBUILD_SHARD)
    assert [c.payload for c in shards.calls] == [{"projection": "car-list", "shard": s} for s in range(3)]


def test_each_page_is_read_from_where_the_previous_one_stopped() -> None:
    context = FakeContext(job(pageSize=3), FakeStore([f"car-{i}" for i in range(8)]).activities())
    drive(context)
    reads = [y for y in context.yields if isinstance(y, Call) and y.name == READ_HEADS]
    assert [r.payload for r in reads] == [
        {"pageSize": 3, "continuation": None},
        {"pageSize": 3, "continuation": "3"},
        {"pageSize": 3, "continuation": "6"},
    ]


def test_the_summary_adds_up_what_every_activity_reported() -> None:
    context = FakeContext(
        job(), FakeStore([f"car-{i}" for i in range(7)], removed_per_shard=2, parked=5).activities()
    )
    summary = drive(context)
    assert summary == {
        "view": "car-list",
        "pages": 2,
        "carsSeen": 7,
        "carsSkipped": 0,
        "rowsRepaired": 3,  # 1 + 1 + 1 + 0: each chunk repaired half its cars, rounded down
        "rowsRemoved": 6,
        "subtotalsCorrected": 1,
        "shards": 3,
        "parkedCleared": 5,
        "parkedRemaining": 1,
    }
    assert context.statuses[-1] == {"phase": "done", **{k: v for k, v in summary.items() if k != "view"}}
    assert [s["phase"] for s in context.statuses] == ["rows", "rows", "shards", "parked", "done"]


def test_an_empty_store_still_recomputes_every_shard_and_clears_parked_items() -> None:
    context = FakeContext(job(), FakeStore([]).activities())
    summary = drive(context)
    assert shape(context.yields) == [(READ_HEADS, 1), (REBUILD_SHARD, 3), (CLEAR_PARKED, 1)]
    assert summary["carsSeen"] == 0
    assert summary["shards"] == 3


def test_the_row_phase_continues_as_new_and_the_next_generation_resumes_where_it_stopped() -> None:
    cars = [f"car-{i}" for i in range(9)]
    store = FakeStore(cars, removed_per_shard=1)
    generations: list[FakeContext] = []
    next_input: Any = job(pageSize=2, pagesPerGeneration=2)
    summary = None
    while summary is None:
        context = FakeContext(next_input, store.activities())
        generations.append(context)
        summary = drive(context)
        next_input = context.new_input
        assert len(generations) < 10, "the rebuild must end"

    assert len(generations) == 3  # 5 pages, 2 per generation
    for earlier in generations[:-1]:
        assert earlier.new_input is not None
        assert REBUILD_SHARD not in [name for name, _ in shape(earlier.yields)]  # rows are not done yet
    assert generations[1].input["continuation"] == "4"
    assert generations[-1].new_input is None
    seen = [
        i
        for g in generations
        for y in g.yields
        if isinstance(y, FanOut)
        for c in y.calls
        for i in c.payload.get("carIds", [])
    ]
    assert seen == cars  # every car once, in order: no page read twice or skipped
    assert summary["pages"] == 5
    assert summary["carsSeen"] == 9
    assert summary["rowsRemoved"] == 3


def test_a_failed_row_activity_fails_the_orchestration_naming_the_phase_page_and_cause() -> None:
    activities = FakeStore([f"car-{i}" for i in range(7)]).activities()

    def rows(payload: dict[str, Any]) -> dict[str, Any]:
        if "car-5" in payload["carIds"]:
            raise RuntimeError("Cosmos DB answered 503; try again shortly")
        return {"seen": len(payload["carIds"]), "repaired": 0, "skipped": 0}

    activities[REBUILD_ROWS] = rows
    context = FakeContext(job(), activities)
    with pytest.raises(RebuildFailed) as failure:
        drive(context)
    message = failure.value.message
    assert "rows phase" in message
    assert "page 2" in message
    assert REBUILD_ROWS in message
    assert "Cosmos DB answered 503" in message
    assert shape(context.yields)[-1] == (REBUILD_ROWS, 2)  # nothing ran after the failure


def test_a_failed_shard_activity_fails_the_orchestration_in_the_shard_phase() -> None:
    activities = FakeStore(["car-1"]).activities()

    def shard(payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(f"shard carList:{payload['shard']:02d} kept changing under 8 attempts")

    activities[REBUILD_SHARD] = shard
    with pytest.raises(RebuildFailed, match=r"shards phase .*rebuild_shard.*kept changing"):
        drive(FakeContext(job(), activities))


def test_a_failed_page_read_fails_the_orchestration_before_any_row_is_touched() -> None:
    activities = FakeStore(["car-1"]).activities()
    activities[READ_HEADS] = lambda _: (_ for _ in ()).throw(RuntimeError("store unreachable"))
    context = FakeContext(job(), activities)
    with pytest.raises(RebuildFailed, match=r"rows phase \(page 1\): activity rebuild_read_heads failed"):
        drive(context)
    assert shape(context.yields) == [(READ_HEADS, 1)]


@pytest.mark.parametrize(
    "bad_input",
    [
        None,
        "car-list",
        {},
        {"shards": 0},
        {"shards": 4, "pageSize": "many"},
        {"shards": 4, "chunkSize": -1},
        {"projection": "no-such-view", "shards": 4},
    ],
)
def test_malformed_input_fails_the_orchestration_before_any_activity(bad_input: Any) -> None:
    context = FakeContext(bad_input, FakeStore(["car-1"]).activities())
    with pytest.raises(RebuildFailed, match="input"):
        drive(context)
    assert context.yields == []


def test_every_activity_but_the_head_pages_names_the_projection_it_rebuilds() -> None:
    context = FakeContext(job(), FakeStore([f"car-{i}" for i in range(5)]).activities())
    drive(context)
    calls = [c for y in context.yields for c in (y.calls if isinstance(y, FanOut) else [y])]
    assert {c.name for c in calls if c.payload.get("projection") != "car-list"} == {READ_HEADS}


def test_an_input_from_before_rebuilds_had_names_rebuilds_the_car_list() -> None:
    legacy = {k: v for k, v in job().items() if k != "projection"}
    context = FakeContext(legacy, FakeStore(["car-1"]).activities())
    assert drive(context)["view"] == "car-list"


def test_replaying_the_same_history_schedules_the_same_activities() -> None:
    """Determinism: Durable replays the generator from history, so it must take the same path every time."""
    cars = [f"car-{i}" for i in range(11)]
    runs = []
    for _ in range(2):
        context = FakeContext(job(pageSize=5, chunkSize=3), FakeStore(cars).activities())
        result = drive(context)
        runs.append(
            (
                [
                    (c.name, c.payload)
                    for y in context.yields
                    for c in (y.calls if isinstance(y, FanOut) else [y])
                ],
                result,
            )
        )
    assert runs[0] == runs[1]


def test_the_registered_function_names_are_the_ones_the_orchestrator_calls() -> None:
    names = {
        rebuild_functions.rebuild_projection: ORCHESTRATOR,
        rebuild_functions.rebuild_read_heads: READ_HEADS,
        rebuild_functions.rebuild_rows: REBUILD_ROWS,
        rebuild_functions.rebuild_shard: REBUILD_SHARD,
        rebuild_functions.rebuild_clear_parked: CLEAR_PARKED,
    }
    for builder, name in names.items():
        assert builder.build().get_function_name() == name


# --- the HTTP starter ----------------------------------------------------------------------------


@dataclass
class Status:
    runtime_status: Any


@dataclass
class FakeDurableClient:
    """The three calls the starter makes on `DurableOrchestrationClient`."""

    running: str | None = None
    started: list[tuple[str, str | None, Any]] = field(default_factory=list)

    async def get_status(self, instance_id: str) -> Status:
        from azure.durable_functions import OrchestrationRuntimeStatus  # noqa: PLC0415

        return Status(None if self.running is None else OrchestrationRuntimeStatus(self.running))

    async def start_new(self, name: str, instance_id: str | None = None, client_input: Any = None) -> str:
        self.started.append((name, instance_id, client_input))
        return instance_id or "generated"

    def create_http_management_payload(self, instance_id: str) -> dict[str, str]:
        return {
            "id": instance_id,
            "statusQueryGetUri": f"http://host/runtime/webhooks/durabletask/instances/{instance_id}",
        }

    def create_check_status_response(self, request: func.HttpRequest, instance_id: str) -> func.HttpResponse:
        payload = self.create_http_management_payload(instance_id)
        return func.HttpResponse(
            json.dumps(payload), status_code=202, headers={"Location": payload["statusQueryGetUri"]}
        )


def start(client: FakeDurableClient, name: str, params: dict[str, str] | None = None) -> func.HttpResponse:
    request = func.HttpRequest(
        "POST",
        f"http://localhost:7071/api/manage/projections/{name}/rebuild",
        params=params or {},
        route_params={"name": name},
        body=b"",
    )
    user_code = rebuild_functions.start_rebuild.build().get_user_function().client_function
    response: func.HttpResponse = asyncio.run(user_code(req=request, client=client))
    return response


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with installed(sqlite_services(tmp_path / "store.sqlite3")) as services:
        yield services


def test_starting_a_rebuild_answers_202_with_status_urls_and_passes_the_deployment_shards(store: Any) -> None:
    client = FakeDurableClient()
    response = start(client, "car-list", {"pageSize": "250"})
    assert response.status_code == 202
    assert response.headers["Location"].endswith("/instances/rebuild-car-list")
    [(name, instance_id, job_input)] = client.started
    assert (name, instance_id) == (ORCHESTRATOR, "rebuild-car-list")
    assert job_input["projection"] == "car-list"
    assert job_input["shards"] == store.settings.list_shards
    assert job_input["pageSize"] == 250
    assert job_input["continuation"] is None


def test_an_unknown_projection_is_a_404_problem_naming_the_ones_there_are(store: Any) -> None:
    client = FakeDurableClient()
    problem = problem_of(start(client, "car-lst"), 404)
    assert "car-list" in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["name"]
    assert client.started == []


@pytest.mark.parametrize("page_size", ["0", "1001", "ten", "-5", "٣"])
def test_a_bad_page_size_is_a_400_problem_on_that_parameter(store: Any, page_size: str) -> None:
    client = FakeDurableClient()
    problem = problem_of(start(client, "car-list", {"pageSize": page_size}), 400)
    assert [e["field"] for e in problem["errors"]] == ["pageSize"]
    assert client.started == []


def test_a_rebuild_already_running_is_a_409_pointing_at_its_status(store: Any) -> None:
    client = FakeDurableClient(running="Running")
    response = start(client, "car-list")
    problem_of(response, 409)
    assert response.headers["Location"].endswith("/instances/rebuild-car-list")
    assert client.started == []


@pytest.mark.parametrize("finished", ["Completed", "Failed", "Terminated"])
def test_a_finished_rebuild_does_not_stop_a_new_one(store: Any, finished: str) -> None:
    client = FakeDurableClient(running=finished)
    assert start(client, "car-list").status_code == 202
    assert len(client.started) == 1


def test_the_starter_is_documented_with_its_method_route_and_admin_auth() -> None:
    trigger = rebuild_functions.start_rebuild.build().get_trigger()
    [route] = [r for r in ROUTES if r.operation_id == "start_rebuild"]
    assert (route.method, route.path, route.auth) == ("POST", trigger.route, "admin")
    assert [str(getattr(m, "value", m)) for m in trigger.methods] == ["POST"]
    assert str(getattr(trigger.auth_level, "value", trigger.auth_level)).lower() == "admin"
    assert [reply.status for reply in route.replies] == [202]


def test_the_cli_refuses_an_unknown_projection_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from cartracker.__main__ import main  # noqa: PLC0415

    with caplog.at_level("ERROR"):
        assert main(["rebuild", "car-lst", "--db", str(tmp_path / "store.sqlite3")]) == 2
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "car-lst" in record.getMessage()
    assert "car-list" in record.getMessage()
    assert "\n" not in record.getMessage()
