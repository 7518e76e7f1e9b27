"""Fault injection at the SDK's HTTP transport: what Cosmos DB and the network do on a bad day.

A `FaultyTransport` answers chosen requests itself instead of (or after) sending
them: a 429 with retry-after, a 503, a connection reset before the request
leaves, or a lost answer after the write was applied (the ambiguous case).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import RequestsTransportResponse

from tests.support.cosmos import CountingTransport, classify

Fault = Literal["throttle", "unavailable", "reset", "lost_answer"]


@dataclass
class Rule:
    kind: str  # the request kind it applies to ("batch", "read", "query", ...)
    fault: Fault
    times: int  # how many matching requests it hits; -1 = all


class FaultyTransport(CountingTransport):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rules: list[Rule] = []
        self._rules_lock = threading.Lock()
        self.injected: list[tuple[str, Fault]] = []

    def inject(self, kind: str, fault: Fault, *, times: int = 1) -> None:
        with self._rules_lock:
            self._rules.append(Rule(kind, fault, times))

    def clear(self) -> None:
        with self._rules_lock:
            self._rules.clear()

    def _take(self, kind: str) -> Fault | None:
        with self._rules_lock:
            for rule in self._rules:
                if rule.kind == kind and rule.times != 0:
                    rule.times -= 1 if rule.times > 0 else 0
                    self.injected.append((kind, rule.fault))
                    return rule.fault
        return None

    def send(self, request: Any, **kwargs: Any) -> Any:
        headers = {str(k).lower(): str(v) for k, v in request.headers.items()}
        path = urlsplit(request.url).path
        kind = classify(request.method, path, headers)
        fault = self._take(kind)
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
        return response


def _answer(request: Any, status: int, headers: dict[str, str]) -> RequestsTransportResponse:
    raw = requests.Response()
    raw.status_code = status
    raw.headers.update({"Content-Type": "application/json", **headers})
    raw._content = json.dumps({"code": str(status), "message": "injected fault"}).encode()
    raw.url = request.url
    return RequestsTransportResponse(request, raw)
