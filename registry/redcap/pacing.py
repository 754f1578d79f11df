"""Request pacing: never more than N requests per minute to one REDCap server.

REDCap counts page hits per minute per IP address (600 by default) and bans an
address that goes over it for good. The limit is per address, not per token, so
every site served by the same REDCap host shares one `RateLimiter` (see
`limiter_for`). Requests are spaced evenly (one every 60/N seconds) rather than
allowed in bursts: any sliding minute then holds at most N requests, whatever the
server's window looks like.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

__all__ = ["RateLimiter", "limiter_for"]


class RateLimiter:
    """Spaces calls to `acquire` at least `60 / requests_per_minute` seconds apart.

    Thread-safe; `clock` and `sleep` are injectable so tests need not wait.
    """

    def __init__(self, requests_per_minute: int, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be > 0")
        self.requests_per_minute = requests_per_minute
        self.interval = 60.0 / requests_per_minute
        self._clock, self._sleep = clock, sleep
        self._next = float("-inf")
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, for the pull's summary line

    def acquire(self) -> None:
        """Wait until the next request may go."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
            delay = start - now
        if delay > 0:
            self.waited += delay
            self._sleep(delay)


_limiters: dict[tuple[str, int], RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(url: str, requests_per_minute: int) -> RateLimiter:
    """The one limiter of the host serving `url` (shared by every site on that host)."""
    host = urlsplit(url).hostname or url
    key = (host, requests_per_minute)
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = RateLimiter(requests_per_minute)
        return _limiters[key]
