"""How much the local host takes on at once, and how long it waits for a client.

Every bound is here, so a reader sees in one place what a hostile or broken
client can cost: a thread per request being served (never per connection), a
short queue in front of them, and deadlines for slow and idle clients.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bodies above this are refused by the host without being read; the functions' own limit is lower.
MAX_READ_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    threads: int = 32  # requests served at once, each on a thread of a fixed pool
    queue: int = 64  # complete requests waiting for a free thread; one more is answered 503
    queue_wait: float = 2.0  # seconds a request may wait for a thread before it is answered 503
    idle_timeout: float = 60.0  # seconds a keep-alive connection may sit between requests
    request_timeout: float = 15.0  # seconds from a request's first byte to its last, or 408 (slowloris)
    write_timeout: float = 30.0  # seconds a client may take to accept an answer
    max_header_bytes: int = 32 * 1024  # request line and headers together, or 431
    max_body_bytes: int = MAX_READ_BYTES  # declared or chunked, or 413
    max_connections: int = 512  # open connections; beyond it the host stops accepting for a while

    def __post_init__(self) -> None:
        if self.threads < 1 or self.queue < 0 or self.max_connections < 1:
            raise ValueError(f"limits need at least one thread and one connection: {self}")

    @property
    def tick(self) -> float:
        """How often deadlines are checked: often enough for the shortest of them."""
        return min(0.1, self.queue_wait / 4, self.idle_timeout / 4, self.request_timeout / 4)
