"""The quality stage wired to the store: `registry validate` and `registry flags`.

`run_validation` reads each site's latest snapshot from the store, tidies it, runs
`validate`, ages the flags against the site's previous set, saves flags and per-rule
results with the run, and writes `flags-<site>.csv` (DESIGN.md columns, only that
site's records) to `<reports_dir>/<run_id>/`. Kept apart from the pure parts so the
nightly job can call the same function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.errors import RegistryError
from registry.quality.flags import SiteLink
from registry.quality.lifecycle import OPEN_STATUSES, age_flags
from registry.settings import Settings

__all__ = ["ValidationRun", "flags_from_store", "list_flags", "run_validation",
           "validate_snapshots"]

@dataclass(frozen=True)
class ValidationRun:
    """What `registry validate` did: the run, per-site counts and the files written."""

    run_id: str
    counts: dict[str, dict[str, int]]
    files: list[Path]
    rule_errors: int


def _site_link(base: str, snapshot: Any) -> SiteLink:
    """REDCap base URL from settings; version and pid from what the pull kept with the snapshot.

    The pull keeps the REDCap version in the snapshot's details (`redcap_version`) and
    the project info as REDCap gives it; older callers put both in `project_info`.
    """
    info = snapshot.project_info if isinstance(snapshot.project_info, Mapping) else {}
    details = snapshot.details if isinstance(snapshot.details, Mapping) else {}
    project = info.get("project_info") if isinstance(info.get("project_info"), Mapping) \
        else info
    version = str(details.get("redcap_version") or info.get("version")
                  or info.get("redcap_version") or "")
    event_ids: dict[str, int] = {}  # each site's own project numbers its events
    for ev in details.get("events") or ():
        if isinstance(ev, Mapping) and str(ev.get("event_id") or "").isdigit():
            event_ids[str(ev.get("unique_event_name"))] = int(str(ev["event_id"]))
    return SiteLink(base_url=base, version=version, pid=project.get("project_id", ""),
                    event_ids=event_ids)


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


def flags_from_store(flags: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stored flags back as the quality stage made them (`patient_id`, `reported`, field "")."""
    return _flat(flags)


def validate_snapshots(settings: Settings, store: Any, run_id: str,
                       used: Mapping[str, int], *, tidied: Any = None) -> dict[str, Any]:
    """The quality stage of run `run_id` over one snapshot per site: validate, age, save.

    Flags are aged against each site's previous flag set (before this run) and saved
    with the run, with the per-rule results. Returns per-site counts by status (and
    `rule_errors`, the rules that could not be evaluated).
    """
    from registry.analysing import run_frames
    from registry.quality.runner import validate

    if not used:
        raise RegistryError("no snapshot to validate in the store: run `registry pull` first")
    snaps = {name: store.snapshot(sid) for name, sid in sorted(used.items())}
    started = store.run(run_id).started_at
    frames, metadata = tidied or run_frames(store, used, settings.profile)
    by_name = {s.name: s for s in settings.sites}
    links = {name: _site_link(by_name[name].redcap_base, info)
             for name, info in snaps.items() if name in by_name}
    result = validate(frames, metadata, settings.quality.suites,
                      site_links=links, sites=list(snaps))
    counts: dict[str, Any] = {}
    errored = result.rule_results[result.rule_results["status"] == "error"]
    unchecked = set(zip(errored["site"].astype(str), errored["rule_id"].astype(str),
                        strict=True))
    for name, info in snaps.items():
        mine = result.failures[result.failures["site"] == name]
        aged = age_flags(_flat(store.previous_flags(name, before_run_id=run_id)), mine, started,
                         unchecked=unchecked)
        store.save_flags(run_id, name, info.id, [_to_store(r) for r in aged.to_dict("records")])
        results = result.rule_results[result.rule_results["site"] == name]
        store.save_rule_results(run_id, name, [
            {**r, "detail": r.get("error") or None} for r in results.to_dict("records")])
        counts[name] = {s: int((aged["status"] == s).sum()) for s in OPEN_STATUSES}
        counts[name]["resolved"] = int(((aged["status"] == "resolved")
                                        & aged["reported"].astype(bool)).sum())
    counts["rule_errors"] = int((result.rule_results["status"] == "error").sum())
    return counts


def run_validation(settings: Settings, sites: Sequence[str] | None = None) -> ValidationRun:
    """`registry validate`: each site's latest snapshot, as a run of its own.

    The run's folder gets `flags-<site>.csv` for every site checked; `registry report
    --run <id>` adds the coordinators' PDFs.
    """
    from registry.lock import run_lock
    from registry.nightly import stage_run
    from registry.outputs import write_run_outputs
    from registry.store import Store

    chosen = [s for s in settings.sites if not sites or s.name in sites]
    if not chosen:
        raise RegistryError(f"no site named {', '.join(sites or [])} in {settings.path}")
    # one run at a time: a nightly starting meanwhile would mark this run abandoned
    with run_lock(settings.lock_file), Store.open(settings.store.url) as store:
        used = {}
        for site in chosen:
            info = store.latest_snapshot(site.name)
            if info is not None:
                used[site.name] = info.id
        if not used:
            raise RegistryError("no snapshot to validate in the store: run `registry pull` "
                                "first")
        with stage_run(store, "validate", used) as run_id:
            counts = validate_snapshots(settings, store, run_id, used)
            errors = counts.pop("rule_errors")
            store.stage(run_id, "validate", None, "succeeded", counts=counts)
            folder = write_run_outputs(settings, store, run_id, pdfs=False)
            store.finish_run(run_id, "succeeded", 0)
    return ValidationRun(run_id=run_id, counts=counts,
                         files=sorted(folder.glob("flags-*.csv")), rule_errors=errors)


def list_flags(settings: Settings, site: str | None = None,
               statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Each site's newest flag set (open and just-resolved flags), optionally filtered."""
    from registry.store import Store

    with Store.open(settings.store.url) as store:
        flags = store.flags(site=site, status=list(statuses) if statuses else None)
    return [f for f in _flat(flags) if f.get("reported", True)]
