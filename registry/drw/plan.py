"""What one night's DRW sync does at one site, decided without I/O.

Given tonight's flags of a site (aged by the quality stage), the stored flag <-> query
links (`registry.store.drw`), the site's queries as the Data Quality API module
exports them (None when the export failed) and a hash of the current value of the
cells concerned, `plan_sync` gives the resolutions to import, the queries to open,
the flag statuses to change (`accepted`) and the links to save. Flags are grouped by
cell (record, event, instance, field), because REDCap keeps one query per cell:

- an open flag on a cell with no query opens one with the flag's message and
  suggestion; a new flag on a cell whose query exists adds its text to that query
  (by `status_id`, so the module never stores it against no query);
- a cell whose flags are all resolved gets a closing resolution on the query the sync
  opened: "Fixed in REDCap, confirmed by the nightly check on <date>.";
- an open flag whose query is closed is reopened ("flagged again"), unless the
  coordinator, after the sync's last resolution, answered CONFIRMED_CORRECT: then the
  flag becomes `accepted` (it stops blocking and stops counting as open) and the
  cell's value is remembered;
- an accepted flag stays accepted while the value is the one accepted (this part runs
  even when the module cannot be reached); a new value raises it again and reopens
  its query.

Whole-instance flags (field "") have no cell to query and are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from registry.quality.lifecycle import OPEN_STATUSES, flag_key
from registry.redcap.drw import DrwQuery, DrwResolution, resolution_row

__all__ = ["Cell", "Link", "SyncPlan", "cell_of", "plan_sync"]

#: (record_id, event, instance, field): one DRW query; instance "1" when not repeating.
Cell = tuple[str, str, str, str]
Key = tuple[str, ...]
CONFIRMED = "CONFIRMED_CORRECT"
_TS = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Link:
    """A flag's query, as the store keeps it (`registry.store.drw`)."""

    status_id: int
    state: str  # open | closed | accepted
    accepted_value: str | None = None
    last_ts: str | None = None


@dataclass
class SyncPlan:
    """`rows`: resolutions to existing queries; `new`: a row opening a query per cell,
    with the flags it is for; `statuses`: flag key -> new status; `links`: flag key ->
    link to save (new queries' links are saved once their status_id is known)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    new: dict[Cell, tuple[dict[str, Any], list[Key]]] = field(default_factory=dict)
    statuses: dict[Key, str] = field(default_factory=dict)
    links: dict[Key, Link] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


def cell_of(flag: Mapping[str, Any]) -> Cell:
    key = flag_key(flag)
    return (key[1], key[2], key[4] or "1", key[5])


def _text(flags: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for f in flags:
        parts = [str(f.get("message") or "").strip(), str(f.get("suggestion") or "").strip()]
        lines.append(" ".join(p if p.endswith((".", "?", "!")) else p + "." for p in parts
                              if p))
    return "\n".join(dict.fromkeys(lines))


def _after(ts: str, query: DrwQuery | None) -> str:
    """`ts`, or one second after the query's latest step if that is not earlier: the
    module skips a step with the same ts and user as one it has, and moves the query's
    status only for a step later than its thread (whose times are the server's own
    clock, in its time zone)."""
    latest = max((r.ts for r in query.resolutions), default="") if query else ""
    try:
        floor = datetime.strptime(latest, _TS) + timedelta(seconds=1)
    except ValueError:
        return ts
    return max(ts, floor.strftime(_TS))


def _after_ours(query: DrwQuery, last: str) -> list[DrwResolution]:
    """The steps of `query` after the sync's last one (sent with ts `last`). Times have
    one-second grain, so a coordinator who answers and closes within the second of the
    sync's step shares its ts: the sync's step is the first one with that ts that is not
    a response (the sync never sends one), and every later step counts as after it."""
    ours = [r.res_id for r in query.resolutions if last and r.ts == last and not r.response]
    return [r for r in query.resolutions if not ours or r.res_id > min(ours)]


def plan_sync(flags: Sequence[Mapping[str, Any]], links: Mapping[Key, Link],
              queries: Sequence[DrwQuery] | None, values: Mapping[Cell, str], *,
              project_id: str, event_ids: Mapping[str, int], ts: str, date: str,
              username: str | None = None) -> SyncPlan:
    """The night's sync at one site (module docstring); `ts` stamps the resolutions
    sent, `date` (YYYY-MM-DD) is quoted in them; `values`: hash of each cell's value."""
    plan = SyncPlan()
    raised: set[Key] = set()
    by_cell: dict[Cell, list[Mapping[str, Any]]] = {}
    for f in flags:
        if not str(f.get("field") or ""):
            continue
        by_cell.setdefault(cell_of(f), []).append(f)
        key, link = flag_key(f), links.get(flag_key(f))
        if link is None or link.state != "accepted":
            continue
        if f.get("status") in OPEN_STATUSES:
            if values.get(cell_of(f)) == link.accepted_value:
                plan.statuses[key] = "accepted"
            else:
                raised.add(key)
        elif f.get("status") == "resolved":  # fixed after all: nothing left to accept
            plan.links[key] = replace(link, state="closed", accepted_value=None)
    plan.counts["accepted"] = len(plan.statuses)
    if queries is None:
        return plan

    names = {str(v): k for k, v in event_ids.items()}
    known = {q.status_id: q for q in queries}
    on_cell = {(q.record, names.get(q.event_id, ""), str(q.instance), q.field_name): q
               for q in queries}

    def row(cell: Cell, comment: str, *, status_id: int | None, status: str = "OPEN",
            requested: bool = True) -> dict[str, Any]:
        record, event, instance, field_name = cell
        eid = event_ids.get(event)
        query = known.get(status_id) if status_id is not None else None
        return resolution_row(project_id, record, field_name, comment=comment,
                              ts=_after(ts, query),
                              event_id="" if eid is None else str(eid),
                              instance=int(instance), status_id=status_id,
                              query_status=status, response_requested=requested,
                              username=username)

    for cell, cell_flags in by_cell.items():
        status = {flag_key(f): plan.statuses.get(flag_key(f), str(f.get("status")))
                  for f in cell_flags}
        open_f = [f for f in cell_flags if status[flag_key(f)] in OPEN_STATUSES]
        mine = {flag_key(f): links[flag_key(f)] for f in cell_flags if flag_key(f) in links}
        query = next((known[lk.status_id] for lk in mine.values() if lk.status_id in known),
                     None) or on_cell.get(cell)

        def link_all(keys: Sequence[Key], state: str, query_id: int) -> None:
            sent = plan.rows[-1]["resolutions"][0]["ts"]
            for k in keys:
                plan.links[k] = Link(query_id, state, None, sent)

        if not open_f:
            resolved = [k for k, lk in mine.items()
                        if lk.state == "open" and status[k] == "resolved"]
            if query is not None and resolved and query.query_status not in (
                    "CLOSED", "VERIFIED"):
                plan.rows.append(row(cell, f"Fixed in REDCap, confirmed by the nightly "
                                     f"check on {date}.", status_id=query.status_id,
                                     status="CLOSED", requested=False))
                link_all(resolved, "closed", query.status_id)
                plan.counts["closed"] += 1
            continue
        keys = [flag_key(f) for f in open_f]
        if query is None:
            plan.new[cell] = (row(cell, f"The nightly check on {date} flags this value. "
                                  f"{_text(open_f)}", status_id=None), keys)
            plan.counts["opened"] += 1
            continue
        new_here = [f for f in open_f if flag_key(f) not in mine]
        changed = [f for f in open_f if flag_key(f) in raised]
        closed = query.query_status in ("CLOSED", "VERIFIED")
        if new_here:
            plan.rows.append(row(cell, f"The nightly check on {date} flags this value. "
                                 f"{_text(new_here)}", status_id=query.status_id))
            plan.counts["reopened" if closed else "commented"] += 1
            link_all(keys, "open", query.status_id)
        elif changed:
            plan.rows.append(row(cell, f"The value changed, and the nightly check on {date} "
                                 f"flags it again. {_text(changed)}",
                                 status_id=query.status_id))
            plan.counts["raised"] += 1
            link_all(keys, "open", query.status_id)
        elif closed:
            last = max((lk.last_ts or "" for lk in mine.values()), default="")
            after = _after_ours(query, last)
            if any(r.response == CONFIRMED for r in after):
                for k in keys:
                    plan.statuses[k] = "accepted"
                    plan.links[k] = Link(query.status_id, "accepted", values.get(cell),
                                         mine[k].last_ts if k in mine else None)
                plan.counts["accepted"] += len(keys)
            else:
                plan.rows.append(row(cell, f"The nightly check on {date} still flags this "
                                     f"value. {_text(open_f)}", status_id=query.status_id))
                plan.counts["reopened"] += 1
                link_all(keys, "open", query.status_id)
        else:
            for k in keys:  # open on both sides; make sure the link is stored
                if k not in mine or mine[k].status_id != query.status_id \
                        or mine[k].state != "open":
                    plan.links[k] = Link(query.status_id, "open", None,
                                         mine[k].last_ts if k in mine else None)
    return plan
