"""`registry report [--run RUN_ID]`: a run's outputs, rebuilt into `<reports_dir>/<run_id>/`.

Everything comes from the store, so an old run's reports are rebuilt as they were.
"""

from __future__ import annotations

from pathlib import Path

from registry.commands import start
from registry.run import EXIT_OK, run_report

__all__ = ["report_command"]


def report_command(settings_path: Path, run_id: str | None = None, *,
                   verbose: bool = False) -> int:
    """Write the outputs of run `run_id` (default: the newest finished run); print them."""
    folder = run_report(start(settings_path, verbose=verbose), run_id)
    for path in sorted(folder.iterdir()):
        print(path)
    return EXIT_OK
