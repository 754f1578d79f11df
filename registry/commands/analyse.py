"""`registry analyse`: the studies as a run of their own; one line per study."""

from __future__ import annotations

import sys
from pathlib import Path

from registry.commands import start
from registry.run import run_analyse

__all__ = ["analyse_command"]


def analyse_command(settings_path: Path, *, verbose: bool = False) -> int:
    """Run the studies on each site's latest snapshot, print each outcome and the folder."""
    result = run_analyse(start(settings_path, verbose=verbose))
    if not result.validated:
        print("note: no validation yet, so no record is left out for blocking flags "
              "(run `registry validate` first)", file=sys.stderr)
    for o in result.outcomes:
        print(o.line(), file=sys.stderr if not o.ok else sys.stdout)
    print(f"run {result.run_id}: outputs in {result.out_dir}")
    return result.exit_code
