"""Report models from what the store holds for one run, so any run's PDFs can be rebuilt.

What each builder reads (`registry.store.Store`):

* `site_report_from_store`: the run (`store.run`: start time, the snapshot it used per
  site and whether that was pulled by this run, its stages for the pull message), the
  snapshot (`store.snapshot`: time, record count), the run's flags of that site
  (`store.flags(run_id, site)`), the previous flag set of the site
  (`store.previous_flags`) for "new / fixed since", and the open flags of the site
  counted at each earlier run that used it (`store.open_flag_counts`: the chart).
* `study_report_from_store`: the run, the `"study"` (`<study>.json`) and `"report"`
  payloads the analysis stage saved (`registry.reports.payloads`), the snapshots of the
  run, its rule results and flags per site, and the last earlier run that has a
  `"study"` payload for the same study ("what changed").

Nothing is read from REDCap, the clock or the installed versions: a rebuilt report is
the night's report.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from registry.errors import RegistryError
from registry.reports.models import (
    OPEN_STATUSES,
    AnalysisRow,
    BalanceRow,
    CohortFlow,
    Flag,
    FlagStatus,
    KMCurve,
    MethodsInputs,
    NightCount,
    PreviousStudy,
    Resolution,
    RuleResult,
    SeedSpread,
    SiteQuality,
    SiteReport,
    SiteSnapshot,
    StudyReport,
    Table,
)
from registry.reports.payloads import REPORT_KIND, STUDY_KIND
from registry.store.runs import FINISHED_STATUSES

__all__ = ["site_report_from_store", "snapshot_shape", "study_report_from_store"]

_KEY = ("record_id", "event", "form", "instance", "field", "rule_id")
#: How the store keeps a flag on a whole repeat instance (`registry.quality.stage`).
_WHOLE_INSTANCE = "(instance)"


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return _naive_utc(value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value).date()
    return None


def _words(value: Any) -> tuple[str, ...]:
    return tuple(str(value or "").split())


def _flag(row: Mapping[str, Any], status: str | None = None) -> Flag:
    instance = row.get("instance")
    details = row.get("details")
    more: Mapping[str, Any] = details if isinstance(details, Mapping) else {}
    computed = _words(more.get("computed_from"))
    return Flag(
        site=str(row["site"]), record_id=str(row["record_id"]), form=str(row["form"]),
        instance=None if instance in (None, "") else int(instance),
        field="" if row["field"] == _WHOLE_INSTANCE else str(row["field"]),
        rule_id=str(row["rule_id"]), severity=row["severity"],
        status=cast(FlagStatus, status or row["status"]),  # the store keeps only these
        first_seen=_day(row.get("first_seen")), last_seen=_day(row.get("last_seen")),
        message=str(row.get("message") or ""), link=str(row.get("link") or ""),
        event=str(row.get("event") or ""), label=str(more.get("label") or ""),
        suggestion=str(more.get("suggestion") or ""), value=str(more.get("value") or ""),
        computed_from=tuple(c for c in computed if c != "=") or (("",) if computed else ()),
        involves=_words(more.get("involves")), query=str(more.get("drw_query") or ""),
    )


def _resolution(store: Any, site: str, run: Any, days: int) -> Resolution:
    """Fixes and returns of the site's flags in the `days` days up to this run."""
    until = run.started_at
    history = store.flag_history(site, until - timedelta(days=days), until)
    waits = sorted((r["run_started_at"] - r["first_seen"]).total_seconds() / 86400
                   for r in history if r["status"] == "resolved")
    median = None
    if waits:
        mid = len(waits) // 2
        median = waits[mid] if len(waits) % 2 else (waits[mid - 1] + waits[mid]) / 2
    return Resolution(days=days, resolved=len(waits), median_days=median,
                      reopened=sum(r["status"] == "reopened" for r in history))


def _key(row: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple("" if row.get(k) is None else str(row.get(k)) for k in _KEY)


def _run(store: Any, run_id: str) -> Any:
    try:
        return store.run(run_id)
    except RegistryError as exc:
        raise RegistryError(f"no run {run_id} in the store: list runs with `registry status`"
                            ) from exc


#: What a report says of a failed pull: never the error itself, which may carry
#: REDCap's raw text (an echoed token, a server path); that is for the log and status.
PULL_FAILED = ("Tonight's pull from REDCap failed; the reason is in the log and in "
               "the output of registry status.")


def _stale_note(run: Any, site: str) -> str | None:
    used = run.snapshots.get(site)
    if used is None or used.fresh:
        return None
    for stage in run.stages:
        if stage.stage == "pull" and stage.site == site and stage.status != "succeeded":
            return PULL_FAILED
    return "This run did not pull the site again."


def _site_stale_note(run: Any, site: str) -> str | None:
    """Why a coordinator sees an older snapshot, in their words: once, without REDCap's
    error text or settings advice (those are the administrator's, in the run record)."""
    used = run.snapshots.get(site)
    if used is None or used.fresh:
        return None
    if any(stage.stage == "pull" and stage.site == site and stage.status != "succeeded"
           for stage in run.stages):
        return ("Tonight's pull from REDCap did not succeed; the registry's administrator "
                "has the details.")
    return "This run did not pull the site again."


def _earlier_runs(store: Any, run: Any, site: str | None, limit: int | None) -> list[Any]:
    """Runs that started before `run` (and used `site`, if given), newest first."""
    out = []
    for other in store.runs(limit=None):
        if other.id == run.id or (other.started_at, other.id) > (run.started_at, run.id):
            continue
        if other.status not in FINISHED_STATUSES:  # its outputs never appeared
            continue
        if site is not None and site not in other.snapshots:
            continue
        out.append(other)
        if limit is not None and len(out) >= limit:
            break
    return out


def _night_count(rows: list[Mapping[str, Any]], night: date) -> NightCount:
    open_rows = [r for r in rows if r["status"] in OPEN_STATUSES]
    blocking = sum(1 for r in open_rows if r["severity"] == "blocking")
    return NightCount(night, blocking, len(open_rows) - blocking)


def site_report_from_store(store: Any, run_id: str, site: str, *,
                           site_label: str | None = None, nights: int = 30,
                           study_title: str | None = None,
                           resolution_days: int = 90) -> SiteReport:
    """The coordinator report of `site` for run `run_id`, from the store alone.

    Fixed flags are the run's `resolved` flags; when the quality stage kept none, they
    are the previous set's open flags that no longer appear.
    """
    run = _run(store, run_id)
    used = run.snapshots.get(site)
    if used is None:
        raise RegistryError(f"run {run_id} has no snapshot of site '{site}': it was never "
                            "pulled; run `registry pull` for it first")
    snap = store.snapshot(used.snapshot_id)
    rows = [r for r in store.flags(run_id=run_id, site=site) if r["site"] == site]
    previous = [r for r in store.previous_flags(site, before_run_id=run_id) if r["site"] == site]
    flags = [_flag(r) for r in rows]
    if not any(f.status == "resolved" for f in flags) and previous:
        now = {_key(r) for r in rows}
        flags += [_flag(r, "resolved") for r in previous
                  if r["status"] in OPEN_STATUSES and _key(r) not in now]

    earlier = _earlier_runs(store, run, site, nights - 1)
    counts = store.open_flag_counts(site, [other.id for other in earlier])
    by_night: dict[date, NightCount] = {}
    for other in reversed(earlier):  # oldest first: a later run of the same night wins
        night = _naive_utc(other.started_at).date()
        by_night[night] = NightCount(night, *counts[other.id])
    tonight = _naive_utc(run.started_at).date()
    by_night[tonight] = _night_count(rows, tonight)
    prev_run = earlier[0] if earlier else None
    extra: dict[str, Any] = snapshot_shape(store, snap)
    if study_title:
        extra["study_title"] = study_title
    return SiteReport(
        site=site, site_label=site_label or site, run_id=run_id,
        snapshot_id=str(snap.id), snapshot_time=_naive_utc(snap.created_at),
        n_records=int(snap.n_records), flags=tuple(flags),
        history=tuple(by_night[d] for d in sorted(by_night)),
        previous_run_id=prev_run.id if prev_run else None,
        previous_time=_naive_utc(prev_run.started_at) if prev_run else None,
        stale_note=_site_stale_note(run, site), run_time=_naive_utc(run.started_at),
        resolution=_resolution(store, site, run, resolution_days), **extra,
    )


def snapshot_shape(store: Any, snap: Any) -> dict[str, Any]:
    """Form order and labels, event labels and the project's title (`study_title`), from
    what the pull kept with the snapshot."""
    metadata = store.snapshot_metadata(snap.id) or []
    forms = tuple(dict.fromkeys(str(m["form_name"]) for m in metadata))
    details = snap.details if isinstance(snap.details, Mapping) else {}
    form_labels = {str(i.get("instrument_name")): str(i.get("instrument_label"))
                   for i in details.get("instruments") or () if isinstance(i, Mapping)
                   and i.get("instrument_label")}
    event_labels = {str(e.get("unique_event_name")): str(e.get("event_name") or "")
                    for e in details.get("events") or () if isinstance(e, Mapping)}
    field_labels = {str(m["field_name"]): str(m.get("field_label") or "").strip()
                    for m in metadata if str(m.get("field_label") or "").strip()}
    field_forms = {str(m["field_name"]): str(m["form_name"]) for m in metadata}
    repeating = frozenset(str(r.get("form_name")) for r in details.get("repeating_forms") or ()
                          if isinstance(r, Mapping))
    info = snap.project_info if isinstance(snap.project_info, Mapping) else {}
    title = {"study_title": str(info["project_title"])} if info.get("project_title") else {}
    return {"form_order": forms, "form_labels": form_labels, "event_labels": event_labels,
            "field_labels": field_labels, "field_forms": field_forms,
            "repeating_forms": repeating, **title}


def _quality(store: Any, run: Any, labels: Mapping[str, str]) -> tuple[SiteQuality, ...]:
    results = store.rule_results(run_id=run.id)
    out = []
    for site, used in sorted(run.snapshots.items()):
        snap = store.snapshot(used.snapshot_id)
        flags = [r for r in store.flags(run_id=run.id, site=site)
                 if r["status"] in OPEN_STATUSES]
        blocking = [r for r in flags if r["severity"] == "blocking"]
        rules = tuple(
            RuleResult(rule_id=str(r["rule_id"]), checked=int(r["checked"] or 0),
                       failed=int(r["failed"] or 0), percent=float(r["percent"] or 0.0),
                       status=str(r["status"]), severity=str(r.get("severity") or ""))
            for r in results if r["site"] == site)
        out.append(SiteQuality(site=site, label=labels.get(site, site),
                               records=int(snap.n_records), open_blocking=len(blocking),
                               open_warning=len(flags) - len(blocking),
                               patients_excluded=len({r["record_id"] for r in blocking}),
                               rules=rules))
    return tuple(out)


def _previous_study(store: Any, run: Any, study: str) -> PreviousStudy | None:
    for other in _earlier_runs(store, run, None, None):
        payload = store.result(other.id, study, STUDY_KIND)
        if payload is None:
            continue
        extra = store.result(other.id, study, REPORT_KIND) or {}
        registry = (extra.get("flow") or {}).get("registry")
        return PreviousStudy(run_id=other.id, generated_at=_naive_utc(other.started_at),
                             result=payload,
                             registry_patients=None if registry is None else int(registry))
    return None


def study_report_from_store(store: Any, run_id: str, study: str, *,
                            site_labels: Mapping[str, str] | None = None) -> StudyReport:
    """The PIs' report of `study` for run `run_id`, from the store alone."""
    run = _run(store, run_id)
    result = store.result(run_id, study, STUDY_KIND)
    extra = store.result(run_id, study, REPORT_KIND)
    if result is None or extra is None:
        raise RegistryError(f"run {run_id} has no saved results for study '{study}': run "
                            "`registry analyse` (or the nightly run) first")
    labels = dict(site_labels or {})
    names = extra.get("labels") or {}
    analyses = tuple(AnalysisRow.from_json(e, index=i, label=names.get(e["name"]))
                     for i, e in enumerate(result.get("analyses") or []))
    sites = []
    for site, used in sorted(run.snapshots.items()):
        snap = store.snapshot(used.snapshot_id)
        sites.append(SiteSnapshot(site=site, label=labels.get(site, site),
                                  snapshot_id=str(snap.id),
                                  taken_at=_naive_utc(snap.created_at), current=used.fresh,
                                  note=None if used.fresh else _stale_note(run, site)))
    for stage in run.stages:  # a site whose first pull failed: no data from it at all
        if stage.stage == "pull" and stage.site and stage.site not in run.snapshots \
                and stage.status == "failed":
            sites.append(SiteSnapshot(site=stage.site, label=labels.get(stage.site, stage.site),
                                      snapshot_id="none", taken_at=None, current=False,
                                      note=PULL_FAILED))
    m = dict(extra["methods"])
    methods = MethodsInputs(
        **{**m, "matching": tuple(m.get("matching") or ()),
           "subgroups": tuple(m.get("subgroups") or ()),
           "sensitivity": tuple(m.get("sensitivity") or ()),
           "versions": dict(m.get("versions") or {})})
    inf = extra.get("infections")
    spread = extra.get("seed_spread")
    return StudyReport(
        study=study, title=str(extra.get("title") or study), run_id=run_id,
        generated_at=_naive_utc(run.started_at), snapshot=str(result.get("snapshot")),
        sites=tuple(sites), result=result, flow=CohortFlow(**extra["flow"]),
        analyses=analyses, ci_method=str(extra.get("ci_method") or ""), methods=methods,
        balance=tuple(BalanceRow(**b) for b in extra.get("balance") or ()),
        km=tuple(KMCurve(arm=k["arm"], times=tuple(k["times"]),
                         survival=tuple(k["survival"]),
                         at_risk=tuple((float(t), int(n)) for t, n in k["at_risk"]),
                         ci_low=tuple(k.get("ci_low") or ()),
                         ci_high=tuple(k.get("ci_high") or ()))
                 for k in extra.get("km") or ()),
        seed_spread=SeedSpread(**spread) if spread else None,
        infections=None if not inf else Table(
            columns=tuple(inf["columns"]), rows=tuple(tuple(r) for r in inf["rows"]),
            numeric=tuple(inf.get("numeric") or ()), note=str(inf.get("note") or "")),
        quality=_quality(store, run, labels), previous=_previous_study(store, run, study),
        exposed_label=str(extra.get("exposed_label") or "Exposed"),
        control_label=str(extra.get("control_label") or "Matched controls"),
        clean_vs_all=extra.get("clean_vs_all"),
        interaction=tuple(extra.get("interaction") or ()),
        km_table=tuple(extra.get("km_table") or ()), ph_test=extra.get("ph_test"),
        notes=tuple(extra.get("notes") or ()),
    )
