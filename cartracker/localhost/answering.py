"""What a pool thread does with a complete request: call the function, write the answer, log one line.

A keep-alive client usually sends its next request right after reading an
answer, so the thread waits a few milliseconds for it on the same connection
before giving the connection back to the reactor: no hand-off between threads
per request. It does so only while no other request waits for a thread, and
for a bounded number of requests in a row, so one busy client cannot hold it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

import h11

from cartracker.http.problems import problem_response
from cartracker.localhost.connection import Connection, Incoming, Step
from cartracker.localhost.dispatch import Reply, dispatch, to_reply
from cartracker.localhost.index import AppIndex
from cartracker.localhost.limits import Limits

_log = logging.getLogger("cartracker.localhost")

STAY_SECONDS = 0.02  # how long a thread waits on its connection for the next request
STAY_REQUESTS = 100  # requests in a row a thread serves on one connection before giving it back

# What the reactor does with a connection given back: close it, answer it and close (a refusal),
# close it gracefully after the last answer ("linger"), or read the next request ("read").
Outcome = Reply | Literal["close", "linger", "read"]


class Answerer:
    def __init__(self, index: AppIndex, limits: Limits) -> None:
        self._index = index
        self._limits = limits

    def __call__(self, conn: Connection, incoming: Incoming, others_waiting: Callable[[], bool]) -> Outcome:
        served = 0
        while True:
            if not self._answer(conn, incoming):
                return "close"
            if not conn.next_cycle():
                return "linger"  # `Connection: close` or HTTP/1.0: done after this answer
            served += 1
            if served >= STAY_REQUESTS or others_waiting():
                return "read"
            step = _next_request(conn)
            if step is Step.NEED_DATA:
                return "read"
            if step is Step.CLOSED:
                return "close"
            if isinstance(step, Reply):
                return step
            incoming = step

    def _answer(self, conn: Connection, incoming: Incoming) -> bool:
        """Call the function and write its answer; False when the connection is lost."""
        reply = dispatch(
            self._index, incoming.method, incoming.target, incoming.headers, incoming.body, incoming.base_url
        )
        try:
            data = conn.answer(reply)
        except UnicodeEncodeError:  # a header value outside Latin-1 cannot go on the wire
            _log.exception("function %s answered a header that HTTP cannot carry", reply.function)
            detail = "the function's answer had an invalid header"
            reply = to_reply(problem_response(500, detail, slug="internal"))
            data = conn.answer(reply)
        except h11.LocalProtocolError:  # say, a 1xx status as the final answer: h11 will not frame it
            _log.exception("function %s answered what HTTP/1.1 cannot carry", reply.function)
            return False
        try:
            conn.sock.settimeout(self._limits.write_timeout)
            conn.sock.sendall(data)
        except OSError:
            return False
        finally:
            log_request(conn, reply)
        return True


def _next_request(conn: Connection) -> Incoming | Reply | Step:
    deadline = time.monotonic() + STAY_SECONDS
    while (step := conn.advance()) is Step.NEED_DATA:
        left = deadline - time.monotonic()
        if left <= 0:
            return Step.NEED_DATA
        conn.sock.settimeout(left)
        try:
            data = conn.sock.recv(65536)
        except TimeoutError:
            return Step.NEED_DATA
        except OSError:
            return Step.CLOSED
        conn.receive(data)
    return step


def log_request(conn: Connection, reply: Reply) -> None:
    _log.info(
        '%s "%s" %d %dB %.1fms %s',
        conn.peer,
        conn.request_line,
        reply.status,
        len(reply.body),
        (time.monotonic() - conn.started) * 1000,
        reply.function,
    )
