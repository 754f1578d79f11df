"""`registry nightly`: pull -> validate -> analyse -> report, as one run with an id.

Built to run unattended:

- one run at a time (`registry.lock`: a second run exits at once, "already running");
- every stage writes through a transaction or an atomic rename, so a run killed at
  any point leaves the store and the last good outputs intact; a run left `running`
  by a killed process is marked `abandoned` by the next one and never counts as the
  "previous" run for flags or reports;
- a site that fails to pull is marked failed for this run, the others go on, and the
  analyses and reports use that site's last good snapshot (and say so);
- a run record in the store: start, end, per-stage timing and outcome per site;
- exit codes: 0 all good, 1 partial (a site or a study failed), 2 bad settings,
  3 run failed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.errors import RegistryError
from registry.lock import run_lock
from registry.log import configure_logging, event, get_logger
from registry.settings import Settings, load_settings
from registry.store import Store

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_PARTIAL", "NightlyResult", "nightly_command",
           "run_nightly"]

EXIT_OK, EXIT_PARTIAL, EXIT_SETTINGS, EXIT_FAILED = 0, 1, 2, 3

_log = get_logger("nightly")


@dataclass
class NightlyResult:
    """What a nightly run did: its id, outcome, output folder and one line per event."""

    run_id: str
    exit_code: int
    status: str
    out_dir: Path | None
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: told each stage's name as it starts (the CLI shows it in a terminal)
    on_stage: Callable[[str], None] | None = field(default=None, repr=False, compare=False)


def _now() -> datetime:
    return datetime.now(UTC)


def _describe(exc: BaseException) -> str:
    """One line for an unexpected exception (its traceback goes to the log)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failure(exc: BaseException) -> str:
    """What a failed stage or run records: the expected failure's message, else a summary."""
    return exc.message if isinstance(exc, RegistryError) else _describe(exc)


@contextmanager
def stage_run(store: Store, kind: str, snapshots: Mapping[str, int]) -> Iterator[str]:
    """A run of its own for one stage (`registry validate`, `registry analyse`).

    Records the snapshot each site uses and yields the run id; an exception marks the
    run failed (with its exit code) before it propagates. The caller finishes a
    successful run, since only it knows whether the outcome was partial.
    """
    run_id = store.start_run(kind)
    try:
        for site, snapshot_id in snapshots.items():
            store.use_snapshot(run_id, site, snapshot_id, fresh=False)
        yield run_id
    except BaseException as exc:
        store.finish_run(run_id, "failed", getattr(exc, "exit_code", EXIT_FAILED), _failure(exc))
        raise


@contextmanager
def _stage(store: Store, run_id: str, name: str, result: NightlyResult) -> Iterator[dict[str, Any]]:
    """Time a stage and record it; any exception fails the stage (and then the run)."""
    started = _now()
    counts: dict[str, Any] = {}
    event(_log, f"{name}.start", run=run_id)
    if result.on_stage is not None:
        result.on_stage(name)
    try:
        yield counts
    except BaseException as exc:  # a bug or an interrupt fails the stage on record too
        message = _failure(exc)
        store.stage(run_id, name, None, "failed", started=started, ended=_now(),
                    counts=counts or None, message=message)
        event(_log, f"{name}.failed", logging.ERROR, run=run_id, error=message)
        raise
    status = counts.pop("_status", "succeeded")
    store.stage(run_id, name, None, status, started=started, ended=_now(),
                counts=counts or None)
    event(_log, f"{name}.done", run=run_id, status=status,
          seconds=round((_now() - started).total_seconds(), 2))


def _pull(settings: Settings, store: Store, run_id: str, result: NightlyResult, *,
          full: bool, show_progress: bool | None, clock: Callable[[], datetime] | None
          ) -> dict[str, int]:
    """Pull every site; return the snapshot each site will use in this run."""
    from registry.pulling import pull_all

    kwargs: dict[str, Any] = {"full": full, "show_progress": show_progress}
    if clock is not None:
        kwargs["clock"] = clock
    used: dict[str, int] = {}
    with _stage(store, run_id, "pull", result) as counts:
        site_started = [_now()]

        def record(o: Any) -> None:
            """Record one site's pull as soon as it ends: its own timing and outcome."""
            ended = _now()
            store.stage(run_id, "pull", o.site, "succeeded" if o.ok else "failed",
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
                store.use_snapshot(run_id, o.site, o.snapshot_id, fresh=True)
                result.lines.append(o.line())
                continue
            result.failures.append(o.error or f"{o.site}: pull failed")
            last = store.latest_snapshot(o.site)
            if last is not None:
                used[o.site] = last.id
                store.use_snapshot(run_id, o.site, last.id, fresh=False)
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


def run_nightly(settings: Settings, *, full: bool = False, show_progress: bool | None = None,
                seed_repeats: int | None = None,
                clock: Callable[[], datetime] | None = None,
                on_stage: Callable[[str], None] | None = None) -> NightlyResult:
    """Run the whole night once, holding the run lock; see the module docstring."""
    with run_lock(settings.lock_file), Store.open(settings.store.url) as store:
        # imported once the lock is held, so a second run is refused without loading pandas
        from registry.analysing import analyse_run, run_frames
        from registry.outputs import remove_partial_outputs, write_run_outputs
        from registry.quality.stage import validate_snapshots

        for stale in store.abandon_running_runs():
            event(_log, "run.abandoned", logging.WARNING, run=stale)
            for folder in remove_partial_outputs(settings, stale):
                event(_log, "run.partial_removed", logging.WARNING, run=stale, folder=folder)
        run_id = store.start_run("nightly")
        result = NightlyResult(run_id=run_id, exit_code=EXIT_FAILED, status="failed",
                               out_dir=None, on_stage=on_stage)
        event(_log, "run.start", run=run_id, sites=len(settings.sites))
        try:
            used = _pull(settings, store, run_id, result, full=full,
                         show_progress=show_progress, clock=clock)
            with _stage(store, run_id, "validate", result) as counts:
                # read and tidied once for the night: the studies use the same snapshots
                tidied = run_frames(store, used, settings.profile)
                counts.update(validate_snapshots(settings, store, run_id, used, tidied=tidied))
                per_site = [c for c in counts.values() if isinstance(c, dict)]
                opened = sum(c["new"] + c["open"] + c["reopened"] for c in per_site)
                result.lines.append(
                    f"validate: {opened} open flag(s) over {len(used)} site(s), "
                    f"{sum(c['new'] for c in per_site)} new, "
                    f"{sum(c['resolved'] for c in per_site)} resolved since the last run")
            with _stage(store, run_id, "analyse", result) as counts:
                for o in analyse_run(settings, store, run_id, seed_repeats=seed_repeats,
                                     tidied=tidied):
                    counts[o.study] = {"ok": o.ok, "exposed": o.n_exposed,
                                       "controls": o.n_controls, "hr": o.hr}
                    result.lines.append(o.line())
                    if not o.ok:
                        result.failures.append(o.line())
                        counts["_status"] = "partial"
            with _stage(store, run_id, "report", result) as counts:
                result.out_dir = write_run_outputs(settings, store, run_id)
                counts["files"] = sorted(p.name for p in result.out_dir.iterdir())
        except RegistryError as exc:
            store.finish_run(run_id, "failed", exc.exit_code, exc.message)
            event(_log, "run.failed", logging.ERROR, run=run_id, error=exc.message)
            raise
        except BaseException as exc:
            store.finish_run(run_id, "failed", EXIT_FAILED, _describe(exc))
            event(_log, "run.failed", logging.ERROR, run=run_id, error=_describe(exc))
            raise
        partial = bool(result.failures)
        result.status = "partial" if partial else "succeeded"
        result.exit_code = EXIT_PARTIAL if partial else EXIT_OK
        store.finish_run(run_id, result.status, result.exit_code,
                         "; ".join(result.failures) or None)
        event(_log, "run.done", run=run_id, status=result.status, exit=result.exit_code)
        return result


_STAGE_WORDS = {"pull": "pulling from REDCap", "validate": "checking the data",
                "analyse": "running the studies", "report": "writing the reports"}


@contextmanager
def _stage_display(tty: bool) -> Iterator[Callable[[str], None] | None]:
    """In a terminal, a spinner naming the stage under way; elsewhere nothing (logs say it)."""
    if not tty:
        yield None
        return
    from rich.console import Console

    with Console(stderr=True).status("starting the nightly run") as status:
        yield lambda name: status.update(_STAGE_WORDS.get(name, name) + " ...")


def nightly_command(settings_path: Path, *, full: bool = False) -> int:
    """`registry nightly`: run, print what happened and where the outputs are."""
    settings = load_settings(settings_path)
    tty = sys.stderr.isatty()
    configure_logging(settings.log_file, level=logging.WARNING if tty else logging.INFO)
    try:
        with _stage_display(tty) as on_stage:
            result = run_nightly(settings, full=full, show_progress=tty, on_stage=on_stage)
    except RegistryError:
        raise  # one line and its exit code, from the CLI
    except Exception as exc:  # a bug: keep its traceback in the log, exit 3 (not Python's 1)
        _log.exception('event=run.crashed error="%s"', _describe(exc).replace('"', "'"))
        print(f"registry nightly: the run failed on an unexpected error ({_describe(exc)}); "
              "its traceback is in the log", file=sys.stderr)
        return EXIT_FAILED
    for line in result.lines:
        print(line)
    print(f"run {result.run_id}: {result.status}; outputs in {result.out_dir}")
    for failure in result.failures:
        print(f"registry nightly: {failure}", file=sys.stderr)
    return result.exit_code
