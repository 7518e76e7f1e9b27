"""One client connection: bytes in, a checked and complete request out; an answer in, bytes out.

h11 does the HTTP/1.1 framing (bring-your-own-I/O: it never touches the
socket). This class adds what the host decides: the checks in `framing`, the
Host allow-list, the body limit, and when a request started arriving (for 408).
"""

from __future__ import annotations

import enum
import socket
import time
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

import h11

from cartracker.localhost.dispatch import Reply
from cartracker.localhost.framing import head_refusal, header_fault, protocol_fault, refusal
from cartracker.localhost.hosts import AllowedHosts
from cartracker.localhost.limits import Limits


class Step(enum.Enum):
    NEED_DATA = "need data"
    CLOSED = "closed"  # the client went away; nothing to answer


@dataclass(frozen=True)
class Incoming:
    method: str
    target: str
    headers: list[tuple[str, str]]  # as sent, repeated names kept
    body: bytes
    base_url: str  # scheme and the allowed Host, for request URLs and Location


class Connection:
    def __init__(self, sock: socket.socket, peer: str, limits: Limits, allowed: AllowedHosts) -> None:
        self.sock = sock
        self.peer = peer
        self._limits = limits
        self._allowed = allowed
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
        self._request: h11.Request | None = None
        self._base_url = ""
        self._body = bytearray()
        self._eof = False
        now = time.monotonic()
        self.idle_since = now
        self.pending_since: float | None = None  # when the unfinished request's first byte arrived
        self.started = now  # when the current request's first byte arrived, for the log
        self.draining_until: float | None = None  # closing: reading what the client still sends
        self.registered = False  # in the reactor's selector (not while a worker serves it)

    @property
    def request_line(self) -> str:
        if self._request is None:
            return "- -"
        return f"{self._request.method.decode('ascii')} {self._request.target.decode('ascii')}"

    def receive(self, data: bytes) -> None:
        """Bytes from the socket; b"" when the client closed its side."""
        if data and self.pending_since is None:
            self.pending_since = self.started = time.monotonic()
        self._eof = self._eof or not data
        self._h11.receive_data(data)

    def advance(self) -> Incoming | Reply | Step:
        """Parse what has arrived: a complete request, a refusal to send before closing, or a step."""
        while True:
            head = self._h11.trailing_data[0] if self._h11.their_state is h11.IDLE else None
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as error:
                if self._eof:
                    return Step.CLOSED
                return protocol_fault(error, head, self._limits.max_header_bytes)
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return Step.NEED_DATA
            if isinstance(event, h11.ConnectionClosed):
                return Step.CLOSED
            if isinstance(event, h11.Request):
                assert head is not None  # a Request is only parsed from IDLE
                refused = self._accept_head(event, head)
                if refused is not None:
                    return refused
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self._limits.max_body_bytes:
                    return _too_large(self._limits)
            elif isinstance(event, h11.EndOfMessage):
                return self._complete()

    def _accept_head(self, request: h11.Request, head: bytes) -> Reply | None:
        self._request = request
        fault = header_fault(head, self._limits.max_header_bytes)
        if fault is not None:
            return fault
        host = next(value for name, value in request.headers if name == b"host")
        base_url = self._allowed.base_url(host.decode("latin-1"))
        if base_url is None:
            shown = host.decode("latin-1")[:100]
            detail = f"Host {shown!r} is not served here: only loopback names, --host and --allow-host are"
            return refusal(400, detail, slug="host-not-allowed", field="Host")
        refused = head_refusal(request)
        if refused is not None:
            return refused
        length = next((int(value) for name, value in request.headers if name == b"content-length"), 0)
        if length > self._limits.max_body_bytes:
            return _too_large(self._limits)  # refused unread; the connection closes
        if self._h11.they_are_waiting_for_100_continue:
            self._send_now(
                self._h11.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
            )
        self._base_url = base_url
        return None

    def _complete(self) -> Incoming:
        assert self._request is not None
        self.pending_since = None
        return Incoming(
            method=self._request.method.decode("ascii"),
            target=self._request.target.decode("ascii"),
            headers=[
                (n.decode("latin-1"), v.decode("latin-1")) for n, v in self._request.headers.raw_items()
            ],
            body=bytes(self._body),
            base_url=self._base_url,
        )

    def answer(self, reply: Reply) -> bytes:
        """The bytes of `reply`, framed by h11: no body after HEAD, and `Connection: close` ends it."""
        headers = [*reply.headers, ("Date", formatdate(usegmt=True))]
        response = h11.Response(
            status_code=reply.status,
            headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            reason=_phrase(reply.status),
        )
        data = self._h11.send(response) or b""
        if reply.body and not (self._request is not None and self._request.method == b"HEAD"):
            data += self._h11.send(h11.Data(data=reply.body)) or b""
        return data + (self._h11.send(h11.EndOfMessage()) or b"")

    def next_cycle(self) -> bool:
        """After an answer: ready for the next request on this connection, or it must close."""
        if self._h11.states != {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
            return False
        self._h11.start_next_cycle()
        self._request, self._body = None, bytearray()
        now = time.monotonic()
        self.idle_since = now
        self.pending_since = now if self._h11.trailing_data[0] else None  # a pipelined request
        self.started = now
        return True

    def _send_now(self, data: bytes | None) -> None:
        try:
            self.sock.send(data or b"")
        except OSError:
            self._eof = True  # the next read reports the closed connection


def _phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""  # a status without a registered phrase (a function may answer 299)


def _too_large(limits: Limits) -> Reply:
    detail = f"the body must be 0-{limits.max_body_bytes} bytes"
    return refusal(413, detail, slug="payload-too-large", field="body")
