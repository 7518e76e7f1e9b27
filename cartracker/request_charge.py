"""Request units (RU) per HTTP request, as Cosmos DB charged them, summed and logged at DEBUG.

Cosmos DB reports what each response cost in its `x-ms-request-charge` header.
The one `CosmosClient` hands every response to `record_response` (azure-core's
`raw_response_hook`, so retries and throttled attempts count too); the HTTP edge
runs each invocation inside `metered()`, which gives it a fresh `Meter` through
a context variable. Responses outside any invocation (the SDK's background
account reads, the projector) find no meter and are not counted.

One DEBUG record per HTTP request on the `cartracker.requests` logger carries the
totals as attributes (`requestCharge`, `cosmosResponses`), which log handlers
and the Application Insights exporter keep as custom dimensions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CHARGE_HEADER = "x-ms-request-charge"
log = logging.getLogger("cartracker.requests")
_current: ContextVar[Meter | None] = ContextVar("cartracker_request_charge", default=None)


@dataclass
class Meter:
    """What one invocation has cost so far: Cosmos responses seen, and the RU they reported."""

    request_units: float = 0.0
    responses: int = 0
    charged: int = 0  # responses that carried a charge (a test server sends none)

    def add(self, charge: str | None) -> None:
        self.responses += 1
        if charge is None:
            return
        try:
            self.request_units += float(charge)
        except ValueError:
            return
        self.charged += 1


def record_response(pipeline_response: Any) -> None:
    """azure-core `raw_response_hook`: add this response's charge to the current invocation's meter."""
    meter = _current.get()
    if meter is not None:
        meter.add(pipeline_response.http_response.headers.get(CHARGE_HEADER))


def current() -> Meter | None:
    return _current.get()


@contextmanager
def metered() -> Iterator[Meter]:
    """Count the Cosmos responses of the code run inside, apart from any outer invocation's."""
    meter = Meter()
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


def log_request(method: str, url: str, status: int, meter: Meter) -> None:
    """The request's DEBUG record, with its RU total as attributes (nothing to do unless DEBUG is on)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    log.debug(
        "%s %s -> %d: %.2f RU in %d Cosmos responses",
        method,
        urlsplit(url).path,
        status,
        meter.request_units,
        meter.responses,
        extra={"requestCharge": round(meter.request_units, 2), "cosmosResponses": meter.responses},
    )
