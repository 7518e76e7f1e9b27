"""The host's I/O thread: accepts, reads every connection, keeps the deadlines, feeds the pool.

One thread owns all sockets that are not being answered, with a selector, so
idle and slow connections cost a file descriptor and a few bytes, not a thread.
A request goes to the pool only once it has fully arrived; its worker writes
the answer and gives the connection back. Refusals (bad framing, a disallowed
Host, 408, 503) are answered from here; the connection is then half-closed and
read out for a moment, so the client sees the answer instead of a reset.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress

import h11

from cartracker.localhost.answering import Outcome, log_request
from cartracker.localhost.connection import Connection, Incoming, Step
from cartracker.localhost.dispatch import Reply
from cartracker.localhost.framing import busy, timed_out
from cartracker.localhost.hosts import AllowedHosts
from cartracker.localhost.limits import Limits
from cartracker.localhost.pool import Pool

_log = logging.getLogger("cartracker.localhost")

LINGER_SECONDS = 2.0  # how long a refused connection is read out before it is closed
_LISTENER, _WAKE = "listener", "wake"

Job = tuple[Connection, Incoming]


class Reactor:
    def __init__(
        self,
        listener: socket.socket,
        limits: Limits,
        allowed: AllowedHosts,
        answer: Callable[[Connection, Incoming, Callable[[], bool]], Outcome],
    ) -> None:
        self._listener, self._limits, self._allowed, self._answer = listener, limits, allowed, answer
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        for sock in (listener, self._wake_r, self._wake_w):
            sock.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ, _LISTENER)
        self._selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self._accepting = True
        self._connections: set[Connection] = set()
        self._returned: deque[tuple[Connection, Outcome]] = deque()  # appended by workers
        self._pool: Pool[Job] = Pool(limits.threads, limits.queue, self._work)
        self._stopping = threading.Event()
        self._closed = False
        self._next_sweep = 0.0

    def run(self) -> None:
        """Serve until `stop()` (or an exception such as KeyboardInterrupt), then close everything."""
        self._pool.start()
        try:
            while not self._stopping.is_set():
                for key, _ in self._selector.select(self._limits.tick):
                    if key.data == _LISTENER:
                        self._accept()
                    elif key.data == _WAKE:
                        self._wake_r.recv(4096)
                    else:
                        self._readable(key.data)
                self._take_back()
                self._sweep()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the pool and close every socket; call it from the thread that ran `run()`, or after it."""
        if self._closed:
            return
        self._closed = True
        self._pool.stop()
        for conn in list(self._connections):
            self._close(conn)
        self._selector.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()

    def stop(self) -> None:
        self._stopping.set()
        self._wake()

    def _wake(self) -> None:
        with suppress(OSError):  # full (so it is readable already) or closed (stopped)
            self._wake_w.send(b"!")

    def _accept(self) -> None:
        while len(self._connections) < self._limits.max_connections:
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as error:  # out of file descriptors, say: try again on the next sweep
                _log.warning("cannot accept a connection: %s", error)
                break
            sock.setblocking(False)
            # The head and the body of an answer are two segments; without TCP_NODELAY the second
            # waits for the client's delayed ACK of the first -- 40 ms per keep-alive request.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, str(address[0]), self._limits, self._allowed)
            self._connections.add(conn)
            self._register(conn)
        self._selector.unregister(self._listener)  # full: new clients wait in the listen backlog
        self._accepting = False

    def _readable(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._close(conn)
            return
        if conn.draining_until is not None:
            if not data:
                self._close(conn)
            return
        conn.receive(data)
        self._advance(conn)

    def _advance(self, conn: Connection) -> None:
        step = conn.advance()
        if step is Step.NEED_DATA:
            return
        if step is Step.CLOSED:
            self._close(conn)
        elif isinstance(step, Reply):
            self._refuse(conn, step)
        else:
            self._unregister(conn)  # the worker owns the socket until it gives it back
            assert isinstance(step, Incoming)
            if not self._pool.submit((conn, step)):
                self._refuse(conn, busy())

    def _work(self, job: Job) -> None:
        """On a pool thread."""
        conn, incoming = job
        outcome: Outcome = "close"
        try:
            outcome = self._answer(conn, incoming, lambda: self._pool.waiting > 0)
        finally:
            self._returned.append((conn, outcome))
            self._wake()

    def _take_back(self) -> None:
        while self._returned:
            conn, outcome = self._returned.popleft()
            if conn not in self._connections:
                continue
            if outcome == "close":
                self._close(conn)
            elif outcome == "linger":
                self._linger(conn)
            elif isinstance(outcome, Reply):
                self._refuse(conn, outcome)
            else:
                conn.sock.setblocking(False)
                self._register(conn)
                self._advance(conn)  # a pipelined request may be buffered already

    def _sweep(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._limits.tick
        for conn, _ in self._pool.expired(self._limits.queue_wait):
            self._refuse(conn, busy())
        limits = self._limits
        for conn in list(self._connections):
            if not conn.registered:
                continue  # being answered
            if conn.draining_until is not None:
                if now >= conn.draining_until:
                    self._close(conn)
            elif conn.pending_since is not None:
                if now - conn.pending_since > limits.request_timeout:
                    self._refuse(conn, timed_out(limits.request_timeout))
            elif now - conn.idle_since > limits.idle_timeout:
                self._close(conn)
        if not self._accepting and len(self._connections) < limits.max_connections:
            self._selector.register(self._listener, selectors.EVENT_READ, _LISTENER)
            self._accepting = True

    def _refuse(self, conn: Connection, reply: Reply) -> None:
        # Non-blocking, once: a refusal is a few hundred bytes and nothing else waits on the socket.
        # If the client is gone, or h11 cannot frame an answer any more, closing is all that is left.
        with suppress(OSError, h11.LocalProtocolError):
            conn.sock.send(conn.answer(reply))
        log_request(conn, reply)
        self._linger(conn)

    def _linger(self, conn: Connection) -> None:
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.draining_until = time.monotonic() + LINGER_SECONDS
        self._register(conn)

    def _register(self, conn: Connection) -> None:
        if not conn.registered:
            self._selector.register(conn.sock, selectors.EVENT_READ, conn)
            conn.registered = True

    def _unregister(self, conn: Connection) -> None:
        if conn.registered:
            self._selector.unregister(conn.sock)
            conn.registered = False

    def _close(self, conn: Connection) -> None:
        self._unregister(conn)
        conn.sock.close()
        self._connections.discard(conn)
