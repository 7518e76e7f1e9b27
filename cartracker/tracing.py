"""W3C Trace Context (`traceparent`): read exactly, and a new trace whenever it cannot be read.

A request runs under one trace context. Its trace id becomes the `correlationId` of the events
the request writes, and the context goes back to the client in the answer's `traceparent`.

- Version 00 is exactly `00-<32 hex>-<16 hex>-<2 hex>`, lower-case hex, neither id all zeros.
- Version `ff` is invalid. A later version is read by its first four fields, which must be
  followed by the end or by `-` and whatever that version adds (the spec's rule for versions
  this code does not know); only its sampled flag is kept, and it is written back as version 00.
- A value longer than `MAX_TRACEPARENT_LENGTH` is not read at all.

Anything else is not an error: the request starts a new trace (the spec says to restart the trace
when the header cannot be parsed), so a bad `traceparent` is never a 400.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

# Version 00 is 55 characters; later versions may add fields. A client sending more is not tracing.
MAX_TRACEPARENT_LENGTH = 512

_VERSION_00 = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_LATER_VERSION = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?", re.DOTALL)
_ZERO_TRACE_ID = "0" * 32
_ZERO_PARENT_ID = "0" * 16
_SAMPLED = 0x01


@dataclass(frozen=True)
class TraceContext:
    """A trace id (the whole trace), a parent id (one span of it) and the trace flags, as hex."""

    trace_id: str
    parent_id: str
    flags: str

    def __str__(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"

    def child(self) -> TraceContext:
        """A new span of this trace, as a callee starts its own; it keeps only the sampled flag."""
        return TraceContext(self.trace_id, _new_parent_id(), _sampled_only(self.flags))


def parse(header: str | None) -> TraceContext | None:
    """The `traceparent` as the spec reads it, or None when it is absent or cannot be read."""
    if header is None or len(header) > MAX_TRACEPARENT_LENGTH:
        return None
    match = _VERSION_00.fullmatch(header)
    if match is not None:
        trace_id, parent_id, flags = match.groups()
    else:
        later = _LATER_VERSION.fullmatch(header)
        if later is None or later.group(1) in ("00", "ff"):
            return None
        _, trace_id, parent_id, flags = later.groups()
        flags = _sampled_only(flags)  # a later version's other flags may mean something else
    if trace_id == _ZERO_TRACE_ID or parent_id == _ZERO_PARENT_ID:
        return None
    return TraceContext(trace_id, parent_id, flags)


def new_trace() -> TraceContext:
    """A new trace, sampled: its requests record it (every event they write carries its id)."""
    return TraceContext(_new_trace_id(), _new_parent_id(), "01")


def handling(header: str | None, *, host: str | None = None) -> TraceContext:
    """The trace context a request is handled under.

    `host` is the span the Functions host opened for the invocation, if it passed one: the host
    already continued the caller's `traceparent` in it (or started a trace), and Application
    Insights records the request under it, so it wins. Without it, the request gets a span of its
    own in the caller's trace, or a new trace when the caller sent none that can be read.
    """
    opened = parse(host)
    if opened is not None:
        return opened
    caller = parse(header)
    return new_trace() if caller is None else caller.child()


def _sampled_only(flags: str) -> str:
    return f"{int(flags, 16) & _SAMPLED:02x}"


def _new_trace_id() -> str:
    while (trace_id := secrets.token_hex(16)) == _ZERO_TRACE_ID:  # pragma: no cover - 2**-128
        pass
    return trace_id


def _new_parent_id() -> str:
    while (parent_id := secrets.token_hex(8)) == _ZERO_PARENT_ID:  # pragma: no cover - 2**-64
        pass
    return parent_id
