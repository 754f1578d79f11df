"""`registry report [--run RUN_ID]`: a run's outputs, rebuilt into `<reports_dir>/<run_id>/`.

A thin front to `registry.outputs.write_run_outputs`: everything comes from the
store, so an old run's reports are rebuilt as they were.
"""

from __future__ import annotations

from pathlib import Path

from registry.settings import Settings

__all__ = ["build_reports"]


def build_reports(settings: Settings, run_id: str | None = None) -> list[Path]:
    """Write the outputs of run `run_id` (default: the newest run); return their paths."""
    from registry.outputs import write_run_outputs
    from registry.store import Store

    with Store.open(settings.store.url) as store:
        folder = write_run_outputs(settings, store, run_id)
    return sorted(folder.iterdir())
