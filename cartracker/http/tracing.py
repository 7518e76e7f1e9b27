"""The HTTP edge of `cartracker.tracing`: which trace a request runs under, and the `traceparent`
it answers with.

In Azure the Functions host opens a span for each invocation, continuing the caller's
`traceparent` (or starting a trace), records the request under it in Application Insights, and
hands it to the worker in the invocation context. A request runs under that span, so its events'
`correlationId` is the request's `operation_Id` there. Without a host (tests and benchmarks call
the functions directly; the local host passes no context), the request opens its own span in the
caller's trace, or starts a new trace when the caller sent no `traceparent` that can be read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

import azure.functions as func

from cartracker import tracing
from cartracker.http.requests import header
from cartracker.tracing import TraceContext

TRACEPARENT = "traceparent"

# The worker passes the invocation context to a parameter named `context` only when it is annotated
# exactly `func.Context` (it refuses `func.Context | None`), so "no host" is a default of that type.
NO_HOST = cast("func.Context", None)

TracedHandler = Callable[[func.HttpRequest, TraceContext], func.HttpResponse]


class TracedFunction(Protocol):
    def __call__(self, req: func.HttpRequest, context: func.Context = ...) -> func.HttpResponse: ...


def host_traceparent(context: func.Context | None) -> str | None:
    """The `traceparent` of the span the host opened for this invocation, if it passed one."""
    trace_context = getattr(context, "trace_context", None)
    # The worker's trace context calls it `Traceparent`; azure.functions' abstract class, `trace_parent`.
    value = getattr(trace_context, "Traceparent", None) or getattr(trace_context, "trace_parent", None)
    return value if isinstance(value, str) else None


def traced(handler: TracedHandler) -> TracedFunction:
    """Run `handler` under the request's trace context, and send that context back in `traceparent`
    on every answer, problems included (wrap the `problem_boundary`, not the body)."""

    def function(req: func.HttpRequest, context: func.Context = NO_HOST) -> func.HttpResponse:
        trace = tracing.handling(header(req, TRACEPARENT), host=host_traceparent(context))
        response = handler(req, trace)
        response.headers[TRACEPARENT] = str(trace)
        return response

    # Not functools.wraps: the worker and the local host read a function's parameters through
    # `__wrapped__`, and must see (req, context) here, not the handler's (req, trace).
    function.__name__ = handler.__name__
    function.__qualname__ = handler.__qualname__
    function.__doc__ = handler.__doc__
    function.__module__ = handler.__module__
    return function
