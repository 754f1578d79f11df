"""A run of the registry, in one place: lock, run record, stages, snapshots into frames.

Every command that writes (`pull`, `validate`, `analyse`, `report`, `nightly`, the
demo) goes through here:

- `session`: `run_session` holds the run lock (`registry.lock`: one writer at a time; a
  second one exits at once, "already running") and marks runs that a killed process
  left `running` as `abandoned`, removing their partial output folders, before anything
  reads "the previous run". Only finished runs are ever previous.
- `record`: `Run` is the run record: started, each stage timed and recorded
  (`Run.stage`), finished with its status and exit code. A failure is recorded as the
  run's end; when even that cannot be written (the store went away), the real error is
  logged and the next run marks the run abandoned. The exit codes.
- `inputs`: `run_frames` reads a run's snapshots (one per site) into the tidy frames,
  once, for the quality stage and the studies; each site's latest snapshot; the last
  finished run.
- The flows: `flows` has `run_pull`, `run_validate`, `run_analyse`, `run_report`,
  `run_send`; `nightly` has `run_nightly` (which sends too, as its last stage, when
  `[delivery]` is set).

The stage modules (`pulling`, `quality.stage`, `analysing`, `outputs`) only do their
stage and never import this package; `registry.commands` prints what the flows return.
Exit codes: 0 all good, 1 partial (a site or a study failed), 2 bad usage or settings,
3 run failed or already running.
"""

from __future__ import annotations

from registry.run.flows import (
    AnalyseRun,
    ValidationRun,
    run_analyse,
    run_pull,
    run_report,
    run_send,
    run_validate,
)
from registry.run.inputs import latest_run_id, run_frames
from registry.run.nightly import NightlyResult, run_nightly
from registry.run.record import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_SETTINGS,
    Run,
    describe,
    recorded_run,
)
from registry.run.session import abandon_stale_runs, run_session

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
    "recorded_run",
    "run_analyse",
    "run_frames",
    "run_nightly",
    "run_pull",
    "run_report",
    "run_send",
    "run_session",
    "run_validate",
]
