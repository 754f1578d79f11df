"""What `registry status` shows, gathered in one read: per site, per run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from registry.store import reader
from registry.store import runs as runs_mod
from registry.store.runs import RunInfo, StageInfo
from registry.store.snapshots import SnapshotInfo

__all__ = ["SiteStatus", "StoreStatus", "gather"]


@dataclass(frozen=True)
class SiteStatus:
    """A site's newest snapshot and its newest pull attempt (which may have failed since)."""

    site: str
    snapshot: SnapshotInfo | None
    last_pull: StageInfo | None


@dataclass(frozen=True)
class StoreStatus:
    sites: list[SiteStatus]
    runs: list[RunInfo]


def gather(conn: Connection, sites: Sequence[str] | None = None,
           run_limit: int = 10) -> StoreStatus:
    """Status of the given sites (default: every site with a snapshot) and the last runs."""
    names = list(sites) if sites is not None else []
    names += [s for s in reader.sites(conn) if s not in names]
    return StoreStatus(
        sites=[SiteStatus(site=s, snapshot=reader.latest(conn, s),
                          last_pull=runs_mod.last_stage(conn, "pull", s)) for s in names],
        runs=runs_mod.list_runs(conn, limit=run_limit),
    )
