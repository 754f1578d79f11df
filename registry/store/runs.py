"""Runs: one row per `registry` run, its stages per site, and the snapshot each site used.

A run id is short and sorts by start time (`20261125-021500-ab12`: UTC date, time and
four random hex digits), so file names under `<reports_dir>/<run_id>/` sort too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from registry.errors import StoreError
from registry.log import redact
from registry.store.schema import run_snapshots, run_stages, runs
from registry.store.snapshots import as_utc

__all__ = [
    "RUN_STATUSES",
    "RunInfo",
    "RunSnapshot",
    "StageInfo",
    "finish",
    "get",
    "last_stage",
    "list_runs",
    "new_run_id",
    "record_stage",
    "set_snapshot",
    "start",
]

#: What a finished run can be: all went well, some sites/stages failed, or it failed.
RUN_STATUSES = ("running", "succeeded", "partial", "failed", "abandoned")
#: Runs whose outputs never appeared: never the "previous" run of anything.
DEAD_STATUSES = ("failed", "abandoned")
#: Runs that finished with their outputs written: what "the last run" means to a person.
FINISHED_STATUSES = ("succeeded", "partial")


@dataclass(frozen=True)
class StageInfo:
    """One stage's outcome in a run, for one site (or the whole stage when site is None)."""

    run_id: str
    stage: str
    site: str | None
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    counts: Any
    message: str | None


@dataclass(frozen=True)
class RunSnapshot:
    """The snapshot a run used for a site; `fresh` is False when it kept an older one."""

    site: str
    snapshot_id: int
    fresh: bool


@dataclass(frozen=True)
class RunInfo:
    id: str
    kind: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    exit_code: int | None
    message: str | None
    stages: list[StageInfo] = field(default_factory=list)
    snapshots: dict[str, RunSnapshot] = field(default_factory=dict)


def new_run_id(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _check_run(conn: Connection, run_id: str) -> None:
    if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
        raise StoreError(f"no run {run_id!r} in the store; `registry status` lists the runs")


def start(conn: Connection, kind: str, started_at: datetime | None = None) -> str:
    when = as_utc(started_at) or datetime.now(UTC)
    for _ in range(5):
        run_id = new_run_id(when)
        if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            conn.execute(insert(runs).values(id=run_id, kind=kind, started_at=when,
                                             status="running"))
            return run_id
    raise StoreError("could not find a free run id; try again")  # pragma: no cover


def record_stage(conn: Connection, run_id: str, stage: str, site: str | None, status: str,
                 started_at: datetime | None = None, ended_at: datetime | None = None,
                 counts: Any = None, message: str | None = None) -> None:
    """Record (or replace) the outcome of `stage` for `site` in a run."""
    _check_run(conn, run_id)
    site_match = run_stages.c.site.is_(None) if site is None else run_stages.c.site == site
    conn.execute(delete(run_stages).where(run_stages.c.run_id == run_id,
                                          run_stages.c.stage == stage, site_match))
    conn.execute(insert(run_stages).values(
        run_id=run_id, stage=stage, site=site, status=status, started_at=as_utc(started_at),
        ended_at=as_utc(ended_at), counts=counts,
        message=redact(message) if message else message))


def set_snapshot(conn: Connection, run_id: str, site: str, snapshot_id: int,
                 fresh: bool) -> None:
    """Say which snapshot of `site` the run used (replacing an earlier choice)."""
    _check_run(conn, run_id)
    conn.execute(delete(run_snapshots).where(run_snapshots.c.run_id == run_id,
                                             run_snapshots.c.site == site))
    conn.execute(insert(run_snapshots).values(run_id=run_id, site=site,
                                              snapshot_id=snapshot_id, fresh=fresh))


def finish(conn: Connection, run_id: str, status: str, exit_code: int | None,
           message: str | None = None, ended_at: datetime | None = None) -> None:
    if status not in RUN_STATUSES[1:]:
        raise StoreError(f"run status should be one of {', '.join(RUN_STATUSES[1:])}, "
                         f"got {status!r}")
    _check_run(conn, run_id)
    conn.execute(update(runs).where(runs.c.id == run_id).values(
        status=status, exit_code=exit_code, message=redact(message) if message else message,
        ended_at=as_utc(ended_at) or datetime.now(UTC)))


def abandon_running(conn: Connection) -> list[str]:
    """Mark runs still `running` as `abandoned` (call only while holding the run lock)."""
    stale = [r.id for r in conn.execute(select(runs.c.id).where(runs.c.status == "running"))]
    if stale:
        conn.execute(update(runs).where(runs.c.id.in_(stale)).values(
            status="abandoned", ended_at=datetime.now(UTC),
            message="the process running it stopped before it finished"))
    return stale


def _stage(row: Any) -> StageInfo:
    return StageInfo(run_id=row.run_id, stage=row.stage, site=row.site, status=row.status,
                     started_at=as_utc(row.started_at), ended_at=as_utc(row.ended_at),
                     counts=row.counts, message=row.message)


def _run(row: Any, stages: list[StageInfo], snaps: dict[str, RunSnapshot]) -> RunInfo:
    return RunInfo(id=row.id, kind=row.kind, started_at=as_utc(row.started_at),
                   ended_at=as_utc(row.ended_at), status=row.status, exit_code=row.exit_code,
                   message=row.message, stages=stages, snapshots=snaps)


def get(conn: Connection, run_id: str) -> RunInfo:
    """A run with its stages (in the order recorded) and the snapshot used per site."""
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    if row is None:
        raise StoreError(f"no run {run_id!r} in the store; `registry status` lists the runs")
    stages = [_stage(r) for r in conn.execute(
        select(run_stages).where(run_stages.c.run_id == run_id).order_by(run_stages.c.id))]
    snaps = {r.site: RunSnapshot(r.site, r.snapshot_id, bool(r.fresh)) for r in conn.execute(
        select(run_snapshots).where(run_snapshots.c.run_id == run_id)
        .order_by(run_snapshots.c.site))}
    return _run(row, stages, snaps)


def list_runs(conn: Connection, limit: int | None = 20, kind: str | None = None,
              status: str | None = None) -> list[RunInfo]:
    """Runs, newest first, with their stages and snapshots."""
    q = select(runs.c.id).order_by(runs.c.started_at.desc(), runs.c.id.desc())
    if kind is not None:
        q = q.where(runs.c.kind == kind)
    if status is not None:
        q = q.where(runs.c.status == status)
    if limit is not None:
        q = q.limit(limit)
    return [get(conn, run_id) for run_id in conn.execute(q).scalars()]


def last_stage(conn: Connection, stage: str, site: str | None) -> StageInfo | None:
    """The latest recorded outcome of `stage` for `site`, across runs."""
    site_match = run_stages.c.site.is_(None) if site is None else run_stages.c.site == site
    row = conn.execute(select(run_stages).join(runs, runs.c.id == run_stages.c.run_id)
                       .where(run_stages.c.stage == stage, site_match)
                       .order_by(runs.c.started_at.desc(), run_stages.c.id.desc())
                       .limit(1)).first()
    return None if row is None else _stage(row)
