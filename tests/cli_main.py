"""`registry ARGS` in-process, as `python -m registry` runs it (`registry.cli.main`).

For tests whose claim is a command's exit code and what it printed, not a new
interpreter: stdout and stderr come from pytest's `capsys` (cleared first), and the log
handlers the command set up are dropped afterwards (none is left writing to a closed
capture or to the folder's log).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from registry.cli import main
from registry.log import configure_logging


class CliRun(NamedTuple):
    """A command's exit code and output (unpacks as `code, out, err`)."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(capsys: Any, *args: str) -> CliRun:
    """Run `registry *args` in this process."""
    capsys.readouterr()
    try:
        with pytest.raises(SystemExit) as done:
            main(list(args))
    finally:
        configure_logging(None, console=False)
    out, err = capsys.readouterr()
    return CliRun(int(done.value.code or 0), out, err)
