"""Index `function_app` once, the way the Functions worker does, and keep the result.

`FunctionApp.get_functions()` refuses to run twice on one app (it sees its own
function names as duplicates), so the host and the tests share this one index.
"""

from __future__ import annotations

import importlib
import inspect
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartracker.localhost.routes import RouteTemplate, compile_template

ALL_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: RouteTemplate
    methods: frozenset[str]
    auth_level: str
    arg_name: str  # the parameter that receives the HttpRequest
    call: Callable[..., Any]


@dataclass(frozen=True)
class AppIndex:
    route_prefix: str
    http: tuple[HttpFunction, ...]  # most specific route first
    unserved: tuple[tuple[str, str], ...]  # (function name, why the local host does not run it)
    change_feed: tuple[Any, ...] = ()  # cosmosDBTrigger functions, fed by `localhost.changefeed`
    functions: tuple[Any, ...] = ()  # every indexed function, as the worker would report it


_index: AppIndex | None = None
_lock = threading.Lock()


def app_index(module_name: str = "function_app") -> AppIndex:
    """The index of the app in `module_name`, built on first call."""
    global _index  # noqa: PLW0603 - indexing is once per process by necessity (see module docstring)
    with _lock:
        if _index is None:
            _index = _build(importlib.import_module(module_name))
        return _index


def _build(module: Any) -> AppIndex:
    http: list[HttpFunction] = []
    unserved: list[tuple[str, str]] = []
    change_feed: list[Any] = []
    functions = tuple(module.app.get_functions())
    for function in functions:
        name = function.get_function_name()
        trigger = function.get_trigger()
        kind = trigger.get_binding_name() if trigger is not None else "no trigger"
        if kind == "cosmosDBTrigger":
            change_feed.append(function)
            continue
        if kind != "httpTrigger":
            unserved.append((name, kind))
            continue
        user_function = function.get_user_function()
        others = [
            param.name
            for param in inspect.signature(user_function).parameters.values()
            if param.name != trigger.name and not _host_context(param)
        ]
        if others:
            unserved.append((name, f"httpTrigger needing bindings the local host lacks: {', '.join(others)}"))
            continue
        methods = frozenset(str(m.value if hasattr(m, "value") else m).upper() for m in trigger.methods or ())
        level = trigger.auth_level
        http.append(
            HttpFunction(
                name=name,
                route=compile_template(trigger.route or name),
                methods=methods or ALL_METHODS,
                auth_level=str(getattr(level, "value", level)).lower(),
                arg_name=trigger.name,
                call=user_function,
            )
        )
    http.sort(key=lambda f: f.route.precedence)
    return AppIndex(
        route_prefix=_route_prefix(module),
        http=tuple(http),
        unserved=tuple(unserved),
        change_feed=tuple(change_feed),
        functions=functions,
    )


def _host_context(param: inspect.Parameter) -> bool:
    """The invocation context the Functions worker passes to a `context` parameter. The local host
    is no Functions host and has none to give: it serves the function if the parameter has a default
    (the command functions then open their own span of the caller's trace, see `http.tracing`)."""
    return param.name == "context" and param.default is not inspect.Parameter.empty


def _route_prefix(module: Any) -> str:
    """`extensions.http.routePrefix` from the host.json beside the app, as the Functions host reads it."""
    host_json = Path(module.__file__).with_name("host.json")
    if not host_json.exists():
        return "api"
    prefix = json.loads(host_json.read_text()).get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return str(prefix).strip("/")
