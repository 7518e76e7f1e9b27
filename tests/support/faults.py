"""Fault injection at the SDK's HTTP transport: what Cosmos DB and the network do on a bad day.

A `FaultyTransport` answers chosen requests itself instead of (or after) sending
them: a 429 with retry-after, a 503, a connection reset before the request
leaves, a lost answer after the write was applied, or a 408 after the write was
applied (both ambiguous: the client cannot tell whether the write happened).
A rule can be narrowed to one container or one partition key, so a test can
break one shard of a view while the others stay healthy.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import HttpTransport
from azure.core.utils import case_insensitive_dict

from cartracker.adapters.http_wire import BufferedResponse
from tests.support.cosmos import CountingTransport, classify

Fault = Literal["throttle", "unavailable", "reset", "lost_answer", "timeout"]
FAULTS: tuple[Fault, ...] = ("throttle", "unavailable", "reset", "lost_answer", "timeout")
# Faults after which the request was applied although the client got no success.
AMBIGUOUS: frozenset[Fault] = frozenset({"lost_answer", "timeout"})

_H_PARTITION_KEY = "x-ms-documentdb-partitionkey"


@dataclass
class Rule:
    kind: str  # the request kind it applies to ("batch", "read", "query", ...)
    fault: Fault
    times: int  # how many matching requests it hits; -1 = all
    container: str | None = None  # only requests to this container (None: any)
    partition_key: str | None = None  # only requests scoped to this partition key (None: any)

    def matches(self, kind: str, container: str | None, partition_key: str | None) -> bool:
        return (
            self.kind == kind
            and self.times != 0
            and self.container in (None, container)
            and self.partition_key in (None, partition_key)
        )


class FaultyTransport(CountingTransport):
    """A `CountingTransport` (over the app's transport unless given `inner`) that injects faults."""

    def __init__(self, inner: HttpTransport[Any, Any] | None = None) -> None:
        super().__init__(inner)
        self._rules: list[Rule] = []
        self._rules_lock = threading.Lock()
        self.injected: list[tuple[str, Fault]] = []

    def inject(
        self,
        kind: str,
        fault: Fault,
        *,
        times: int = 1,
        container: str | None = None,
        partition_key: str | None = None,
    ) -> None:
        with self._rules_lock:
            self._rules.append(Rule(kind, fault, times, container, partition_key))

    def clear(self) -> None:
        with self._rules_lock:
            self._rules.clear()

    def _take(self, kind: str, container: str | None, partition_key: str | None) -> Fault | None:
        with self._rules_lock:
            for rule in self._rules:
                if rule.matches(kind, container, partition_key):
                    rule.times -= 1 if rule.times > 0 else 0
                    self.injected.append((kind, rule.fault))
                    return rule.fault
        return None

    def send(self, request: Any, **kwargs: Any) -> Any:
        headers = {str(k).lower(): str(v) for k, v in request.headers.items()}
        path = urlsplit(request.url).path
        kind = classify(request.method, path, headers)
        fault = self._take(kind, _container_of(path), _partition_key_of(headers))
        if fault in ("throttle", "unavailable", "reset"):
            # Counted as a round trip like any other attempt the SDK makes.
            self.record(request.method, path, kind, None)
        if fault == "throttle":
            return _answer(request, 429, {"x-ms-retry-after-ms": "3", "x-ms-substatus": "3200"})
        if fault == "unavailable":
            return _answer(request, 503, {})
        if fault == "reset":
            raise ServiceRequestError("connection reset by peer (injected)")
        response = super().send(request, **kwargs)
        if fault == "lost_answer":
            raise ServiceResponseError("read timed out after the request was sent (injected)")
        if fault == "timeout":
            # Cosmos DB's own 408: the request timed out inside the service, a write may have applied.
            return _answer(request, 408, {})
        return response


def _container_of(path: str) -> str | None:
    """`.../colls/<name>/...` -> name."""
    segments = [s for s in path.split("/") if s]
    return segments[3] if len(segments) >= 4 and segments[2] == "colls" else None


def _partition_key_of(headers: dict[str, str]) -> str | None:
    """The single partition key a request is scoped to (the SDK sends it as a JSON array), or None."""
    value = headers.get(_H_PARTITION_KEY)
    if value is None:
        return None
    try:
        keys = json.loads(value)
    except ValueError:
        return None
    return str(keys[0]) if isinstance(keys, list) and len(keys) == 1 else None


def _answer(request: Any, status: int, headers: dict[str, str]) -> BufferedResponse:
    body = json.dumps({"code": str(status), "message": "injected fault"}).encode()
    all_headers = case_insensitive_dict({"Content-Type": "application/json", **headers})
    return BufferedResponse(request, status, "injected", all_headers, body)
