"""One nightly run at a time: an advisory file lock that dies with its holder.

`fcntl.flock` is released by the kernel when the holding process exits for any
reason (including kill -9), so a crashed run never leaves a stale lock behind; the
file's content (pid, start time) is only there to tell a person who holds it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from registry.errors import RunLocked

__all__ = ["run_lock"]


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold the run lock at `path`, or raise `RunLocked` at once if another process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            raise RunLocked(f"already running ({holder}; lock {path})") from None
        os.ftruncate(fd, 0)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.pwrite(fd, f"pid {os.getpid()} since {stamp}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
