"""What a run reads from the store: each site's latest snapshot, the last finished run,
and the snapshots as tidy frames (read once per run, for the quality stage and the studies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from registry.errors import AnalysisInputError, RegistryError
from registry.log import event, get_logger
from registry.settings import Settings
from registry.store import Store
from registry.store.runs import FINISHED_STATUSES

if TYPE_CHECKING:  # the stages import pandas; the lock is taken before they load
    from registry.profile import Profile
    from registry.tidy import Frames

_log = get_logger("run")


def run_frames(store: Store, snapshots: Mapping[str, int],
               profile: Path | Profile | None = None, cache: Path | None = None
               ) -> tuple[Frames, list[dict[str, str]]]:
    """The tidy frames of the given per-site snapshots, and the data dictionary used.

    The dictionary (with the events and repeating setup the pull kept) is the newest
    snapshot's (or, failing that, any snapshot's): in a DAG-per-site project all sites
    share it; with a project per site the sites are expected to share one dictionary.
    `profile` is the registry profile (`settings.profile`: a path, or a loaded one);
    the frames carry the schema made of both (`frames.schema`). `cache` is the folder of
    the per-snapshot frame cache (`snapshot_frames.cache_folder(settings)`; None: read
    every row from the store).
    """
    from registry.profile import load_profile
    from registry.schema import schema_from_snapshot
    from registry.snapshot_frames import FrameCache
    from registry.tidy import tidy

    if not snapshots:
        raise AnalysisInputError("no site has a snapshot yet: run `registry pull` first")
    newest_first = sorted(snapshots.values(), reverse=True)
    found = next(((sid, m) for sid in newest_first if (m := store.snapshot_metadata(sid))),
                 None)
    if not found:
        raise AnalysisInputError("the snapshots hold no data dictionary; pull again")
    newest, metadata = found
    info = store.snapshot(newest)
    if isinstance(profile, str | Path):
        profile = load_profile(profile)
    schema = schema_from_snapshot(metadata, info.project_info, info.details, profile)
    frames = FrameCache(cache)
    rows_by_site = {site: frames.frame(store, site, sid)
                    for site, sid in sorted(snapshots.items())}
    event(_log, "run.frames_read", **frames.stats)
    return tidy(rows_by_site, schema), metadata


def frame_cache(settings: Settings) -> Path:
    """The folder of the per-snapshot frame cache (`snapshot_frames.cache_folder`)."""
    from registry.snapshot_frames import cache_folder

    return cache_folder(settings)


def latest_snapshots(store: Store, sites: Sequence[str]) -> dict[str, int]:
    """Each named site's newest snapshot id (a site with none is left out)."""
    return {site: last.id for site in sites if (last := store.latest_snapshot(site)) is not None}


def latest_run_id(store: Store) -> str:
    """The newest finished run that used snapshots (a killed, failed or still running
    run is never "the last run": its outputs never appeared)."""
    for run in store.runs(limit=50):
        if run.snapshots and run.status in FINISHED_STATUSES:
            return str(run.id)
    raise RegistryError(f"the store {store.url} holds no run yet: run `registry nightly` "
                        "(or `registry demo`) first")
