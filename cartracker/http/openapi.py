"""The OpenAPI 3.1 document, built from the route table below and the pydantic models.

The commands' operations, and the links between them, come from the command
catalog (`domain/catalog.py`). Adding any other HTTP function means adding one
`Route` to `ROUTES` (a test checks that every HTTP function of the app has
exactly one entry, with the same method and path). Request bodies are the
domain's commands, responses the models of `schemas.py`, so the spec cannot
drift from what the code accepts and sends.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from cartracker.domain.catalog import ADD_CAR, COMMANDS, CommandEntry
from cartracker.domain.text import name_pattern
from cartracker.http import commands as http
from cartracker.http.requests import (
    AS_OF_MAX_LENGTH,
    AS_OF_PATTERN,
    DEFAULT_PAGE_SIZE,
    MAX_BODY_BYTES,
    MAX_PAGE_SIZE,
    MAX_VERSION,
)
from cartracker.http.responses import JSON, PROBLEM_JSON
from cartracker.http.schemas import CarDetailView, CommandResponse, Health, HistoryPage, Problem
from cartracker.http.service_due import SERVICE_DUE_ROUTE, ServiceDuePageView
from cartracker.http.tracing import TRACEPARENT
from cartracker.http.views import (
    PARKED_RETRY_ROUTE,
    PARKED_ROUTE,
    PROJECTION_PARKED_RETRY_ROUTE,
    PROJECTIONS_ROUTE,
    REBUILD_ROUTE,
    STATUS_URLS,
    CarListPageView,
    ParkedList,
    ParkedRetry,
    ParkedRetrySummary,
    ProjectionStatusList,
)
from cartracker.rebuild import DEFAULT_PAGE_SIZE as REBUILD_PAGE
from cartracker.rebuild import MAX_PAGE_SIZE as REBUILD_MAX_PAGE
from cartracker.rebuild import VIEWS
from cartracker.tracing import MAX_TRACEPARENT_LENGTH

Auth = Literal["function", "admin", "anonymous"]
Schema = type[BaseModel] | dict[str, Any] | None


@dataclass(frozen=True)
class Reply:
    """A documented success answer: a model (or a raw JSON schema, or None for no body) and its headers."""

    status: int
    description: str
    body: Schema = None
    headers: tuple[str, ...] = ()
    media_type: str = JSON
    links: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # under the /api prefix, in Functions route syntax without constraints
    operation_id: str  # the function's name
    summary: str
    tag: str
    replies: tuple[Reply, ...]
    problems: tuple[int, ...] = ()  # problem+json statuses a client can cause; 500 is added to all
    body: type[BaseModel] | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    auth: Auth = "function"
    example: Mapping[str, Any] | None = None  # a valid request body
    traced: bool = False  # every answer, problems included, carries the request's `traceparent`


def _param(name: str, where: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "schema": schema, "description": description, **extra}


CAR_ID = _param("carId", "path", {"type": "string", "format": "uuid"}, "The car's id.", required=True)
_TAG = r'(?:W/)?"[1-9][0-9]{0,17}"[ \t]*'
IF_MATCH = _param(
    "If-Match",
    "header",
    {"type": "string", "pattern": rf"^(?:[ \t]*\*[ \t]*|(?:[ \t]*,)*[ \t]*{_TAG}(?:,[ \t]*(?:{_TAG})?)*)$"},
    'Apply the command only if the car is still at this version: its ETag (e.g. `"3"`), or a list of '
    'them (`"3", "4"`: any one). `*` matches any car that exists. A weak tag (`W/"3"`) never matches, '
    "as If-Match compares strongly. Else 412.",
)
IDEMPOTENCY_KEY = _param(
    "Idempotency-Key",
    "header",
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[ -~]+$"},
    "Retrying with the same key returns the first outcome and appends nothing.",
)
# Any string: a value that is not a traceparent is replaced, never refused, so the schema refuses
# nothing (schemathesis would otherwise send "invalid" values and expect a 4xx).
TRACEPARENT_PARAM = _param(
    TRACEPARENT,
    "header",
    {"type": "string"},
    "W3C Trace Context: `00-<trace id: 32 lower-case hex>-<parent id: 16 lower-case hex>-<flags: 2 hex>`, "
    "neither id all zeros; a later version (not `ff`) may add `-` fields after these four. The command "
    "runs in this trace (its events record the trace id as `correlationId`). Absent, malformed or over "
    f"{MAX_TRACEPARENT_LENGTH} characters: the command starts a new trace instead; never a 400.",
    example="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
)
UI_ASSET = _param("asset", "path", {"type": "string"}, "A file of the web page, e.g. app.js.", required=True)
IF_NONE_MATCH = _param("If-None-Match", "header", {"type": "string"}, "An ETag you hold; 304 if unchanged.")
PAGE_SIZE = _param(
    "pageSize",
    "query",
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
    "Items per page.",
)
PROJECTION = _param("name", "path", {"type": "string", "enum": list(VIEWS)}, "The projection.", required=True)
PROJECTION_FILTER = _param(
    "projection", "query", {"type": "string", "enum": list(VIEWS)}, "Only this projection's parked changes."
)
PARKED_ID = _param(
    "id", "path", {"type": "string"}, "A parked change's id, as GET manage/parked lists it.", required=True
)
LAG = _param(
    "lag",
    "query",
    {"type": "string", "enum": ["true", "false"], "default": "false"},
    "`true`: also say how far behind the list is (`lag`), at the cost of two small reads.",
)
REBUILD_PAGE_SIZE = _param(
    "pageSize",
    "query",
    {"type": "integer", "minimum": 1, "maximum": REBUILD_MAX_PAGE, "default": REBUILD_PAGE},
    "Car heads per page of the rebuild.",
)
CONTINUATION = _param(
    "continuationToken", "query", {"type": "string"}, "The token of the previous page, as returned."
)
AFTER = _param(
    "after",
    "query",
    {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}, "maxItems": 20},
    "Consistency tokens of your own writes (repeatable, at most 20): each write the list has not caught "
    "up with yet is folded in from the car's head and marked `predicted`.",
    style="form",
    explode=True,
)

AS_OF_VERSION = _param(
    "asOfVersion",
    "query",
    {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
    "The car right after this event (`freshness: historical`), written as versions are: no sign, no "
    "leading zero. Cached for good: a version never changes. 404 beyond the car's version. Not with `asOf`.",
)
AS_OF = _param(
    "asOf",
    "query",
    {"type": "string", "format": "date-time", "maxLength": AS_OF_MAX_LENGTH, "pattern": f"^{AS_OF_PATTERN}$"},
    "The car as it was at this time (RFC 3339 with an offset; `+` written `%2B`): its events up to the "
    "first one that occurred after it. 404 before the car was added. `Content-Location` names the "
    "version it resolved to. Not with `asOfVersion`.",
)

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The car\'s version in quotes, e.g. "3".',
        "required": True,
        "schema": {"type": "string", "pattern": r'^"[1-9][0-9]*"$'},
    },
    "Location": {"description": "The new car's URL.", "required": True, "schema": {"type": "string"}},
    "Cache-Control": {
        "description": "`no-cache` for the car now and for `asOf` (revalidate: it can still change); "
        "a year and `immutable` for `asOfVersion`, `private` as the API takes a function key.",
        "required": True,
        "schema": {"type": "string", "enum": ["no-cache", "private, max-age=31536000, immutable"]},
    },
    "Content-Location": {
        "description": "`asOf` only: the `asOfVersion` URL of the version it resolved to.",
        "required": False,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "string", "pattern": r"^[0-9]+$"},
    },
    TRACEPARENT: {
        "description": "The trace context the command ran under: the caller's trace id (or a new one) "
        "with the span id of this handling (in Azure, the span the Functions host opened for it). A "
        "replay answers under its own; the events keep the first request's ids.",
        "required": True,
        "schema": {"type": "string", "pattern": r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
    },
}

PROBLEMS: dict[int, str] = {
    400: "Malformed request: bad JSON, a field of the wrong type or range, an unknown field, a bad id, "
    "header or query parameter. `errors` names each field.",
    404: "No car has this id, or (asOfVersion, asOf) the car has no such version or did not exist yet "
    "at that time (for ui/{asset}: the page has no such file; for manage routes: no such projection "
    "or parked change).",
    409: "The car kept changing under concurrent writes; retry the request.",
    412: "If-Match named a version the car has moved past; `currentVersion` has the current one.",
    413: f"The body is over {MAX_BODY_BYTES} bytes.",
    415: "The body is not declared as JSON (Content-Type: application/json).",
    422: "A business rule refused the command (e.g. mileage below the last recorded one), or an "
    "Idempotency-Key came back with a different payload.",
    500: "An unexpected error; it was logged with its traceback.",
    503: "The store is throttled or unreachable; retry after Retry-After seconds.",
}

_COMMAND_PROBLEMS = (400, 404, 409, 412, 413, 415, 422, 503)
_ADD_CAR_PROBLEMS = (400, 409, 413, 415, 422, 503)  # no car to miss or to be at another version


def car_links(commands: Sequence[CommandEntry]) -> dict[str, Any]:
    """From a command's answer to the car's reads and to every command on it (each by its class name)."""
    targets = [("GetCar", "get_car"), ("GetCarHistory", "get_car_history")]
    targets += [(entry.command.__name__, entry.name) for entry in commands if entry is not ADD_CAR]
    return {
        name: {"operationId": op, "parameters": {"carId": "$response.body#/carId"}} for name, op in targets
    }


def command_routes(commands: Sequence[CommandEntry]) -> list[Route]:
    """One operation per declared command: its route, summary, body and success status from the catalog."""
    links = car_links(commands)
    return [_command(entry, links) for entry in commands]


def _command(entry: CommandEntry, links: Mapping[str, Any]) -> Route:
    added = entry is ADD_CAR
    said = (
        "Added (or the add replayed)." if added else "Applied (or replayed): the car as the command left it."
    )
    headers = ("ETag", "Location", TRACEPARENT) if added else ("ETag", TRACEPARENT)
    reply = Reply(http.status(entry), said, CommandResponse, headers=headers, links=links)
    return Route(
        method="POST",
        path=http.route(entry),
        operation_id=entry.name,
        summary=entry.summary,
        tag="commands",
        replies=(reply,),
        problems=_ADD_CAR_PROBLEMS if added else _COMMAND_PROBLEMS,
        body=entry.command,
        parameters=(
            (IDEMPOTENCY_KEY, TRACEPARENT_PARAM)
            if added
            else (CAR_ID, IF_MATCH, IDEMPOTENCY_KEY, TRACEPARENT_PARAM)
        ),
        example=entry.example,
        traced=True,
    )


# fmt: off
ROUTES: list[Route] = [
    *command_routes(COMMANDS),
    Route(method="GET", path="cars/{carId}", operation_id="get_car", tag="cars",
          summary="Read a car: as it is (realtime) or as it was (historical)",
          replies=(Reply(200, "The car's current state, or its state at asOfVersion or asOf.", CarDetailView,
                         headers=("ETag", "Cache-Control", "Content-Location")),
                   Reply(304, "Unchanged since the ETag in If-None-Match.",
                         headers=("ETag", "Cache-Control", "Content-Location"))),
          problems=(400, 404, 503), parameters=(CAR_ID, AS_OF_VERSION, AS_OF, IF_NONE_MATCH)),
    Route(method="GET", path="cars/{carId}/events", operation_id="get_car_history", tag="cars",
          summary="Read a car's history, oldest first",
          replies=(Reply(200, "One page of events.", HistoryPage),),
          problems=(400, 404, 503), parameters=(CAR_ID, PAGE_SIZE, CONTINUATION)),
    Route(method="GET", path="cars", operation_id="list_cars", tag="cars",
          summary="List cars, newest first (deferred, with predictions for your own writes)",
          replies=(Reply(200, "One page of the car list, with the totals of every car.", CarListPageView),),
          problems=(400, 503), parameters=(PAGE_SIZE, CONTINUATION, AFTER, LAG)),
    Route(method="GET", path=SERVICE_DUE_ROUTE, operation_id="list_service_due", tag="cars",
          summary="List the cars due a service, most overdue first (deferred)",
          replies=(Reply(200, "One page of the cars due an oil change or brakes now.", ServiceDuePageView),),
          problems=(400, 503), parameters=(PAGE_SIZE, CONTINUATION)),
    Route(method="GET", path=PARKED_ROUTE, operation_id="list_parked", tag="admin",
          summary="Changes the car-list projector could not process",
          replies=(Reply(200, "Parked changes, most recent first, with the reason.", ParkedList),),
          problems=(400, 503), parameters=(PAGE_SIZE, PROJECTION_FILTER), auth="admin"),
    Route(method="POST", path=PARKED_RETRY_ROUTE, operation_id="retry_parked", tag="admin",
          summary="Retry a parked change: re-project its car from the head, and clear it on success",
          replies=(Reply(200, "Retried: `cleared`, or why it stays parked.", ParkedRetry),),
          problems=(404, 409, 503), parameters=(PARKED_ID,), auth="admin"),
    Route(method="GET", path=PROJECTIONS_ROUTE, operation_id="projection_status", tag="admin",
          summary="How far behind each projection is, and what it has parked",
          replies=(Reply(200, "Every registered projection's status.", ProjectionStatusList),),
          problems=(503,), auth="admin"),
    Route(method="POST", path=PROJECTION_PARKED_RETRY_ROUTE, operation_id="retry_projection_parked",
          tag="admin", summary="Retry every parked change of one projection",
          replies=(Reply(200, "How many were retried and cleared; the rest stay parked.",
                         ParkedRetrySummary),),
          problems=(404, 409, 503), parameters=(PROJECTION,), auth="admin"),
    Route(method="POST", path=REBUILD_ROUTE, operation_id="start_rebuild", tag="admin",
          summary="Rebuild a projection from the heads (a Durable Functions orchestration)",
          replies=(Reply(202, "Started; poll statusQueryGetUri for progress and the summary.", STATUS_URLS,
                         headers=("Retry-After",)),),
          problems=(400, 404, 409),
          parameters=(PROJECTION, REBUILD_PAGE_SIZE),
          auth="admin"),
    Route(method="GET", path="openapi.json", operation_id="openapi_spec", tag="system", summary="The spec",
          replies=(Reply(200, "The OpenAPI 3.1 document.", {"type": "object"}),), auth="anonymous"),
    Route(method="GET", path="health", operation_id="health", tag="system", summary="Liveness + store check",
          replies=(Reply(200, "The app runs and its store answers.", Health),), problems=(503,),
          auth="anonymous"),
    Route(method="GET", path="ui", operation_id="ui_page", tag="ui", summary="The web page",
          replies=(Reply(200, "The page (HTML), under a strict Content-Security-Policy.", {"type": "string"},
                         media_type="text/html"),
                   Reply(304, "Unchanged since the ETag in If-None-Match.")),
          parameters=(IF_NONE_MATCH,), auth="anonymous"),
    Route(method="GET", path="ui/{asset}", operation_id="ui_asset", tag="ui", summary="A file of the page",
          replies=(Reply(200, "One of the page's script modules or its stylesheet.", {"type": "string"},
                         media_type="text/*"),
                   Reply(304, "Unchanged since the ETag in If-None-Match.")),
          problems=(404,), parameters=(UI_ASSET, IF_NONE_MATCH), auth="anonymous"),
]
# fmt: on


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The spec as a JSON-ready dict (built once per process)."""
    return build_document(tuple(ROUTES))


def build_document(routes: tuple[Route, ...]) -> dict[str, Any]:
    models = _models(routes)
    refs, defs = models_json_schema(list(models), ref_template=_REF, by_alias=True)
    schemas: dict[str, Any] = defs.get("$defs", {})
    _share_the_name_schema(schemas)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(f"/{route.path}", {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CarTracker",
            "version": "1.0.0",
            "description": "Event-sourced car maintenance tracker. Errors are RFC 9457 problem+json. "
            "Money is a two-decimal string in responses and a number or string in requests. Request "
            "bodies are UTF-8 JSON without a byte order mark, each name at most once; numbers are read "
            "exactly from their text. The schemas state the whole grammar: what they refuse, the API "
            "refuses.",
        },
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "functionKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-functions-key",
                    "description": "A function key (admin routes: the host's master key). "
                    "The local host does not check keys.",
                },
                "functionKeyQuery": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "code",
                    "description": "The same key as a query parameter.",
                },
            },
        },
    }


_RefMap = Mapping[Any, dict[str, Any]]
_REF = "#/components/schemas/{model}"


def _share_the_name_schema(schemas: dict[str, Any]) -> None:
    """Point every name field (make, model, owner, newOwner) at one `Name` schema, which says once
    what a name is (its pattern alone is 1 KB)."""
    pattern = name_pattern()
    for schema in list(schemas.values()):
        for name, prop in schema.get("properties", {}).items():
            if prop.get("pattern") == pattern:
                schemas.setdefault("Name", {key: value for key, value in prop.items() if key != "title"})
                schema["properties"][name] = {"$ref": _REF.format(model="Name")}


def _models(routes: tuple[Route, ...]) -> dict[tuple[type[BaseModel], JsonSchemaMode], None]:
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Problem, "serialization"): None}
    for route in routes:
        if route.body is not None:
            models[(route.body, "validation")] = None
        for reply in route.replies:
            if isinstance(reply.body, type):
                models[(reply.body, "serialization")] = None
    return models


def _operation(route: Route, refs: _RefMap) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for reply in route.replies:
        answer: dict[str, Any] = {"description": reply.description}
        if reply.body is not None:
            answer["content"] = {reply.media_type: {"schema": _schema(reply.body, refs)}}
        if reply.headers:
            answer["headers"] = {name: HEADERS[name] for name in reply.headers}
        if reply.links:
            answer["links"] = dict(reply.links)
        responses[str(reply.status)] = answer
    if route.auth != "anonymous":
        responses["401"] = {"description": "Missing or wrong function key (Azure only)."}
    problem_schema = {"schema": refs[(Problem, "serialization")]}
    for status in sorted({*route.problems, 500}):
        answer = {"description": PROBLEMS[status], "content": {PROBLEM_JSON: problem_schema}}
        headers = {"Retry-After": HEADERS["Retry-After"]} if status == 503 else {}
        if route.traced:  # not required: what the host refuses before the function runs has none
            headers[TRACEPARENT] = {**HEADERS[TRACEPARENT], "required": False}
        if headers:
            answer["headers"] = headers
        responses[str(status)] = answer
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": list(route.parameters),
        "responses": responses,
        "security": [] if route.auth == "anonymous" else [{"functionKey": []}, {"functionKeyQuery": []}],
    }
    if route.body is not None:
        media: dict[str, Any] = {"schema": refs[(route.body, "validation")]}
        if route.example is not None:
            media["example"] = dict(route.example)
        operation["requestBody"] = {"required": True, "content": {JSON: media}}
    return operation


def _schema(body: Schema, refs: _RefMap) -> dict[str, Any]:
    if isinstance(body, type):
        return dict(refs[(body, "serialization")])
    assert body is not None
    return body
