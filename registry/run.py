"""A run of the registry, in one place: lock, run record, stages, snapshots into frames.

Every command that writes (`pull`, `validate`, `analyse`, `report`, `nightly`, the
demo) goes through here:

- `run_session` holds the run lock (`registry.lock`: one writer at a time; a second
  one exits at once, "already running") and marks runs that a killed process left
  `running` as `abandoned`, removing their partial output folders, before anything
  reads "the previous run". Only finished runs are ever previous.
- `Run` is the run record: started, each stage timed and recorded (`Run.stage`),
  finished with its status and exit code. A failure is recorded as the run's end;
  when even that cannot be written (the store went away), the real error is logged
  and the next run marks the run abandoned.
- `run_frames` reads a run's snapshots (one per site) into the tidy frames, once,
  for the quality stage and the studies.
- The flows: `run_pull`, `run_validate`, `run_analyse`, `run_report`, `run_nightly`,
  `run_send` (the nightly sends too, as its last stage, when `[delivery]` is set).

The stage modules (`pulling`, `quality.stage`, `analysing`, `outputs`) only do their
stage and never import this module; `registry.commands` prints what the flows return.
Exit codes: 0 all good, 1 partial (a site or a study failed), 2 bad usage or settings,
3 run failed or already running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import (
    AnalysisInputError,
    RegistryError,
    SettingsError,
    StoreError,
    UsageError,
)
from registry.lock import run_lock
from registry.log import event, get_logger, redact
from registry.settings import Settings
from registry.store import Store
from registry.store.runs import FINISHED_STATUSES

if TYPE_CHECKING:  # the stages import pandas; the lock is taken before they load
    from registry.analysing import StudyOutcome
    from registry.delivery.deliver import DeliveryReport
    from registry.profile import Profile
    from registry.pulling import SiteOutcome
    from registry.tidy import Frames

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_SETTINGS",
    "AnalyseRun",
    "NightlyResult",
    "Run",
    "ValidationRun",
    "abandon_stale_runs",
    "describe",
    "latest_run_id",
    "run_analyse",
    "run_frames",
    "run_nightly",
    "run_pull",
    "run_report",
    "run_send",
    "run_session",
    "run_validate",
]

EXIT_OK, EXIT_PARTIAL, EXIT_SETTINGS, EXIT_FAILED = 0, 1, 2, 3

_log = get_logger("run")


def _now() -> datetime:
    return datetime.now(UTC)


def describe(exc: BaseException) -> str:
    """One line for an unexpected exception (its traceback goes to the log)."""
    text = redact(str(exc).splitlines()[0]) if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failure(exc: BaseException) -> str:
    """What a failed stage or run records: the expected failure's message, else a summary."""
    return exc.message if isinstance(exc, RegistryError) else describe(exc)


def abandon_stale_runs(settings: Settings, store: Store) -> list[str]:
    """Mark runs left `running` as `abandoned` and sweep their partial output folders.

    Only safe while holding the run lock: then no run is really under way.
    """
    from registry.outputs import remove_partial_outputs

    stale = store.abandon_running_runs()
    for run_id in stale:
        event(_log, "run.abandoned", logging.WARNING, run=run_id)
        for folder in remove_partial_outputs(settings, run_id):
            event(_log, "run.partial_removed", logging.WARNING, run=run_id, folder=folder)
    return stale


@contextmanager
def run_session(settings: Settings) -> Iterator[Store]:
    """Hold the run lock and the store, stale runs abandoned first (every writer's start)."""
    with run_lock(settings.lock_file), Store.open(settings.store.url) as store:
        abandon_stale_runs(settings, store)
        yield store


@dataclass
class Run:
    """One run's record in the store: its stages as they go, then its end."""

    store: Store
    id: str
    #: told each stage's name as it starts (the CLI shows it in a terminal)
    on_stage: Callable[[str], None] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, store: Store, kind: str, snapshots: Mapping[str, int] | None = None, *,
              on_stage: Callable[[str], None] | None = None) -> Run:
        """Record a new `running` run, and the snapshot each site uses (kept, not fresh)."""
        run = cls(store, store.start_run(kind), on_stage)
        for site, snapshot_id in (snapshots or {}).items():
            store.use_snapshot(run.id, site, snapshot_id, fresh=False)
        return run

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a stage and record it; an exception fails the stage (and then the run).

        The caller fills the yielded dict with the stage's counts; `_status` in it
        sets the stage's status (default `succeeded`).
        """
        started = _now()
        counts: dict[str, Any] = {}
        event(_log, f"{name}.start", run=self.id)
        if self.on_stage is not None:
            self.on_stage(name)
        try:
            yield counts
        except BaseException as exc:  # a bug or an interrupt fails the stage on record too
            message = _failure(exc)
            event(_log, f"{name}.failed", logging.ERROR, run=self.id, error=message)
            self._record("stage", self.store.stage, self.id, name, None, "failed",
                         started=started, ended=_now(), counts=counts or None, message=message)
            raise
        status = counts.pop("_status", "succeeded")
        self.store.stage(self.id, name, None, status, started=started, ended=_now(),
                         counts=counts or None)
        event(_log, f"{name}.done", run=self.id, status=status,
              seconds=round((_now() - started).total_seconds(), 2))

    def finish(self, status: str, exit_code: int, message: str | None = None) -> None:
        self.store.finish_run(self.id, status, exit_code, message)
        event(_log, "run.done", run=self.id, status=status, exit=exit_code)

    def fail(self, exc: BaseException) -> None:
        """Record the run as failed by `exc`; log the real error first, whatever happens."""
        message = _failure(exc)
        event(_log, "run.failed", logging.ERROR, run=self.id, error=message)
        self._record("end", self.store.finish_run, self.id, "failed",
                     getattr(exc, "exit_code", EXIT_FAILED), message)

    def _record(self, what: str, write: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Write a failure's record; if the store itself is gone, say so in the log only
        (the failure being recorded is the one to report; the next run abandons this one)."""
        try:
            write(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the original failure propagates instead
            event(_log, f"run.{what}_unrecorded", logging.ERROR, run=self.id,
                  error=_failure(exc))


@contextmanager
def recorded_run(store: Store, kind: str, snapshots: Mapping[str, int] | None = None, *,
                 on_stage: Callable[[str], None] | None = None) -> Iterator[Run]:
    """A run that records its own failure: an exception marks it failed, then propagates.

    The caller finishes a successful run, since only it knows whether it was partial.
    """
    run = Run.start(store, kind, snapshots, on_stage=on_stage)
    event(_log, "run.start", run=run.id, kind=kind)
    try:
        yield run
    except BaseException as exc:
        run.fail(exc)
        raise


def run_frames(store: Store, snapshots: Mapping[str, int],
               profile: Path | Profile | None = None, cache: Path | None = None
               ) -> tuple[Frames, list[dict[str, str]]]:
    """The tidy frames of the given per-site snapshots, and the data dictionary used.

    The dictionary (with the events and repeating setup the pull kept) is the newest
    snapshot's (or, failing that, any snapshot's): in a DAG-per-site project all sites
    share it; with a project per site the sites are expected to share one dictionary.
    `profile` is the registry profile (`settings.profile`: a path, or a loaded one);
    the frames carry the schema made of both (`frames.schema`). `cache` is the folder of
    the per-snapshot frame cache (`snapshot_frames.cache_folder(settings)`; None: read
    every row from the store).
    """
    from registry.profile import load_profile
    from registry.schema import schema_from_snapshot
    from registry.snapshot_frames import FrameCache
    from registry.tidy import tidy

    if not snapshots:
        raise AnalysisInputError("no site has a snapshot yet: run `registry pull` first")
    newest_first = sorted(snapshots.values(), reverse=True)
    found = next(((sid, m) for sid in newest_first if (m := store.snapshot_metadata(sid))),
                 None)
    if not found:
        raise AnalysisInputError("the snapshots hold no data dictionary; pull again")
    newest, metadata = found
    info = store.snapshot(newest)
    if isinstance(profile, str | Path):
        profile = load_profile(profile)
    schema = schema_from_snapshot(metadata, info.project_info, info.details, profile)
    frames = FrameCache(cache)
    rows_by_site = {site: frames.frame(store, site, sid)
                    for site, sid in sorted(snapshots.items())}
    event(_log, "run.frames_read", **frames.stats)
    return tidy(rows_by_site, schema), metadata


def _frame_cache(settings: Settings) -> Path:
    from registry.snapshot_frames import cache_folder

    return cache_folder(settings)


def _latest_snapshots(store: Store, sites: Sequence[str]) -> dict[str, int]:
    return {site: last.id for site in sites if (last := store.latest_snapshot(site)) is not None}


def latest_run_id(store: Store) -> str:
    """The newest finished run that used snapshots (a killed, failed or still running
    run is never "the last run": its outputs never appeared)."""
    for run in store.runs(limit=50):
        if run.snapshots and run.status in FINISHED_STATUSES:
            return str(run.id)
    raise RegistryError(f"the store {store.url} holds no run yet: run `registry nightly` "
                        "(or `registry demo`) first")


# --- the flows, one per command that writes ------------------------------------------


def run_pull(settings: Settings, *, sites: Sequence[str] | None = None, full: bool = False,
             show_progress: bool | None = None) -> list[SiteOutcome]:
    """`registry pull`: every site (or those named) into a new snapshot each."""
    from registry.pulling import pull_all

    for name in sites or ():
        settings.site(name)  # an unknown name fails now, with the known ones
    with run_session(settings) as store:
        return pull_all(settings, store, sites=sites, full=full, show_progress=show_progress)


@dataclass(frozen=True)
class ValidationRun:
    """What `registry validate` did: the run, per-site counts and the files written."""

    run_id: str
    counts: dict[str, dict[str, int]]
    files: list[Path]
    rule_errors: int


def run_validate(settings: Settings, sites: Sequence[str] | None = None) -> ValidationRun:
    """`registry validate`: each site's latest snapshot, as a run of its own.

    The run's folder gets `flags-<site>.csv` and `.xlsx` for every site checked; `registry report
    --run <id>` adds the coordinators' PDFs.
    """
    from registry.outputs import write_run_outputs
    from registry.quality.stage import validate_snapshots

    for name in sites or ():
        settings.site(name)
    chosen = [s.name for s in settings.sites if not sites or s.name in sites]
    with run_session(settings) as store:
        used = _latest_snapshots(store, chosen)
        if not used:
            raise RegistryError("no snapshot to validate in the store: run `registry pull` "
                                "first")
        with recorded_run(store, "validate", used) as run:
            frames, metadata = run_frames(store, used, settings.profile, _frame_cache(settings))
            counts = validate_snapshots(settings, store, run.id, used, frames, metadata)
            errors = counts.pop("rule_errors")
            store.stage(run.id, "validate", None, "succeeded", counts=counts)
            folder = write_run_outputs(settings, store, run.id, pdfs=False)
            run.finish("succeeded", EXIT_OK)
    return ValidationRun(run_id=run.id, counts=counts,
                         files=sorted(folder.glob("flags-*.*")), rule_errors=errors)


@dataclass(frozen=True)
class AnalyseRun:
    """What `registry analyse` did: the run, each study's outcome, the output folder."""

    run_id: str
    outcomes: list[StudyOutcome]
    out_dir: Path
    validated: bool  # False: no validation yet, so no record was left out

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if any(not o.ok for o in self.outcomes) else EXIT_OK


def run_analyse(settings: Settings) -> AnalyseRun:
    """`registry analyse`: the studies on each site's latest snapshot, as a run of its own."""
    from registry.analysing import analyse_run
    from registry.outputs import write_run_outputs

    if not settings.studies:
        raise SettingsError(f"{settings.path}: no [[studies]] to analyse")
    with run_session(settings) as store:
        latest = _latest_snapshots(store, [s.name for s in settings.sites])
        if not latest:
            raise AnalysisInputError("no site has a snapshot yet: run `registry pull` first")
        with recorded_run(store, "analyse", latest) as run:
            validated = bool(store.flags())
            frames, metadata = run_frames(store, latest, settings.profile, _frame_cache(settings))
            outcomes = analyse_run(settings, store, run.id, frames, metadata)
            out_dir = write_run_outputs(settings, store, run.id)
            result = AnalyseRun(run.id, outcomes, out_dir, validated)
            run.finish("partial" if result.exit_code else "succeeded", result.exit_code)
    return result


def _finished_run(store: Store, run_id: str | None, doing: str) -> str:
    """`run_id` (default: the newest finished run), checked to have outputs."""
    if run_id is None:
        return latest_run_id(store)
    try:
        run = store.run(run_id)
    except StoreError as exc:
        raise UsageError(exc.message) from None
    if run.status not in FINISHED_STATUSES or not run.snapshots:
        why = "used no snapshot" if run.status in FINISHED_STATUSES else f"is {run.status}"
        raise UsageError(f"run {run_id} {why}: it has no outputs to {doing} "
                         "(`registry status` lists the finished runs)")
    return run_id


def run_send(settings: Settings, run_id: str | None = None, *,
             dry_run: Path | None = None) -> DeliveryReport:
    """`registry send`: e-mail a finished run's reports (or write them as .eml files)."""
    from registry.delivery.deliver import deliver_run

    if settings.delivery is None:
        raise SettingsError(f"{settings.path}: no [delivery] table: add one (smtp_host, "
                            "sender, ...) to send the reports")
    with run_session(settings) as store:
        run_id = _finished_run(store, run_id, "send")
        if not (settings.reports_dir / run_id).is_dir():
            raise UsageError(f"the outputs of run {run_id} are not in {settings.reports_dir}: "
                             f"rebuild them with `registry report --run {run_id}`")
        return deliver_run(settings, store, run_id, dry_run=dry_run)


def run_report(settings: Settings, run_id: str | None = None) -> Path:
    """`registry report`: rebuild a finished run's output folder from the store."""
    from registry.outputs import write_run_outputs

    with run_session(settings) as store:
        return write_run_outputs(settings, store, _finished_run(store, run_id, "rebuild"))


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
        site_started = [_now()]

        def record(o: SiteOutcome) -> None:
            """Record one site's pull as soon as it ends: its own timing and outcome."""
            ended = _now()
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
                frames, metadata = run_frames(store, used, settings.profile, _frame_cache(settings))
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
