"""`registry nightly`: the whole night as one run; print what happened and where.

The run itself is `registry.run.run_nightly`; this shows the stage under way in a
terminal and turns an unexpected error (a bug) into one line and exit 3, its
traceback kept in the log.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from registry.commands import log_file, start
from registry.errors import RegistryError
from registry.log import get_logger
from registry.run import EXIT_FAILED, describe, run_nightly

__all__ = ["nightly_command"]

_log = get_logger("nightly")


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


def nightly_command(settings_path: Path, *, full: bool = False, verbose: bool = False) -> int:
    """`registry nightly`: run, print what happened and where the outputs are."""
    settings = start(settings_path, verbose=verbose)
    tty = sys.stderr.isatty()
    try:
        with _stage_display(tty) as on_stage:
            result = run_nightly(settings, full=full, show_progress=tty, on_stage=on_stage)
    except RegistryError:
        raise  # one line and its exit code, from the CLI
    except Exception as exc:  # a bug: keep its traceback in the log, exit 3 (not Python's 1)
        _log.exception('event=run.crashed error="%s"', describe(exc).replace('"', "'"))
        print(f"registry nightly: the run failed on an unexpected error ({describe(exc)}); "
              f"its traceback is in the log, {log_file(settings)}", file=sys.stderr)
        return EXIT_FAILED
    for line in result.lines:
        print(line)
    print(f"run {result.run_id}: {result.status}; outputs in {result.out_dir}")
    for failure in result.failures:
        print(f"registry nightly: {failure}", file=sys.stderr)
    return result.exit_code
