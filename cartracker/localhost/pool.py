"""A fixed number of threads serving complete requests from a short, bounded queue.

A thread is taken only by a request that has fully arrived, never by a
connection: idle keep-alive connections and slow clients wait in the reactor,
so they cannot starve the pool. When every thread is busy a request waits in
the queue for a moment; the reactor answers 503 to the ones that waited too long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

_log = logging.getLogger("cartracker.localhost")

Job = TypeVar("Job")

THREAD_NAME = "cartracker-http-worker"


@dataclass
class _Queued(Generic[Job]):
    job: Job
    since: float = field(default_factory=time.monotonic)


class Pool(Generic[Job]):
    def __init__(self, threads: int, capacity: int, serve: Callable[[Job], None]) -> None:
        self._serve = serve
        self._capacity = capacity
        self._queue: deque[_Queued[Job]] = deque()
        self._ready = threading.Condition()
        self._idle = 0  # threads waiting for a job
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._run, name=f"{THREAD_NAME}-{n}", daemon=True) for n in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    @property
    def waiting(self) -> int:
        """Jobs queued for a thread (read without the lock: a hint, not a promise)."""
        return len(self._queue)

    def submit(self, job: Job) -> bool:
        """Queue `job`; False when the queue is full and no thread is free for it."""
        with self._ready:
            if len(self._queue) >= self._capacity + self._idle:
                return False
            self._queue.append(_Queued(job))
            self._ready.notify()
            return True

    def expired(self, waited: float) -> list[Job]:
        """Take back the jobs that have waited longer than `waited` seconds for a thread."""
        cutoff = time.monotonic() - waited
        taken: list[Job] = []
        with self._ready:
            while self._queue and self._queue[0].since < cutoff:
                taken.append(self._queue.popleft().job)
        return taken

    def stop(self, timeout: float = 5.0) -> None:
        """Let each thread finish the job it has, then end; queued jobs are dropped."""
        with self._ready:
            self._stopping = True
            self._queue.clear()
            self._ready.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            with self._ready:
                self._idle += 1
                while not self._queue and not self._stopping:
                    self._ready.wait()
                self._idle -= 1
                if self._stopping:
                    return
                job = self._queue.popleft().job
            try:
                self._serve(job)
            except Exception:  # noqa: BLE001 - a bug in serving one request must not shrink the pool
                _log.exception("serving a request failed")
