"""The flag <-> DRW query mapping: which REDCap query each flag has, and what the sync
last did with it, so a flag never gets a second query across nights and a rerun of a
night sends nothing (`registry.drw`).

One row per flag (its full key: site, record, event, form, instance, field, rule),
kept across runs (not per run: the query outlives any night):

- `status_id`: the REDCap query (several flags on one cell share it: REDCap keeps
  one query per cell);
- `state`: `open` (the sync opened or reopened it), `closed` (the sync closed it: the
  flag was fixed), `accepted` (the coordinator closed it as CONFIRMED_CORRECT);
- `accepted_value`: for an accepted flag, a hash of the cell's value when it was
  accepted (a new value raises the flag again);
- `last_ts`: the timestamp of the last resolution the sync sent on the query (to tell
  the coordinator's later steps from the sync's own).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from registry.store.schema import drw_links, flags
from registry.store.snapshots import as_utc

__all__ = ["DRW_STATES", "LINK_KEY", "list_links", "save_links", "set_flag_statuses"]

LINK_KEY = ("site", "record_id", "event", "form", "instance", "field", "rule_id")
DRW_STATES = ("open", "closed", "accepted")


def _key(row: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(row.get(k) or "") for k in LINK_KEY)


def list_links(conn: Connection, site: str) -> list[dict[str, Any]]:
    """Every link of `site`, oldest first."""
    q = select(drw_links).where(drw_links.c.site == site).order_by(drw_links.c.status_id,
                                                                   drw_links.c.rule_id)
    return [{**row._asdict(), "updated_at": as_utc(row.updated_at)}
            for row in conn.execute(q)]


def save_links(conn: Connection, site: str, rows: Sequence[Mapping[str, Any]],
               run_id: str | None = None) -> int:
    """Insert or replace links (by flag key) of `site`."""
    now = datetime.now(UTC)
    for row in rows:
        if row.get("state") not in DRW_STATES:
            raise ValueError(f"DRW link state should be one of {DRW_STATES}, got "
                             f"{row.get('state')!r}")
        key = dict(zip(LINK_KEY, _key({**row, "site": site}), strict=True))
        conn.execute(delete(drw_links).where(*(drw_links.c[k] == v for k, v in key.items())))
        conn.execute(insert(drw_links).values(
            **key, status_id=int(row["status_id"]), state=row["state"],
            accepted_value=row.get("accepted_value"), last_ts=row.get("last_ts"),
            run_id=run_id, updated_at=now))
    return len(rows)


def set_flag_statuses(conn: Connection, run_id: str, site: str,
                      statuses: Iterable[tuple[Mapping[str, Any], str]],
                      queries: Iterable[tuple[Mapping[str, Any], str]] = ()) -> int:
    """Change the status of some of run `run_id`'s flags at `site` (the flag given by its
    key columns, instance "" for a non-repeating form), and note on others their DRW
    query's state (`details["drw_query"]`: open, closed or accepted)."""
    n = 0
    for flag, state in queries:
        for row in conn.execute(select(flags.c.id, flags.c.details).where(
                _flag_cond(run_id, site, flag))):
            details = {**(row.details or {}), "drw_query": state}
            conn.execute(update(flags).where(flags.c.id == row.id).values(details=details))
    for flag, status in statuses:
        n += conn.execute(update(flags).where(_flag_cond(run_id, site, flag))
                          .values(status=status)).rowcount or 0
    return n


def _flag_cond(run_id: str, site: str, flag: Mapping[str, Any]) -> Any:
    inst = str(flag.get("instance") or "")
    return and_(flags.c.run_id == run_id, flags.c.site == site,
                flags.c.record_id == str(flag["record_id"]),
                flags.c.event == str(flag.get("event") or ""),
                flags.c.form == str(flag["form"]), flags.c.field == str(flag["field"]),
                flags.c.rule_id == str(flag["rule_id"]),
                flags.c.instance.is_(None) if not inst else flags.c.instance == int(inst))
