"""The rich console the commands print tables with.

In a terminal it takes the terminal's width; piped into a file or a mail (cron), it
is wide enough that no cell is cut to "…".
"""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["make_console"]

_PIPED_WIDTH = 160


def make_console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else _PIPED_WIDTH)
