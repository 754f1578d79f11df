"""The rich console the commands print tables with.

In a terminal it takes the terminal's width; piped into a file or a mail (cron), it
is as wide as `COLUMNS` says, or wide enough (160) that no cell is cut to "…".
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

__all__ = ["make_console"]

_PIPED_WIDTH = 160


def make_console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    columns = os.environ.get("COLUMNS", "")
    return Console(stderr=stderr, width=int(columns) if columns.isdigit() else _PIPED_WIDTH)
