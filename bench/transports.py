"""Two azure-core transports the `cosmos cpu` section measures beside the app's, and did not choose.

* `HttpConnectionTransport`: `http.client.HTTPSConnection` as its documentation uses it
  (`request`, `getresponse`), kept alive per origin: what the app's transport would be with
  the standard library doing the request side too.
* `Urllib3Transport`: `urllib3.PoolManager`, what `requests` runs on, without `requests`.

They are enough for the bench's warm commands (status, headers, body; connection errors are
only wrapped, not told apart), and are not for production: the app's transport is
`cartracker.adapters.http_transport.HttpClientTransport` (docs/performance.md).
"""

from __future__ import annotations

import http.client
import threading
from typing import Any
from urllib.parse import urlsplit

import urllib3
from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import HttpRequest, HttpResponse, HttpTransport
from azure.core.utils import case_insensitive_dict

from cartracker.adapters.http_wire import BufferedResponse, body_of, ssl_context


class _Bench(HttpTransport[HttpRequest, HttpResponse]):
    def __enter__(self) -> _Bench:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def open(self) -> None:
        return


class HttpConnectionTransport(_Bench):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, int, bool], list[http.client.HTTPConnection]] = {}

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        url = urlsplit(request.url)
        verify = bool(kwargs.get("connection_verify", True))
        key = (url.hostname or "", url.port or 443, verify)
        with self._lock:
            idle = self._idle.get(key)
            connection = idle.pop() if idle else None
        if connection is None:
            context = ssl_context(verify, None)
            connection = http.client.HTTPSConnection(
                key[0], key[1], timeout=kwargs.get("read_timeout"), context=context
            )
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        try:
            connection.request(request.method, target, body_of(request.data, request.files), request.headers)
            answer = connection.getresponse()
            body = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise ServiceResponseError(str(exc), error=exc) from exc
        if answer.will_close:
            connection.close()
        else:
            with self._lock:
                self._idle.setdefault(key, []).append(connection)
        headers = case_insensitive_dict(answer.getheaders())
        return BufferedResponse(request, answer.status, answer.reason, headers, body)


class Urllib3Transport(_Bench):
    def __init__(self) -> None:
        self._pools = urllib3.PoolManager(maxsize=16)

    def close(self) -> None:
        self._pools.clear()

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        verify = bool(kwargs.get("connection_verify", True))
        pool = self._pools.connection_from_url(
            request.url, pool_kwargs={"cert_reqs": "CERT_REQUIRED" if verify else "CERT_NONE"}
        )
        timeout = urllib3.Timeout(connect=kwargs.get("connection_timeout"), read=kwargs.get("read_timeout"))
        try:
            answer = pool.urlopen(
                request.method,
                urllib3.util.parse_url(request.url).request_uri,
                body=body_of(request.data, request.files),
                headers=request.headers,
                retries=False,
                redirect=False,
                timeout=timeout,
                preload_content=True,
                assert_same_host=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceResponseError(str(exc), error=exc) from exc
        headers = case_insensitive_dict(answer.headers.items())
        return BufferedResponse(request, answer.status, answer.reason or "", headers, answer.data)
