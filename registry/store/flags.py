"""Flags and per-rule results, kept per run and site so any night's report can be rebuilt.

The quality stage computes flags and their lifecycle status (new / open / resolved /
reopened); the store keeps each run's set as given and hands back the last set of a site
so the next run can age it. `flag_sets` records that a set was saved even when it is
empty, so "no flags tonight" is not mistaken for "not validated tonight".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from registry.errors import StoreError
from registry.store.runs import FINISHED_STATUSES
from registry.store.schema import flag_sets, flags, rule_results, runs
from registry.store.snapshots import as_utc

__all__ = [
    "FLAG_COLUMNS",
    "FLAG_STATUSES",
    "OPEN_FLAG_STATUSES",
    "RULE_STATUSES",
    "SEVERITIES",
    "flag_history",
    "list_flags",
    "list_rule_results",
    "open_flag_counts",
    "previous_flags",
    "save_flags",
    "save_rule_results",
]

#: The columns of `flags-<site>.csv`, in order (DESIGN.md).
FLAG_COLUMNS = ("site", "record_id", "form", "instance", "field", "rule_id", "severity",
                "status", "first_seen", "message", "link")
FLAG_STATUSES = ("new", "open", "resolved", "reopened", "accepted")
#: The statuses of a flag still to fix (`registry.quality.lifecycle.OPEN_STATUSES`).
OPEN_FLAG_STATUSES = ("new", "open", "reopened")
SEVERITIES = ("blocking", "warning")
RULE_STATUSES = ("passed", "failed", "not_applicable", "error")
_FLAG_FIELDS = set(FLAG_COLUMNS) | {"event", "last_seen", "details", "snapshot_id", "run_id"}
_RULE_FIELDS = ("rule_id", "severity", "checked", "failed", "percent", "status", "detail")


def _when(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise StoreError(f"flag {what} should be a datetime, a date or an ISO date, got {value!r}")


def _check_run(conn: Connection, run_id: str) -> datetime:
    started = conn.execute(select(runs.c.started_at).where(runs.c.id == run_id)).scalar()
    if started is None:
        raise StoreError(f"no run {run_id!r} in the store; start it with start_run first")
    return as_utc(started)


def _flag_row(flag: Mapping[str, Any], run_id: str, site: str, snapshot_id: int | None,
              now: datetime) -> dict[str, Any]:
    missing = [c for c in ("record_id", "form", "field", "rule_id", "severity", "status")
               if flag.get(c) in (None, "")]
    if missing:
        raise StoreError(f"flag {dict(flag)!r} lacks {', '.join(missing)}")
    if flag.get("site", site) != site:
        raise StoreError(f"flag for site {flag['site']!r} saved under site {site!r}")
    if flag["severity"] not in SEVERITIES:
        raise StoreError(f"flag severity should be one of {SEVERITIES}, got {flag['severity']!r}")
    if flag["status"] not in FLAG_STATUSES:
        raise StoreError(f"flag status should be one of {FLAG_STATUSES}, got {flag['status']!r}")
    instance = flag.get("instance")
    extra = {k: v for k, v in flag.items() if k not in _FLAG_FIELDS}
    details = dict(flag.get("details") or {}) | extra
    return {
        "run_id": run_id, "site": site, "snapshot_id": snapshot_id,
        "record_id": str(flag["record_id"]), "event": str(flag.get("event") or ""),
        "form": str(flag["form"]),
        "instance": None if instance in (None, "") else int(instance),
        "field": str(flag["field"]), "rule_id": str(flag["rule_id"]),
        "severity": flag["severity"], "status": flag["status"],
        "first_seen": _when(flag.get("first_seen") or now, "first_seen"),
        "last_seen": _when(flag.get("last_seen") or now, "last_seen"),
        "message": str(flag.get("message") or ""), "link": str(flag.get("link") or ""),
        "details": details or None,
    }


def save_flags(conn: Connection, run_id: str, site: str, snapshot_id: int | None,
               items: Sequence[Mapping[str, Any]]) -> int:
    """Keep a run's flags for a site (replacing any saved before for that run and site)."""
    started = _check_run(conn, run_id)
    rows = [_flag_row(f, run_id, site, snapshot_id, started) for f in items]
    conn.execute(delete(flags).where(flags.c.run_id == run_id, flags.c.site == site))
    conn.execute(delete(flag_sets).where(flag_sets.c.run_id == run_id, flag_sets.c.site == site))
    conn.execute(insert(flag_sets).values(run_id=run_id, site=site, snapshot_id=snapshot_id,
                                          saved_at=datetime.now(UTC), n_flags=len(rows)))
    for i in range(0, len(rows), 2000):
        conn.execute(insert(flags), rows[i:i + 2000])
    return len(rows)


def _flag_dict(row: Any) -> dict[str, Any]:
    out = {c: getattr(row, c) for c in FLAG_COLUMNS}
    out["event"] = row.event or ""
    out["first_seen"] = as_utc(row.first_seen)
    out["last_seen"] = as_utc(row.last_seen)
    out.update(run_id=row.run_id, snapshot_id=row.snapshot_id, details=row.details)
    return out


def _latest_sets(conn: Connection, site: str | None,
                 before_run_id: str | None = None) -> list[tuple[str, str]]:
    """(run_id, site) of the newest saved flag set per site (optionally before a run)."""
    q = (select(flag_sets.c.run_id, flag_sets.c.site, runs.c.started_at)
         .join(runs, runs.c.id == flag_sets.c.run_id)
         .where(runs.c.status.in_(FINISHED_STATUSES)))
    if site is not None:
        q = q.where(flag_sets.c.site == site)
    limit: tuple[datetime, str] | None = None
    newest: dict[str, tuple[datetime, str]] = {}
    if before_run_id is not None:
        limit = (_check_run(conn, before_run_id), before_run_id)
    for r in conn.execute(q):
        key: tuple[datetime, str] = (as_utc(r.started_at), r.run_id)
        if limit is not None and not key < limit:
            continue
        if r.site not in newest or newest[r.site] < key:
            newest[r.site] = key
    return [(run_id, s) for s, (_, run_id) in sorted(newest.items())]


def flag_sites(conn: Connection, run_id: str) -> list[str]:
    """Sites whose flags run `run_id` saved (the sites it validated)."""
    q = select(flag_sets.c.site).where(flag_sets.c.run_id == run_id).order_by(flag_sets.c.site)
    return [r.site for r in conn.execute(q)]


def list_flags(conn: Connection, run_id: str | None = None, site: str | None = None,
               status: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Flags of one run, or (run_id None) the newest saved set of each site."""
    if run_id is not None:
        _check_run(conn, run_id)
        pairs = [(run_id, site)]
    else:
        pairs = [(r, s) for r, s in _latest_sets(conn, site)]
    out: list[dict[str, Any]] = []
    for rid, s in pairs:
        q = select(flags).where(flags.c.run_id == rid)
        if s is not None:
            q = q.where(flags.c.site == s)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            q = q.where(flags.c.status.in_(wanted))
        q = q.order_by(flags.c.site, flags.c.id)
        out += [_flag_dict(r) for r in conn.execute(q)]
    return out


def open_flag_counts(conn: Connection, site: str, run_ids: Sequence[str]
                     ) -> dict[str, tuple[int, int]]:
    """(blocking, warning) open flags (new, open, reopened) of `site` in each of `run_ids`
    (a run with none: (0, 0)).

    Counted by the database: the site report's chart of past nights needs only these, and
    reading each night's flags whole cost ~17 ms a night and site at 100x (29 nights x 10
    sites, ~5 s a night once a month of history is kept).
    """
    out = {run_id: (0, 0) for run_id in run_ids}
    q = (select(flags.c.run_id, flags.c.severity, func.count())
         .where(flags.c.site == site, flags.c.run_id.in_(list(out)),
                flags.c.status.in_(OPEN_FLAG_STATUSES))
         .group_by(flags.c.run_id, flags.c.severity))
    for run_id, severity, n in conn.execute(q):
        blocking, warning = out[run_id]
        out[run_id] = (blocking + n, warning) if severity == "blocking" else (blocking,
                                                                             warning + n)
    return out


def flag_history(conn: Connection, site: str, since: datetime,
                 until: datetime) -> list[dict[str, Any]]:
    """The fixes and returns of `site`'s flags in finished runs started in [since, until].

    One row per flag a run saved as `resolved` the night it got fixed (`reported`) or as
    `reopened`: `run_started_at`, `status`, `first_seen`, the flag's key and severity.
    What the site report's "median time to resolution" and "reopen rate" are made of.
    """
    q = (select(flags.c.status, flags.c.first_seen, flags.c.record_id, flags.c.event,
                flags.c.form, flags.c.instance, flags.c.field, flags.c.rule_id,
                flags.c.severity, flags.c.details, runs.c.started_at)
         .join(runs, runs.c.id == flags.c.run_id)
         .where(flags.c.site == site, flags.c.status.in_(("resolved", "reopened")),
                runs.c.status.in_(FINISHED_STATUSES),
                runs.c.started_at >= as_utc(since), runs.c.started_at <= as_utc(until))
         .order_by(runs.c.started_at, flags.c.id))
    out = []
    for r in conn.execute(q):
        if r.status == "resolved" and not (r.details or {}).get("reported", True):
            continue  # a flag fixed on an earlier night, carried for its history
        out.append({"status": r.status, "first_seen": as_utc(r.first_seen),
                    "run_started_at": as_utc(r.started_at), "record_id": r.record_id,
                    "event": r.event or "", "form": r.form, "instance": r.instance,
                    "field": r.field, "rule_id": r.rule_id, "severity": r.severity})
    return out


def previous_flags(conn: Connection, site: str,
                   before_run_id: str | None = None) -> list[dict[str, Any]]:
    """The last flag set saved for `site` (before run `before_run_id`, if given); [] if none."""
    pairs = _latest_sets(conn, site, before_run_id)
    return list_flags(conn, pairs[0][0], site) if pairs else []


def save_rule_results(conn: Connection, run_id: str, site: str,
                      rows: Sequence[Mapping[str, Any]]) -> int:
    """Keep a run's per-rule results for a site (replacing any saved before)."""
    _check_run(conn, run_id)
    values = []
    for row in rows:
        if row.get("status") not in RULE_STATUSES:
            raise StoreError(f"rule result status should be one of {RULE_STATUSES}, "
                             f"got {row.get('status')!r} (rule {row.get('rule_id')!r})")
        percent = row.get("percent")
        values.append({
            "run_id": run_id, "site": site, "rule_id": str(row["rule_id"]),
            "severity": str(row.get("severity") or ""), "checked": int(row.get("checked") or 0),
            "failed": int(row.get("failed") or 0),
            "percent": None if percent is None or percent != percent else float(percent),
            "status": row["status"],
            "detail": None if row.get("detail") is None else str(row["detail"]),
        })
    conn.execute(delete(rule_results).where(rule_results.c.run_id == run_id,
                                            rule_results.c.site == site))
    if values:
        conn.execute(insert(rule_results), values)
    return len(values)


def list_rule_results(conn: Connection, site: str | None = None, since: datetime | None = None,
                      run_id: str | None = None) -> list[dict[str, Any]]:
    """Per-rule results, oldest run first, each with its run id and run start time."""
    rr = rule_results
    q = (select(rr, runs.c.started_at).join(runs, runs.c.id == rr.c.run_id)
         .order_by(runs.c.started_at, rr.c.run_id, rr.c.site, rr.c.id))
    if site is not None:
        q = q.where(rr.c.site == site)
    if since is not None:
        q = q.where(runs.c.started_at >= as_utc(since))
    if run_id is not None:
        q = q.where(rr.c.run_id == run_id)
    return [{"run_id": r.run_id, "run_started_at": as_utc(r.started_at), "site": r.site,
             **{c: getattr(r, c) for c in _RULE_FIELDS}} for r in conn.execute(q)]
