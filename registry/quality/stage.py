"""The quality stage wired to the store: `registry validate` and `registry flags`.

`run_validation` reads each site's latest snapshot from the store, tidies it, runs
`validate`, ages the flags against the site's previous set, saves flags and per-rule
results with the run, and writes `flags-<site>.csv` (DESIGN.md columns, only that
site's records) to `<reports_dir>/<run_id>/`. Kept apart from the pure parts so the
nightly job can call the same function.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from registry.errors import RegistryError
from registry.quality.flags import SiteLink
from registry.quality.lifecycle import age_flags
from registry.settings import Settings

__all__ = [
    "CSV_COLUMNS",
    "ValidationRun",
    "list_flags",
    "run_validation",
    "validate_in_run",
    "write_flags_csv",
]

#: flags-<site>.csv columns (DESIGN.md, "Files other tools read").
CSV_COLUMNS = ("site", "record_id", "form", "instance", "field", "rule_id", "severity",
               "status", "first_seen", "message", "link")


@dataclass(frozen=True)
class ValidationRun:
    """What `registry validate` did: the run, per-site counts and the files written."""

    run_id: str
    counts: dict[str, dict[str, int]]
    files: list[Path]
    rule_errors: int


def _site_link(base: str, info: Any) -> SiteLink:
    """REDCap base URL from settings, version and pid from the snapshot's project info."""
    info = info if isinstance(info, Mapping) else {}
    project = info.get("project_info") if isinstance(info.get("project_info"), Mapping) \
        else info
    version = str(info.get("version") or info.get("redcap_version") or "")
    return SiteLink(base_url=base, version=version, pid=project.get("project_id", ""))


def write_flags_csv(aged: pd.DataFrame, site: str, folder: Path) -> Path:
    """Write `flags-<site>.csv`: the site's open and just-resolved flags."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"flags-{site}.csv"
    rows = aged[(aged["site"] == site) & aged["reported"].astype(bool)] if len(aged) else aged
    order = {"new": 0, "reopened": 1, "open": 2, "resolved": 3}
    rows = rows.assign(_o=rows["status"].map(order)).sort_values(
        ["_o", "record_id", "form", "instance", "field", "rule_id"], kind="stable") \
        if len(rows) else rows
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for rec in rows.to_dict("records"):
            first = rec.get("first_seen")
            rec["first_seen"] = first.date().isoformat() if isinstance(first, datetime) \
                else str(first or "")
            writer.writerow(["" if rec.get(c) is None else rec.get(c) for c in CSV_COLUMNS])
    tmp.replace(path)
    return path


#: The store requires a field name; an instance-level flag (field "", e.g. a duplicated
#: repeat instance) is kept under this placeholder and given back as "".
_WHOLE_INSTANCE = "(instance)"


def _to_store(flag: Mapping[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in flag.items() if k not in ("patient_id", "reported")}
    row["field"] = row["field"] or _WHOLE_INSTANCE
    row["details"] = {"patient_id": flag.get("patient_id"),
                      "reported": bool(flag.get("reported"))}
    return row


def _flat(previous: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for flag in previous:
        row = dict(flag)
        row.update({k: v for k, v in (flag.get("details") or {}).items() if k not in row})
        if row.get("field") == _WHOLE_INSTANCE:
            row["field"] = ""
        out.append(row)
    return out


def validate_in_run(store: Any, settings: Settings, run_id: str,
                    sites: Sequence[str] | None = None) -> tuple[ValidationRun, Any]:
    """Validate the latest snapshots inside an existing run (the nightly job's or ours).

    Saves each site's aged flags and rule results with the run and writes
    `<reports_dir>/<run_id>/flags-<site>.csv`. Returns the run summary and the
    `QualityResult` (for gating the analyses: `result.blocking_patients()`).
    """
    from registry.quality.runner import validate
    from registry.tidy import tidy

    chosen = [s for s in settings.sites if not sites or s.name in sites]
    if not chosen:
        raise RegistryError(f"no site named {', '.join(sites or [])} in {settings.path}")
    snaps = {s.name: info for s in chosen
             if (info := store.latest_snapshot(s.name)) is not None}
    if not snaps:
        raise RegistryError("no snapshot to validate in the store: run `registry pull` first")
    started = store.run(run_id).started_at
    rows_by_site = {name: store.snapshot_rows(info.id) for name, info in snaps.items()}
    metadata = next((m for m in (store.snapshot_metadata(i.id) for i in snaps.values()) if m),
                    None)
    if not metadata:
        raise RegistryError("the snapshots hold no data dictionary; pull again")
    links = {s.name: _site_link(s.redcap_base, snaps[s.name].project_info)
             for s in chosen if s.name in snaps}
    for name, info in snaps.items():
        store.use_snapshot(run_id, name, info.id, fresh=False)
    result = validate(tidy(rows_by_site, metadata), metadata, settings.quality.suites,
                      site_links=links, sites=list(snaps))
    folder = settings.reports_dir / run_id
    files, counts = [], {}
    for name, info in snaps.items():
        mine = result.failures[result.failures["site"] == name]
        aged = age_flags(_flat(store.previous_flags(name, before_run_id=run_id)), mine,
                         started)
        store.save_flags(run_id, name, info.id, [_to_store(r) for r in aged.to_dict("records")])
        results = result.rule_results[result.rule_results["site"] == name]
        store.save_rule_results(run_id, name, [
            {**r, "detail": r.get("error") or None} for r in results.to_dict("records")])
        files.append(write_flags_csv(aged, name, folder))
        reported = aged["reported"].astype(bool)
        counts[name] = {s: int(((aged["status"] == s) & reported).sum())
                        for s in ("new", "open", "reopened", "resolved")}
    errors = int((result.rule_results["status"] == "error").sum())
    return ValidationRun(run_id=run_id, counts=counts, files=files, rule_errors=errors), result


def run_validation(settings: Settings, sites: Sequence[str] | None = None) -> ValidationRun:
    """`registry validate`: a run of its own around `validate_in_run`."""
    from registry.store import Store

    with Store.open(settings.store.url) as store:
        run_id = store.start_run("validate")
        try:
            run, _ = validate_in_run(store, settings, run_id, sites)
            store.stage(run_id, "validate", None, "succeeded", counts=run.counts)
            store.finish_run(run_id, "succeeded", 0)
        except BaseException as exc:
            store.finish_run(run_id, "failed", getattr(exc, "exit_code", 3),
                             str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
    return run


def list_flags(settings: Settings, site: str | None = None,
               statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Each site's newest flag set (open and just-resolved flags), optionally filtered."""
    from registry.store import Store

    with Store.open(settings.store.url) as store:
        flags = store.flags(site=site, status=list(statuses) if statuses else None)
    return [f for f in _flat(flags) if f.get("reported", True)]
