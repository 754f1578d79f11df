"""The DRW sync stage of a nightly: each opted-in site's flags kept in step with its
REDCap Data Resolution Workflow (`registry.drw.plan` decides, this module does the I/O).

Runs after the quality stage, on the flags it saved for the run, for every site with
`drw_sync = true`. Per site: the stored links and a hash of the values of the linked
cells (from the run's snapshot); then one export of the site's queries on the records
concerned, one import of the night's resolutions, and, if queries were opened, one
more export to learn their `status_id`s; then the flag statuses (`accepted`) and the
links are saved in one transaction. All requests go through `registry.redcap.drw`
(paced with the pull's limiter).

A site's failure (module not enabled, endpoint down, bad token...) is recorded as its
`drw` stage row, with what could be done without REDCap (accepted flags whose value
did not change stay accepted), and never stops the run or the other sites.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from registry.drw.plan import Cell, Link, SyncPlan, plan_sync
from registry.errors import RegistryError
from registry.log import event, get_logger
from registry.quality.lifecycle import OPEN_STATUSES, flag_key
from registry.quality.stage import flags_from_store
from registry.settings import Settings, Site
from registry.store import Store

__all__ = ["DrwOutcome", "sync_sites"]

_log = get_logger("drw")
_COUNTED = ("opened", "commented", "closed", "reopened", "raised", "accepted")


@dataclass
class DrwOutcome:
    """One site's sync: counts of what it did, or the error that stopped it."""

    site: str
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        done = ", ".join(f"{self.counts.get(k, 0)} {k}" for k in _COUNTED)
        if self.error:
            return f"drw {self.site}: FAILED ({self.error}); done without REDCap: {done}"
        return f"drw {self.site}: {done}"


def _value_hash(columns: Sequence[str], rows: Sequence[Sequence[Any]],
                cells: set[tuple[str, str, str, str, str]]) -> dict[Cell, str]:
    """Hash of each (record, event, form, instance, field) cell's raw value(s) in the
    snapshot (a checkbox: all its `field___code` columns); a missing row hashes as None."""
    at = {c: i for i, c in enumerate(columns)}
    ev, ri, rn = (at.get("redcap_event_name"), at.get("redcap_repeat_instrument"),
                  at.get("redcap_repeat_instance"))

    def get(row: Sequence[Any], i: int | None) -> str:
        return "" if i is None else str(row[i] or "")

    out: dict[Cell, str] = {}
    for record, event_name, form, instance, field_name in cells:
        cols = [at[field_name]] if field_name in at else [
            i for c, i in at.items() if c.startswith(field_name + "___")]
        found: Any = None
        for row in rows:
            if str(row[0]) != record or get(row, ev) != event_name:
                continue
            if get(row, rn) != instance or (instance and get(row, ri) not in ("", form)):
                continue
            found = [get(row, i) for i in cols]
            break
        digest = hashlib.sha256(json.dumps(found).encode()).hexdigest()[:32]
        out[(record, event_name, instance or "1", field_name)] = digest
    return out


def _project(snapshot: Any) -> tuple[str, dict[str, int]]:
    """The project id and event ids the pull kept with the snapshot."""
    info = snapshot.project_info if isinstance(snapshot.project_info, Mapping) else {}
    inner = info.get("project_info")
    project = inner if isinstance(inner, Mapping) else info
    details = snapshot.details if isinstance(snapshot.details, Mapping) else {}
    events = {str(e.get("unique_event_name")): int(str(e["event_id"]))
              for e in details.get("events") or ()
              if isinstance(e, Mapping) and str(e.get("event_id") or "").isdigit()}
    return str(project.get("project_id") or ""), events


def _sync_site(settings: Settings, store: Store, run_id: str, site: Site, snapshot_id: int,
               now: datetime) -> DrwOutcome:
    from registry.redcap.drw import DrwClient

    outcome = DrwOutcome(site.name)
    snapshot = store.snapshot(snapshot_id)
    project_id, event_ids = _project(snapshot)
    flags = [f for f in flags_from_store(store.flags(run_id, site.name)) if f.get("field")]
    links = {(site.name, *(str(r[k] or "") for k in
                           ("record_id", "event", "form", "instance", "field", "rule_id"))):
             Link(int(r["status_id"]), r["state"], r["accepted_value"], r["last_ts"])
             for r in store.drw_links(site.name)}
    linked_open = [f for f in flags if flag_key(f) in links
                   and f.get("status") in OPEN_STATUSES]
    wanted = {(str(f["record_id"]), str(f.get("event") or ""), str(f["form"]),
               str(f.get("instance") or ""), str(f["field"])) for f in linked_open}
    columns, rows = store.snapshot_table(snapshot_id, sorted({c[0] for c in wanted})) \
        if wanted else ([], [])
    values = _value_hash(columns, rows, wanted)
    common: dict[str, Any] = {"project_id": project_id, "event_ids": event_ids,
                              "ts": now.strftime("%Y-%m-%d %H:%M:%S"),
                              "date": now.strftime("%Y-%m-%d"), "username": site.drw_username}
    plan = plan_sync(flags, links, None, values, **common)  # what holds without REDCap
    try:
        if not project_id.isdigit():
            raise RegistryError(f"site '{site.name}': the snapshot keeps no project id; "
                                "pull again before syncing the DRW")
        records = sorted({str(f["record_id"]) for f in flags
                          if f.get("status") in OPEN_STATUSES or flag_key(f) in links})
        client = DrwClient(site, settings.pull, project_id)
        full = plan_sync(flags, links, client.export(records), values, **common)
        client.import_rows(full.rows + [r for r, _ in full.new.values()])
        plan = full
        if full.new:
            _link_new(full, client.export(sorted({c[0] for c in full.new})), event_ids,
                      common["ts"])
    except RegistryError as exc:
        outcome.error = exc.message
    now_linked = {**links, **plan.links}
    store.apply_drw(run_id, site.name, [(f, plan.statuses[flag_key(f)]) for f in flags
                                         if flag_key(f) in plan.statuses],
                    [_link_row(k, lk) for k, lk in plan.links.items()],
                    [(f, now_linked[flag_key(f)].state) for f in flags
                     if flag_key(f) in now_linked])
    outcome.counts = {k: int(plan.counts.get(k, 0)) for k in _COUNTED}
    return outcome


def _link_new(plan: SyncPlan, queries: Sequence[Any], event_ids: Mapping[str, int],
              ts: str) -> None:
    names = {str(v): k for k, v in event_ids.items()}
    on_cell = {(q.record, names.get(q.event_id, ""), str(q.instance), q.field_name): q
               for q in queries}
    for cell, (_, keys) in plan.new.items():
        query = on_cell.get(cell)
        if query is None:  # the module did not create it (e.g. a field it does not know)
            plan.counts["opened"] -= 1
            continue
        for k in keys:
            plan.links[k] = Link(query.status_id, "open", None, ts)


def _link_row(key: tuple[str, ...], link: Link) -> dict[str, Any]:
    names = ("site", "record_id", "event", "form", "instance", "field", "rule_id")
    return {**dict(zip(names, key, strict=True)), "status_id": link.status_id,
            "state": link.state, "accepted_value": link.accepted_value,
            "last_ts": link.last_ts}


def sync_sites(settings: Settings, store: Store, run_id: str, used: Mapping[str, int], *,
               now: datetime | None = None) -> list[DrwOutcome]:
    """Sync every `drw_sync` site the run validated; each site's row recorded in the
    run's `drw` stage (failed ones with their one-line reason)."""
    when = now or datetime.now(UTC)
    outcomes = []
    validated = set(store.flag_sites(run_id))
    for site in settings.sites:
        if not site.drw_sync or site.name not in used or site.name not in validated:
            continue
        started = datetime.now(UTC)
        try:
            outcome = _sync_site(settings, store, run_id, site, used[site.name], when)
        except RegistryError as exc:
            outcome = DrwOutcome(site.name, error=exc.message)
        except Exception as exc:  # noqa: BLE001 - a bug at one site never stops the run
            _log.exception("drw.bug")
            text = str(exc).splitlines()[0] if str(exc) else ""
            outcome = DrwOutcome(site.name, error=f"{type(exc).__name__}: {text}")
        event(_log, "drw.site", logging.WARNING if outcome.error else logging.INFO,
              site=site.name, error=outcome.error, **outcome.counts)
        store.stage(run_id, "drw", site.name, "failed" if outcome.error else "succeeded",
                    started=started, ended=datetime.now(UTC), counts=outcome.counts or None,
                    message=outcome.line())
        outcomes.append(outcome)
    return outcomes
