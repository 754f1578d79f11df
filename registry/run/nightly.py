"""The nightly flow: pull -> validate -> DRW sync -> analyse -> report (-> send), one run.

Each stage is timed and recorded on the run (`Run.stage`), the pull and the DRW sync
per site too. A site that fails to pull keeps its last good snapshot; the sync and the
sending never fail the run, only their own stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import RegistryError
from registry.run.inputs import frame_cache, run_frames
from registry.run.record import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, Run, recorded_run, utc_now
from registry.run.session import run_session
from registry.settings import Settings

if TYPE_CHECKING:  # the stages import pandas; the lock is taken before they load
    from registry.pulling import SiteOutcome


@dataclass
class NightlyResult:
    """What a nightly run did: its id, outcome, output folder and one line per event."""

    run_id: str
    exit_code: int
    status: str
    out_dir: Path | None
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _pull_stage(settings: Settings, run: Run, result: NightlyResult, *, full: bool,
                show_progress: bool | None, clock: Callable[[], datetime] | None
                ) -> dict[str, int]:
    """Pull every site; return the snapshot each site will use in this run."""
    from registry.pulling import pull_all

    store = run.store
    kwargs: dict[str, Any] = {"full": full, "show_progress": show_progress}
    if clock is not None:
        kwargs["clock"] = clock
    used: dict[str, int] = {}
    with run.stage("pull") as counts:
        site_started = [utc_now()]

        def record(o: SiteOutcome) -> None:
            """Record one site's pull as soon as it ends: its own timing and outcome."""
            ended = utc_now()
            store.stage(run.id, "pull", o.site, "succeeded" if o.ok else "failed",
                        started=site_started[0], ended=ended,
                        counts={"kind": o.kind, "records": o.n_records, "added": o.n_added,
                                "changed": o.n_changed, "deleted": o.n_deleted,
                                "dictionary_changes": o.dictionary_changes} if o.ok else None,
                        message=o.line() if o.ok else o.error)
            site_started[0] = ended

        outcomes = pull_all(settings, store, on_outcome=record, **kwargs)
        for o in outcomes:
            if o.ok and o.snapshot_id is not None:
                used[o.site] = o.snapshot_id
                store.use_snapshot(run.id, o.site, o.snapshot_id, fresh=True)
                result.lines.append(o.line())
                continue
            result.failures.append(o.error or f"{o.site}: pull failed")
            last = store.latest_snapshot(o.site)
            if last is not None:
                used[o.site] = last.id
                store.use_snapshot(run.id, o.site, last.id, fresh=False)
                when = last.created_at.strftime("%Y-%m-%d %H:%M UTC")
                result.lines.append(f"{o.site}: pull FAILED; using its last good snapshot "
                                    f"{last.id} of {when}")
            else:
                result.lines.append(f"{o.site}: pull FAILED and no earlier snapshot; "
                                    "left out of this run")
        counts.update(sites=len(outcomes), failed=sum(not o.ok for o in outcomes))
        if any(not o.ok for o in outcomes):
            counts["_status"] = "partial" if used else "failed"
    if not used:
        raise RegistryError("no site could be pulled and none has an earlier snapshot: "
                            + "; ".join(result.failures))
    return used


def _drw_stage(settings: Settings, run: Run, result: NightlyResult,
               used: Mapping[str, int]) -> None:
    """The DRW sync of the sites that opted in; a site's failure is recorded on its
    stage row and in the night's lines, never failing the run (`registry.drw.stage`)."""
    from registry.drw.stage import sync_sites

    with run.stage("drw") as counts:
        outcomes = sync_sites(settings, run.store, run.id, used)
        for o in outcomes:
            counts[o.site] = {**o.counts, "ok": o.ok}
            result.lines.append(o.line())
        if any(not o.ok for o in outcomes):
            counts["_status"] = "partial"


def _send_stage(settings: Settings, run: Run, result: NightlyResult) -> None:
    """E-mail the night's reports; a failure to send is recorded, never fails the run."""
    from registry.delivery.deliver import deliver_run

    with run.stage("send") as counts:
        sent = deliver_run(settings, run.store, run.id)
        counts.update(sent.counts())
        if sent.failed:
            counts["_status"] = "partial" if sent.sent else "failed"
        result.lines.extend(sent.lines)


def run_nightly(settings: Settings, *, full: bool = False, show_progress: bool | None = None,
                seed_repeats: int | None = None,
                clock: Callable[[], datetime] | None = None,
                on_stage: Callable[[str], None] | None = None) -> NightlyResult:
    """pull -> validate -> DRW sync -> analyse -> report, as one run, holding the lock.

    The DRW sync runs only for sites with `drw_sync = true`; it may mark flags
    `accepted`, which the analyses' gate then lets through.

    A site that fails to pull is marked failed for this run, the others go on, and the
    analyses and reports use that site's last good snapshot (and say so). Every stage
    writes through a transaction or an atomic rename, so a run killed at any point
    leaves the store and the last good outputs intact.
    """
    with run_session(settings) as store:
        # imported once the lock is held, so a second run is refused without loading pandas
        from registry.analysing import analyse_run
        from registry.outputs import write_run_outputs
        from registry.quality.stage import validate_snapshots

        with recorded_run(store, "nightly", on_stage=on_stage) as run:
            result = NightlyResult(run_id=run.id, exit_code=EXIT_FAILED, status="failed",
                                   out_dir=None)
            used = _pull_stage(settings, run, result, full=full,
                               show_progress=show_progress, clock=clock)
            with run.stage("validate") as counts:
                # read and tidied once for the night: the studies use the same snapshots
                frames, metadata = run_frames(store, used, settings.profile, frame_cache(settings))
                counts.update(validate_snapshots(settings, store, run.id, used, frames,
                                                 metadata))
                per_site = [c for c in counts.values() if isinstance(c, dict)]
                opened = sum(c["new"] + c["open"] + c["reopened"] for c in per_site)
                result.lines.append(
                    f"validate: {opened} open flag(s) over {len(used)} site(s), "
                    f"{sum(c['new'] for c in per_site)} new, "
                    f"{sum(c['resolved'] for c in per_site)} resolved since the last run")
            if any(s.drw_sync for s in settings.sites):
                _drw_stage(settings, run, result, used)
            with run.stage("analyse") as counts:
                for o in analyse_run(settings, store, run.id, frames, metadata,
                                     seed_repeats=seed_repeats):
                    counts[o.study] = {"ok": o.ok, "exposed": o.n_exposed,
                                       "controls": o.n_controls, "hr": o.hr}
                    result.lines.append(o.line())
                    if not o.ok:
                        result.failures.append(o.line())
                        counts["_status"] = "partial"
            # the reports read the store, not the frames: free them (at 1000x the tidy
            # frames are the largest objects of the night) before the PDFs are built
            del frames, metadata
            with run.stage("report") as counts:
                result.out_dir = write_run_outputs(settings, store, run.id)
                counts["files"] = sorted(p.name for p in result.out_dir.iterdir())
            if settings.delivery is not None:
                _send_stage(settings, run, result)
            partial = bool(result.failures)
            result.status = "partial" if partial else "succeeded"
            result.exit_code = EXIT_PARTIAL if partial else EXIT_OK
            run.finish(result.status, result.exit_code, "; ".join(result.failures) or None)
        return result
