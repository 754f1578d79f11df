"""`registry send [--run RUN_ID] [--dry-run DIR]`: e-mail a finished run's reports.

Each site's coordinators get its site PDF and flags spreadsheet(s), each study's PIs
its PDF (`registry.delivery`). `--dry-run DIR` writes one .eml file per message into
DIR instead. Exit 0 when every message went (or nothing had changed), 1 when some
recipient's message failed: each failure is recorded and shown by `registry status`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from registry.commands import start
from registry.run import EXIT_OK, EXIT_PARTIAL, run_send

__all__ = ["send_command"]


def send_command(settings_path: Path, run_id: str | None = None, *,
                 dry_run: Path | None = None, verbose: bool = False) -> int:
    """Send (or write) the messages of run `run_id` (default: the newest finished run)."""
    report = run_send(start(settings_path, verbose=verbose), run_id, dry_run=dry_run)
    for line in report.lines:
        print(line)
    failed = sorted({f"{r.kind} {r.target} to {r.recipient}" for r in report.rows
                     if r.status == "failed"})
    for what in failed:
        print(f"registry send: not delivered: {what}", file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK
