"""The flows of the commands that write, but the nightly: one function per command.

`run_pull`, `run_validate` and `run_analyse` (a run of their own on each site's latest
snapshot), `run_report` (a finished run's output folder rebuilt) and `run_send` (a
finished run's reports e-mailed). Each holds the run session (`registry.run.session`);
the nightly's flow is `registry.run.nightly`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from registry.errors import (
    AnalysisInputError,
    RegistryError,
    SettingsError,
    StoreError,
    UsageError,
)
from registry.run.inputs import frame_cache, latest_run_id, latest_snapshots, run_frames
from registry.run.record import EXIT_OK, EXIT_PARTIAL, recorded_run
from registry.run.session import run_session
from registry.settings import Settings
from registry.store import Store
from registry.store.runs import FINISHED_STATUSES

if TYPE_CHECKING:  # the stages import pandas; the lock is taken before they load
    from registry.analysing import StudyOutcome
    from registry.delivery.deliver import DeliveryReport
    from registry.pulling import SiteOutcome


def run_pull(settings: Settings, *, sites: Sequence[str] | None = None, full: bool = False,
             show_progress: bool | None = None) -> list[SiteOutcome]:
    """`registry pull`: every site (or those named) into a new snapshot each."""
    for name in sites or ():
        settings.site(name)  # an unknown name fails now, with the known ones
    with run_session(settings) as store:
        from registry.pulling import pull_all  # once the lock is held: a refusal is quick

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
    for name in sites or ():
        settings.site(name)
    chosen = [s.name for s in settings.sites if not sites or s.name in sites]
    with run_session(settings) as store:
        used = latest_snapshots(store, chosen)
        if not used:
            raise RegistryError("no snapshot to validate in the store: run `registry pull` "
                                "first")
        # imported once there is work: a refusal (lock held, no snapshot) loads no GX,
        # pandas or WeasyPrint (~2 s of a 2-core machine's CPU)
        from registry.outputs import write_run_outputs
        from registry.quality.stage import validate_snapshots

        with recorded_run(store, "validate", used) as run:
            frames, metadata = run_frames(store, used, settings.profile, frame_cache(settings))
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
    if not settings.studies:
        raise SettingsError(f"{settings.path}: no [[studies]] to analyse")
    with run_session(settings) as store:
        latest = latest_snapshots(store, [s.name for s in settings.sites])
        if not latest:
            raise AnalysisInputError("no site has a snapshot yet: run `registry pull` first")
        # imported once there is work: a refusal (lock held, no snapshot) loads no pandas
        # or WeasyPrint
        from registry.analysing import analyse_run
        from registry.outputs import write_run_outputs

        with recorded_run(store, "analyse", latest) as run:
            validated = bool(store.flags())
            frames, metadata = run_frames(store, latest, settings.profile, frame_cache(settings))
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
    with run_session(settings) as store:
        run = _finished_run(store, run_id, "rebuild")
        from registry.outputs import write_run_outputs  # a refusal loads no WeasyPrint

        return write_run_outputs(settings, store, run)
