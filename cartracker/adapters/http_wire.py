"""One HTTP/1.1 exchange on a connected socket, for `http_transport`: what goes out, what comes back.

What comes back is a `BufferedResponse`: an azure-core `HttpResponse` read in full.

The request head is written here and sent with the body in one `sendall` (`http.client`
puts each of the SDK's twenty-odd headers through its own calls and sends the body as a
second TLS record: measured, about 5% of a command's client CPU, docs/performance.md).
Everything a caller puts in the head is checked first: a method that is a token, a target
without spaces or control characters, header names that are tokens, no CR, LF or NUL
anywhere (so no header can smuggle another), a `Content-Length` that matches the body. The
answer is parsed by `http.client.HTTPResponse`: the status line, header limits,
`Content-Length`, chunking and `Connection: close` are the standard library's to get right.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
import zlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpRequest, HttpResponse
from azure.core.utils import case_insensitive_dict

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NOT_IN_TARGET = re.compile(r"[\x00-\x20\x7f]")
_BODY_EXPECTED = frozenset({"POST", "PUT", "PATCH"})
_SEPARATE_SEND = 64 * 1024  # above this, the body is sent after the head instead of copied onto it
_checked_names: set[str] = set()  # header names already checked (the SDK sends a few dozen)


class BufferedResponse(HttpResponse):
    """An answer read in full: status, reason, case-insensitive headers and the body bytes."""

    def __init__(
        self,
        request: HttpRequest,
        status: int,
        reason: str,
        headers: MutableMapping[str, str],
        body: bytes,
        *,
        block_size: int | None = None,
    ) -> None:
        super().__init__(request, None, block_size=block_size)
        self.status_code = status
        self.reason = reason
        self.headers = headers
        self.content_type = headers.get("Content-Type")
        self._body = body

    def body(self) -> bytes:
        return self._body

    def stream_download(self, pipeline: Any, **kwargs: Any) -> Iterator[bytes]:
        size = self.block_size
        return (self._body[at : at + size] for at in range(0, len(self._body), size))


def request_head(
    method: str, target: str, host: str, headers: Mapping[str, Any], body: bytes | None
) -> tuple[bytes, bool]:
    """The request line and headers, ready to send; and whether the connection may be kept after."""
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"not an HTTP method: {method!r}")
    if _NOT_IN_TARGET.search(target):
        raise ValueError(f"a request target must not contain spaces or control characters: {target!r}")
    if headers.get("Transfer-Encoding") is not None:
        raise ValueError("this transport sends bodies with a Content-Length, never chunked")
    lines = [f"{method} {target} HTTP/1.1"]
    if headers.get("Host") is None:
        lines.append(f"Host: {host}")
    for name, value in headers.items():
        if name not in _checked_names:
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"not a header name: {name!r}")
            if len(_checked_names) < 1024:
                _checked_names.add(name)
        lines.append(f"{name}: {value.decode('latin-1') if isinstance(value, bytes) else value}")
    declared = headers.get("Content-Length")
    length = len(body) if body is not None else 0
    if declared is None:
        if body is not None or method in _BODY_EXPECTED:
            lines.append(f"Content-Length: {length}")
    elif str(declared).strip() != str(length):
        raise ValueError(f"Content-Length {declared} does not match the body's {length} bytes")
    text = "\r\n".join(lines)
    breaks = len(lines) - 1
    if text.count("\n") != breaks or text.count("\r") != breaks or "\x00" in text:
        raise ValueError("a header name or value contains CR, LF or NUL")
    keep_alive = "close" not in str(headers.get("Connection", "")).lower()
    return (text + "\r\n\r\n").encode("latin-1"), keep_alive


def exchange(
    sock: socket.socket, request: HttpRequest, head: bytes, body: bytes | None, block_size: int
) -> tuple[BufferedResponse, bool]:
    """Send the request, read the whole answer, and say which side failed if one did.

    Returns the answer, and whether the server closes the connection after it (it said
    `Connection: close`, or sent a body without a length).
    """
    try:
        if body and len(body) > _SEPARATE_SEND:
            sock.sendall(head)
            sock.sendall(body)
        else:
            sock.sendall(head + body if body else head)
    except TimeoutError as exc:
        raise ServiceRequestTimeoutError(f"sending the request timed out: {exc}", error=exc) from exc
    except OSError as exc:
        # Not all of it was written, so the server cannot have acted on it.
        raise ServiceRequestError(f"sending the request failed: {exc!r}", error=exc) from exc
    answer = http.client.HTTPResponse(sock, method=request.method)
    try:
        answer.begin()
        data = answer.read()
    except TimeoutError as exc:
        raise ServiceResponseTimeoutError(f"no answer in {sock.gettimeout()}s", error=exc) from exc
    except (OSError, http.client.HTTPException) as exc:
        # Reset, closed before or while answering (IncompleteRead), or not HTTP.
        raise ServiceResponseError(f"no complete answer: {exc!r}", error=exc) from exc
    finally:
        answer.close()
    headers: MutableMapping[str, str] = case_insensitive_dict()
    for name, value in answer.getheaders():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    content = _decoded(data, headers.get("Content-Encoding"))
    response = BufferedResponse(
        request, answer.status, answer.reason, headers, content, block_size=block_size
    )
    return response, bool(answer.will_close)


def body_of(data: object, files: object) -> bytes | None:
    if files:
        raise TypeError("HttpClientTransport does not send multipart (files) requests")
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")  # the SDK counts Content-Length in UTF-8 bytes
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"HttpClientTransport sends bytes or str bodies, not {type(data).__name__}")


def _decoded(body: bytes, encoding: str | None) -> bytes:
    """No compression is asked for; should a server compress anyway, gzip and deflate are undone."""
    coding = (encoding or "identity").strip().lower()
    try:
        if coding == "identity":
            return body
        if coding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if coding == "deflate":
            return zlib.decompress(body)
    except zlib.error as exc:
        raise ServiceResponseError(f"cannot decode a {coding} body: {exc}", error=exc) from exc
    raise ServiceResponseError(f"unsupported Content-Encoding {encoding!r}")


def ssl_context(
    verify: bool | str | None, cert: str | tuple[str | None, str | None] | None
) -> ssl.SSLContext:
    """TLS as azure-core's options ask: verified unless `verify` is False; a path names CAs to trust."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str):
        directory = os.path.isdir(verify)
        context = ssl.create_default_context(
            cafile=None if directory else verify, capath=verify if directory else None
        )
    else:  # True, or None when the SDK's SSLConfiguration names no CA bundle
        context = ssl.create_default_context()
        _fall_back_to_certifi(context)
    context.set_alpn_protocols(["http/1.1"])  # all this transport speaks
    if isinstance(cert, str):
        context.load_cert_chain(cert)
    elif isinstance(cert, tuple) and cert[0]:
        context.load_cert_chain(cert[0], cert[1])
    return context


def _fall_back_to_certifi(context: ssl.SSLContext) -> None:
    """Where the platform has no CA store (some macOS, Windows builds), trust certifi's, as requests does."""
    paths = ssl.get_default_verify_paths()
    if paths.cafile or paths.capath or context.cert_store_stats()["x509_ca"]:
        return
    try:
        import certifi  # noqa: PLC0415 - only where the platform has no CA store
    except ImportError:
        return
    context.load_verify_locations(certifi.where())
