"""Which run's site report a run shows: its own, or an earlier one when nothing changed.

A site whose records and flags are the same as at the previous run gets that run's
report again instead of a new one saying the same (WeasyPrint lays out a long flag
list in seconds, and a coordinator is sent nothing new). "The same" is exact, read
from the store:

- the records: the run's snapshot of the site holds the same record versions as the
  previous run's (an incremental snapshot that added, changed and deleted nothing is
  its base's content again), and the site was pulled (or not) the same way;
- the flags: the same set, each with the same status, severity, message, link and
  first day seen (only the day it was last seen may differ).

The decision is taken from the store alone, so `registry report --run ID` makes the
same one, and the PDF rebuilt is the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from registry.store import Store
from registry.store.runs import FINISHED_STATUSES

__all__ = ["MAX_REUSE_CHAIN", "site_fingerprint", "site_report_run"]

#: How many nights back an unchanged site's report may come from (bounds the work).
MAX_REUSE_CHAIN = 31
_VOLATILE = {"last_seen", "run_id", "snapshot_id"}


def _content_id(store: Store, snapshot_id: int) -> int:
    """The first snapshot of a chain of incremental ones that changed nothing."""
    info = store.snapshot(snapshot_id)
    for _ in range(MAX_REUSE_CHAIN):
        if (info.kind != "incremental" or info.base_snapshot_id is None
                or info.n_added or info.n_changed or info.n_deleted):
            break
        info = store.snapshot(info.base_snapshot_id)
    return info.id


def site_fingerprint(store: Store, run: Any, site: str) -> str | None:
    """A digest of what a site report of `run` is about (None: the run has no report of
    the site)."""
    used = run.snapshots.get(site)
    if used is None:
        return None
    # the pull's status, not its message: the message names the night's snapshot (new every
    # night), and the report says only whether the pull succeeded
    pull = [s.status for s in run.stages if s.stage == "pull" and s.site == site]
    flags = []
    for row in store.flags(run_id=run.id, site=site):
        kept = {k: v for k, v in row.items() if k not in _VOLATILE}
        if isinstance(kept.get("details"), dict):
            kept["details"] = {k: v for k, v in kept["details"].items() if k not in _VOLATILE}
        flags.append(json.dumps(kept, sort_keys=True, default=str))
    state = {"snapshot": _content_id(store, used.snapshot_id), "fresh": bool(used.fresh),
             "pull": pull, "flags": sorted(flags)}
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def _previous(store: Store, run: Any, site: str, earlier: list[Any]) -> Any | None:
    for other in earlier:
        if (other.started_at, other.id) >= (run.started_at, run.id):
            continue
        if other.status in FINISHED_STATUSES and site in other.snapshots \
                and site in store.flag_sites(other.id):
            return other
    return None


def site_report_run(store: Store, run_id: str, site: str) -> str:
    """The run whose site report `run_id` shows for `site` (`run_id` itself unless the
    site is unchanged since an earlier run)."""
    run = store.run(run_id)
    earlier = [r for r in store.runs(limit=4 * MAX_REUSE_CHAIN) if r.id != run_id]
    mine = site_fingerprint(store, run, site)
    source = run
    for _ in range(MAX_REUSE_CHAIN):
        before = _previous(store, source, site, earlier)
        if before is None or mine is None or site_fingerprint(store, before, site) != mine:
            break
        source = before
    return str(source.id)
