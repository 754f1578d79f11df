"""A writer's session: the run lock held, the store open, stale runs abandoned first.

Every command that writes starts here: one writer at a time (`registry.lock`; a second
one exits at once, "already running"), and runs that a killed process left `running`
are marked `abandoned`, their partial output folders removed, before anything reads
"the previous run". Only finished runs are ever previous.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from registry.lock import run_lock
from registry.log import event, get_logger
from registry.settings import Settings
from registry.store import Store

_log = get_logger("run")


def abandon_stale_runs(settings: Settings, store: Store) -> list[str]:
    """Mark runs left `running` as `abandoned` and sweep their partial output folders.

    Only safe while holding the run lock: then no run is really under way.
    """
    stale = store.abandon_running_runs()
    if not stale:  # the usual case: `registry.outputs` loads the reports (~3 s of imports
        return stale  # on a 2-core machine), which `registry pull` never needs
    from registry.outputs import remove_partial_outputs

    for run_id in stale:
        event(_log, "run.abandoned", logging.WARNING, run=run_id)
        for folder in remove_partial_outputs(settings, run_id):
            event(_log, "run.partial_removed", logging.WARNING, run=run_id, folder=folder)
    return stale


@contextmanager
def run_session(settings: Settings) -> Iterator[Store]:
    """Hold the run lock and the store, stale runs abandoned first (every writer's start)."""
    with run_lock(settings.lock_file), Store.open(settings.store.url) as store:
        abandon_stale_runs(settings, store)
        yield store
