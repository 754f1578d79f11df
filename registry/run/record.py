"""The run record: a run started, each stage timed and recorded, then its end.

`Run.stage(name)` times a stage and records it with its counts; an exception fails the
stage on record and propagates. `recorded_run` records the run's own failure: the real
error is logged first; when even the record cannot be written (the store went away),
that is logged too and the next run marks the run abandoned (`registry.run.session`).
Exit codes: 0 all good, 1 partial (a site or a study failed), 2 bad usage or settings,
3 run failed or already running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from registry.errors import RegistryError
from registry.log import event, get_logger, redact
from registry.store import Store

EXIT_OK, EXIT_PARTIAL, EXIT_SETTINGS, EXIT_FAILED = 0, 1, 2, 3

_log = get_logger("run")


def utc_now() -> datetime:
    return datetime.now(UTC)


def describe(exc: BaseException) -> str:
    """One line for an unexpected exception (its traceback goes to the log)."""
    text = redact(str(exc).splitlines()[0]) if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failure_message(exc: BaseException) -> str:
    """What a failed stage or run records: the expected failure's message, else a summary."""
    return exc.message if isinstance(exc, RegistryError) else describe(exc)


@dataclass
class Run:
    """One run's record in the store: its stages as they go, then its end."""

    store: Store
    id: str
    #: told each stage's name as it starts (the CLI shows it in a terminal)
    on_stage: Callable[[str], None] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, store: Store, kind: str, snapshots: Mapping[str, int] | None = None, *,
              on_stage: Callable[[str], None] | None = None) -> Run:
        """Record a new `running` run, and the snapshot each site uses (kept, not fresh)."""
        run = cls(store, store.start_run(kind), on_stage)
        for site, snapshot_id in (snapshots or {}).items():
            store.use_snapshot(run.id, site, snapshot_id, fresh=False)
        return run

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a stage and record it; an exception fails the stage (and then the run).

        The caller fills the yielded dict with the stage's counts; `_status` in it
        sets the stage's status (default `succeeded`).
        """
        started = utc_now()
        counts: dict[str, Any] = {}
        event(_log, f"{name}.start", run=self.id)
        if self.on_stage is not None:
            self.on_stage(name)
        try:
            yield counts
        except BaseException as exc:  # a bug or an interrupt fails the stage on record too
            message = failure_message(exc)
            event(_log, f"{name}.failed", logging.ERROR, run=self.id, error=message)
            self._record("stage", self.store.stage, self.id, name, None, "failed",
                         started=started, ended=utc_now(), counts=counts or None, message=message)
            raise
        status = counts.pop("_status", "succeeded")
        self.store.stage(self.id, name, None, status, started=started, ended=utc_now(),
                         counts=counts or None)
        event(_log, f"{name}.done", run=self.id, status=status,
              seconds=round((utc_now() - started).total_seconds(), 2))

    def finish(self, status: str, exit_code: int, message: str | None = None) -> None:
        self.store.finish_run(self.id, status, exit_code, message)
        event(_log, "run.done", run=self.id, status=status, exit=exit_code)

    def fail(self, exc: BaseException) -> None:
        """Record the run as failed by `exc`; log the real error first, whatever happens."""
        message = failure_message(exc)
        event(_log, "run.failed", logging.ERROR, run=self.id, error=message)
        self._record("end", self.store.finish_run, self.id, "failed",
                     getattr(exc, "exit_code", EXIT_FAILED), message)

    def _record(self, what: str, write: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Write a failure's record; if the store itself is gone, say so in the log only
        (the failure being recorded is the one to report; the next run abandons this one)."""
        try:
            write(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the original failure propagates instead
            event(_log, f"run.{what}_unrecorded", logging.ERROR, run=self.id,
                  error=failure_message(exc))


@contextmanager
def recorded_run(store: Store, kind: str, snapshots: Mapping[str, int] | None = None, *,
                 on_stage: Callable[[str], None] | None = None) -> Iterator[Run]:
    """A run that records its own failure: an exception marks it failed, then propagates.

    The caller finishes a successful run, since only it knows whether it was partial.
    """
    run = Run.start(store, kind, snapshots, on_stage=on_stage)
    event(_log, "run.start", run=run.id, kind=kind)
    try:
        yield run
    except BaseException as exc:
        run.fail(exc)
        raise
