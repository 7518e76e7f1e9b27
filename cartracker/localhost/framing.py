"""What the local host refuses before any function runs, each refusal as problem+json.

h11 parses and frames; this module adds the rules h11 leaves to its user. h11
folds repeated identical `Content-Length` headers (and `5, 5`) into one and
accepts `Content-Length` beside `Transfer-Encoding`: both are how requests get
smuggled past a proxy that reads the other header, so both are refused here,
from the raw header lines. The same scan names the header at fault when h11
itself refuses a head, so every 400 says which field was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import h11

from cartracker.http.problems import problem_response
from cartracker.localhost.dispatch import Reply, to_reply
from cartracker.localhost.index import ALL_METHODS

_HEAD_END = re.compile(rb"\n\r?\n")  # as h11 finds the end of a head
_DIGITS = re.compile(rb"[0-9]+")


def refusal(
    status: int,
    detail: str,
    *,
    slug: str,
    field: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> Reply:
    """A problem answer after which the connection is closed (what follows on it cannot be trusted)."""
    errors = [(field, detail)] if field else []
    reply = to_reply(problem_response(status, detail, slug=slug, errors=errors, headers=dict(headers)))
    reply.headers.append(("Connection", "close"))
    return reply


def header_fault(buffered: bytes, max_bytes: int) -> Reply | None:
    """The size and the smuggling-prone headers of the head at the start of `buffered`, line by line."""
    end = _HEAD_END.search(buffered)
    if end is None:
        return None
    if end.end() > max_bytes:  # h11 bounds only a head that is still incomplete
        return _too_large()
    lines = [line.removesuffix(b"\r") for line in buffered[: end.start()].split(b"\n")[1:]]
    if any(line[:1] in (b" ", b"\t") for line in lines):
        # RFC 9112 5.2 lets a server refuse obs-fold; h11 would join the line to the previous header.
        return _bad("headers", "a header continued on the next line (obs-fold) is not accepted")
    split = (line.partition(b":") for line in lines)
    fields = [(name.strip().lower(), value.strip(b" \t")) for name, _, value in split]
    lengths = [value for name, value in fields if name == b"content-length"]
    codings = [value for name, value in fields if name == b"transfer-encoding"]
    if len(lengths) > 1 or any(b"," in value for value in lengths):
        return _bad("Content-Length", "send one Content-Length header with one value")
    if lengths and _DIGITS.fullmatch(lengths[0]) is None:
        return _bad("Content-Length", "Content-Length must be plain decimal digits")
    if len(codings) > 1:
        return _bad("Transfer-Encoding", "send at most one Transfer-Encoding header")
    if codings and codings[0].lower() != b"chunked":
        return _bad("Transfer-Encoding", "the only Transfer-Encoding accepted is chunked")
    if codings and lengths:
        return _bad("Transfer-Encoding", "send Content-Length or Transfer-Encoding, not both")
    hosts = [name for name, _ in fields if name == b"host"]
    if len(hosts) != 1:
        return _bad("Host", "send exactly one Host header")
    return None


def protocol_fault(error: h11.RemoteProtocolError, buffered: bytes | None, max_bytes: int) -> Reply:
    """The answer to what h11 could not parse: a head (`buffered` starts with it) or else a body."""
    if buffered is None:
        return _bad("body", "the body is not framed as its headers say (a malformed chunk?)")
    fault = header_fault(buffered, max_bytes)
    if fault is not None:
        return fault
    if error.error_status_hint == 431:
        return _too_large()
    if "request line" in str(error):  # h11 (pinned) says which line it could not parse
        return _bad("request line", "the request line is not `METHOD /path HTTP/1.1`")
    return _bad("headers", "a header line is not `Name: value`")


def head_refusal(request: h11.Request) -> Reply | None:
    """Refuse what h11 lets through but this host does not serve: versions, methods, request targets."""
    if not request.http_version.startswith(b"1."):
        return refusal(505, "speak HTTP/1.1 (or 1.0)", slug="http-version-not-supported")
    method = request.method.decode("ascii")
    if method not in ALL_METHODS:
        return refusal(501, f"this host does not implement {method}", slug="not-implemented")
    if not request.target.startswith(b"/") or b"#" in request.target:
        return _bad("target", "the request target must be a path such as /api/cars (origin-form)")
    return None


def busy() -> Reply:
    detail = "every worker is busy; retry in a moment"
    return refusal(503, detail, slug="busy", headers=[("Retry-After", "1")])


def timed_out(seconds: float) -> Reply:
    return refusal(408, f"the request did not arrive within {seconds:g} s", slug="request-timeout")


def _too_large() -> Reply:
    return refusal(431, "the request line and headers are too large", slug="headers-too-large")


def _bad(field: str, detail: str) -> Reply:
    return refusal(400, detail, slug="bad-request", field=field)
