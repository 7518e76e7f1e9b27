"""One request through the app: route it, build a `func.HttpRequest`, call the function, read its response.

The translation copies what the Functions host and the Python worker do:
repeated query keys arrive comma-joined, repeated headers comma-joined, and a
response without a Content-Type header gets its mimetype (plus charset for text).
HEAD is answered for every GET route by running the GET function; the server
sends its headers (Content-Length included) and drops the body.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import azure.functions as func

from cartracker.http.problems import problem_response
from cartracker.localhost.index import AppIndex, HttpFunction

_log = logging.getLogger(__name__)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    function: str = "-"


def dispatch(
    index: AppIndex, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, base_url: str
) -> Reply:
    # The target is origin-form (the server checked): `//x/y` is a path here, not an authority.
    path, _, query = target.partition("?")
    if path in ("", "/"):
        return Reply(302, [("Location", f"/{index.route_prefix}/ui"), ("Content-Length", "0")])
    prefix = f"/{index.route_prefix}/" if index.route_prefix else "/"
    if not (path + "/").startswith(prefix):
        return _no_route(path)
    route_path = path[len(prefix) :].strip("/")
    matches = [(f, params) for f in index.http if (params := f.route.match(route_path)) is not None]
    if not matches:
        return _no_route(path)
    chosen = _choose(matches, method)
    if chosen is None:
        # The declared methods; HEAD is served for GET routes without being advertised.
        allowed = ", ".join(sorted({m for f, _ in matches for m in f.methods}))
        reply = to_reply(
            problem_response(405, f"{method} is not allowed here; use {allowed}", slug="method-not-allowed"),
        )
        reply.headers.append(("Allow", allowed))
        return reply
    function, route_params = chosen
    request = func.HttpRequest(
        method if method in function.methods else "GET",  # HEAD runs the GET function as a GET
        base_url + target,
        headers=_joined(headers),
        params=_joined(parse_qsl(query, keep_blank_values=True)),
        route_params=route_params,
        body=body,
    )
    reply = to_reply(_call(function, request))
    reply.function = function.name
    return reply


def _choose(
    matches: list[tuple[HttpFunction, dict[str, str]]], method: str
) -> tuple[HttpFunction, dict[str, str]] | None:
    chosen = next(((f, p) for f, p in matches if method in f.methods), None)
    if chosen is None and method == "HEAD":
        chosen = next(((f, p) for f, p in matches if "GET" in f.methods), None)
    return chosen


def _no_route(path: str) -> Reply:
    return to_reply(problem_response(404, f"no function serves {path}", slug="no-route", instance=path))


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _call(function: HttpFunction, request: func.HttpRequest) -> func.HttpResponse:
    try:
        result = function.call(**{function.arg_name: request})
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
        if isinstance(result, str):
            result = func.HttpResponse(result)
        if not isinstance(result, func.HttpResponse):
            raise TypeError(f"{function.name} returned {type(result).__name__}, not an HttpResponse")
        return result
    except Exception:  # noqa: BLE001 - as the Functions host does: log the traceback, answer 500
        _log.exception("function %s failed", function.name)
        return problem_response(500, f"function {function.name} failed; see the host log", slug="internal")


async def _awaited(awaitable: object) -> object:
    return await awaitable  # type: ignore[misc]


def to_reply(response: func.HttpResponse) -> Reply:
    # The host frames the body itself, so a Content-Length set by the function is dropped.
    headers = [(name, value) for name, value in response.headers.items() if name.lower() != "content-length"]
    body = response.get_body() or b""
    if response.status_code in (204, 304) or 100 <= response.status_code < 200:
        return Reply(response.status_code, headers)
    if not any(name.lower() == "content-type" for name, _ in headers):
        mimetype = response.mimetype
        text = mimetype.startswith("text/")
        headers.append(("Content-Type", f"{mimetype}; charset={response.charset}" if text else mimetype))
    headers.append(("Content-Length", str(len(body))))
    return Reply(response.status_code, headers, body)
