"""`registry pull`: pull, print one line per site."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from registry.commands import start
from registry.run import EXIT_OK, EXIT_PARTIAL, run_pull

__all__ = ["pull_command"]


def pull_command(settings_path: Path, *, sites: Sequence[str] | None = None,
                 full: bool = False, verbose: bool = False) -> int:
    """Pull, print one line per site, return the exit code.

    0: every site pulled; 1: some site failed (one line each on stderr). Bad settings
    or an unknown site raise `SettingsError` (exit 2) before anything is pulled.
    """
    settings = start(settings_path, verbose=verbose)
    outcomes = run_pull(settings, sites=sites, full=full, show_progress=sys.stderr.isatty())
    for outcome in outcomes:
        if outcome.ok:
            print(outcome.line())
        else:
            print(f"registry pull: {outcome.error}", file=sys.stderr)
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_PARTIAL
