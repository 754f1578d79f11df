"""The quality stage of a run, wired to the store.

`validate_snapshots` takes the tidy frames of the snapshots a run uses (one per site,
read by `registry.run.run_frames`), runs `validate`, ages each site's flags against its
previous flag set (the last finished run's) and saves flags and per-rule results with
the run. `flags_from_store` gives stored flags back as the stage made them. The run
itself (lock, record, output folder) is `registry.run`'s; printing is the commands'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from registry.errors import RegistryError
from registry.quality.flags import SiteLink
from registry.quality.lifecycle import OPEN_STATUSES, age_flags
from registry.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from registry.store import Store
    from registry.tidy import Frames

__all__ = ["flags_from_store", "validate_snapshots"]


def _site_link(base: str, snapshot: Any) -> SiteLink:
    """REDCap base URL from settings; version and pid from what the pull kept with the snapshot.

    The pull keeps the REDCap version in the snapshot's details (`redcap_version`) and
    the project info as REDCap gives it; older callers put both in `project_info`.
    """
    info = snapshot.project_info if isinstance(snapshot.project_info, Mapping) else {}
    details = snapshot.details if isinstance(snapshot.details, Mapping) else {}
    inner = info.get("project_info")
    project = inner if isinstance(inner, Mapping) else info
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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts (its columns are names)."""
    return cast(list[dict[str, Any]], frame.to_dict("records"))


def flags_from_store(flags: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stored flags back as the quality stage made them (`patient_id`, `reported`, field "")."""
    return _flat(flags)


def validate_snapshots(settings: Settings, store: Store, run_id: str,
                       used: Mapping[str, int], frames: Frames,
                       metadata: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """The quality stage of run `run_id` over one snapshot per site: validate, age, save.

    `frames` and `metadata` are the tidy frames and dictionary of exactly the snapshots
    in `used` (`registry.run.run_frames`). Flags are aged against each site's previous
    flag set (before this run) and saved with the run, with the per-rule results.
    Returns per-site counts by status (and `rule_errors`, the rules that could not be
    evaluated).
    """
    from registry.quality.runner import validate

    if not used:
        raise RegistryError("no snapshot to validate in the store: run `registry pull` first")
    snaps = {name: store.snapshot(sid) for name, sid in sorted(used.items())}
    started = store.run(run_id).started_at
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
        store.save_flags(run_id, name, info.id, [_to_store(r) for r in _records(aged)])
        results = result.rule_results[result.rule_results["site"] == name]
        store.save_rule_results(run_id, name, [
            {**r, "detail": r.get("error") or None} for r in _records(results)])
        counts[name] = {s: int((aged["status"] == s).sum()) for s in OPEN_STATUSES}
        counts[name]["resolved"] = int(((aged["status"] == "resolved")
                                        & aged["reported"].astype(bool)).sum())
    counts["rule_errors"] = int((result.rule_results["status"] == "error").sum())
    return counts
