"""`registry analyse`: feed the studies the tidy frames of a run's snapshots, keep the results.

The registry side of the analyses: it reads the snapshots a run used (one per site,
the last good one where a site's pull failed), tidies them, works out which patients
the study's gating excludes (open flags of the severities the study names), calls the
pure `analyses.run_study`, and keeps in the store everything the outputs are made of:
`<study>.json`, `<study>-matched.csv` and the report payload. Nothing is written to
the reports folder here; `registry.outputs` does that, atomically, from the store.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.errors import AnalysisInputError, RegistryError
from registry.log import event, get_logger
from registry.quality.lifecycle import OPEN_STATUSES
from registry.settings import Settings
from registry.store import Store

__all__ = [
    "MATCHED_KIND",
    "StudyOutcome",
    "analyse_command",
    "analyse_run",
    "excluded_patients",
    "load_study",
    "run_frames",
]

MATCHED_KIND = "matched"
#: The matching is drawn with this seed, so a rerun on the same snapshots gives the same sets.
STUDY_SEED = 20250101

_log = get_logger("analyse")


@dataclass(frozen=True)
class StudyOutcome:
    """How one study's analysis ended in a run."""

    study: str
    ok: bool
    n_exposed: int = 0
    n_controls: int = 0
    hr: float | None = None
    error: str | None = None

    def line(self) -> str:
        if not self.ok:
            return f"{self.study}: FAILED: {self.error}"
        hr = "not estimable" if self.hr is None else f"{self.hr:.2f}"
        return (f"{self.study}: {self.n_exposed} exposed, {self.n_controls} matched controls, "
                f"HR {hr}")


def load_study(path: Path) -> Any:
    """Read and check a study file (`analyses/<study>.toml`)."""
    from analyses import AnalysisError, parse_study

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AnalysisInputError(f"study file {path} cannot be read: {exc.strerror}") from exc
    try:
        return parse_study(text, source=str(path))
    except AnalysisError as exc:
        raise AnalysisInputError(exc.message) from exc


def run_frames(store: Store, snapshots: Mapping[str, int],
               profile: Path | Any | None = None) -> tuple[Any, list[dict[str, str]]]:
    """The tidy frames of the given per-site snapshots, and the data dictionary used.

    The dictionary (and events, repeating setup) is the newest snapshot's (or, failing
    that, any snapshot's): in a DAG-per-site project all sites share it; with a project
    per site the sites are expected to share one dictionary. `profile` is the registry
    profile (a path or a loaded `Profile`); the frames carry the schema made of both
    (`frames.schema`). The quality stage and the studies both read their frames
    through here.
    """
    from registry.profile import load_profile
    from registry.schema import schema_from_snapshot
    from registry.tidy import tidy

    if not snapshots:
        raise AnalysisInputError("no site has a snapshot yet: run `registry pull` first")
    newest_first = sorted(snapshots.values(), reverse=True)
    found = next(((sid, m) for sid, m in zip(newest_first, map(store.snapshot_metadata,
                                                                newest_first), strict=True)
                  if m), None)
    if not found:
        raise AnalysisInputError("the snapshots hold no data dictionary; pull again")
    sid, metadata = found
    info = store.snapshot(sid)
    if isinstance(profile, str | Path):
        profile = load_profile(profile)
    schema = schema_from_snapshot(metadata, info.project_info, info.details, profile)
    rows_by_site = {site: store.snapshot_rows(sid) for site, sid in sorted(snapshots.items())}
    return tidy(rows_by_site, schema), metadata


def excluded_patients(flags: Sequence[Mapping[str, Any]], severities: Sequence[str]) -> set[str]:
    """patient_ids with an open flag of one of `severities` (the study's gating)."""
    return {
        f"{f['site']}:{f['record_id']}"
        for f in flags
        if f.get("severity") in severities and f.get("status") in OPEN_STATUSES
    }


def _labels(metadata: Sequence[Mapping[str, str]]) -> dict[str, str]:
    return {m["field_name"]: m["field_label"] for m in metadata if m.get("field_label")}


def _snapshot_text(snapshots: Mapping[str, int]) -> str:
    return ",".join(f"{site}:{sid}" for site, sid in sorted(snapshots.items()))


def analyse_command(settings_path: Path) -> int:
    """`registry analyse`: the studies on each site's latest snapshot, as a run of its own."""
    from registry.lock import run_lock
    from registry.nightly import stage_run
    from registry.outputs import write_run_outputs
    from registry.settings import load_settings

    settings = load_settings(settings_path)
    if not settings.studies:
        raise AnalysisInputError(f"{settings.path}: no [[studies]] to analyse")
    # one run at a time: a nightly starting meanwhile would mark this run abandoned
    with run_lock(settings.lock_file), Store.open(settings.store.url) as store:
        latest = {site.name: last.id for site in settings.sites
                  if (last := store.latest_snapshot(site.name)) is not None}
        if not latest:
            raise AnalysisInputError("no site has a snapshot yet: run `registry pull` first")
        with stage_run(store, "analyse", latest) as run_id:
            if not store.flags():
                print("note: no validation yet, so no record is left out for blocking flags "
                      "(run `registry validate` first)", file=sys.stderr)
            outcomes = analyse_run(settings, store, run_id)
            out_dir = write_run_outputs(settings, store, run_id)
        failed = [o for o in outcomes if not o.ok]
        store.finish_run(run_id, "partial" if failed else "succeeded", 1 if failed else 0)
    for o in outcomes:
        print(o.line(), file=sys.stderr if not o.ok else sys.stdout)
    print(f"run {run_id}: outputs in {out_dir}")
    return 1 if failed else 0


def analyse_run(settings: Settings, store: Store, run_id: str, *,
                seed_repeats: int | None = None, tidied: Any = None) -> list[StudyOutcome]:
    """Run every configured study on the snapshots run `run_id` used; keep the results.

    One study's failure (a malformed study file, data that cannot give a result) is
    recorded for that study and the others go on. `tidied` (frames, dictionary from
    `run_frames`) reuses what the night already read; `seed_repeats` overrides the
    studies' number of re-drawn matchings (the demo and tests use fewer).
    """
    from analyses import AnalysisError, run_study
    from registry.reports.payloads import REPORT_KIND, STUDY_KIND, study_payloads

    run = store.run(run_id)
    snapshots = {site: used.snapshot_id for site, used in run.snapshots.items()}
    if not settings.studies:
        return []
    frames, metadata = tidied or run_frames(store, snapshots, settings.profile)
    # the run's own flags where it validated; otherwise each site's newest flag set
    flags = store.flags(run_id) if store.flag_sites(run_id) else store.flags()
    outcomes: list[StudyOutcome] = []
    for path in settings.studies:
        name = path.stem
        try:
            spec = load_study(path)
            name = spec.name
            excluded = excluded_patients(flags, spec.exclude_severities)
            result = run_study(spec, frames, excluded, seed=STUDY_SEED,
                               seed_repeats=seed_repeats)
            payloads = study_payloads(result, spec, snapshot=_snapshot_text(snapshots),
                                      run_id=run_id, labels=_labels(metadata),
                                      exposed_label=spec.exposure.label)
            store.save_result(run_id, spec.name, STUDY_KIND, payloads["study"])
            store.save_result(run_id, spec.name, REPORT_KIND, payloads["report"])
            store.save_result(run_id, spec.name, MATCHED_KIND,
                              result.matched.to_csv(index=False, lineterminator="\n"))
        except (AnalysisError, RegistryError) as exc:
            message = exc.message
            event(_log, "analyse.failed", logging.ERROR, study=name, error=message)
            outcomes.append(StudyOutcome(study=name, ok=False, error=message))
            continue
        main = result.main.cox
        outcome = StudyOutcome(study=spec.name, ok=True, n_exposed=main.n_exposed,
                               n_controls=main.n_controls,
                               hr=None if main.hr is None or main.hr != main.hr else main.hr)
        event(_log, "analyse.study", study=spec.name, exposed=main.n_exposed,
              controls=main.n_controls, events=main.events, hr=outcome.hr,
              excluded=len(excluded))
        outcomes.append(outcome)
    return outcomes
