"""Clocks for the sandbox: real time by default, a hand-driven one for exact tests.

REDCap stamps data changes to the second in server local time (REDCAP_API.md §5), so
both clocks give naive datetimes without microseconds.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Local wall-clock time, to the second."""

    def now(self) -> datetime:
        return datetime.now().replace(microsecond=0)


class ManualClock:
    """A clock that moves only when told: `advance(seconds=...)` or `set(datetime)`."""

    def __init__(self, start: datetime | str = "2025-01-06 09:00:00") -> None:
        self._now = _parse(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0,
                days: float = 0) -> datetime:
        delta = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        with self._lock:
            self._now = (self._now + delta).replace(microsecond=0)
            return self._now

    def set(self, when: datetime | str) -> None:
        with self._lock:
            self._now = _parse(when)


def _parse(when: datetime | str) -> datetime:
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return when.replace(microsecond=0, tzinfo=None)
