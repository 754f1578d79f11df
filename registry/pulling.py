"""The pull stage: every configured site into the store, one snapshot each.

`pull_site` pulls one site (via `registry.redcap`) and writes its snapshot in one store
transaction, so a failed pull leaves no snapshot and the previous one stands.
`pull_all` runs it for every site (or the ones named); one site's failure never stops
the others, and each site gets a `SiteOutcome`. In a terminal a rich progress bar shows
each site; otherwise only the structured log lines are written.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from registry.errors import RedcapBanned, RedcapDown, RegistryError
from registry.log import event, get_logger
from registry.redcap.client import RedcapClient
from registry.redcap.design import stored_design
from registry.redcap.pacing import RateLimiter
from registry.redcap.pull import PreviousPull, Progress, SitePull, fetch_site, local_now
from registry.redcap.shared import ProjectAnswers, SharedClient
from registry.settings import Settings, Site
from registry.store import Store

__all__ = ["SiteOutcome", "previous_pull", "pull_all", "pull_site"]

_log = get_logger("pull")


@dataclass(frozen=True)
class SiteOutcome:
    """How one site's pull ended: a snapshot, or an error message (never both)."""

    site: str
    ok: bool
    snapshot_id: int | None = None
    kind: str | None = None               # full | incremental
    reason: str | None = None             # why that kind
    n_records: int = 0
    n_added: int = 0
    n_changed: int = 0
    n_deleted: int = 0
    dictionary_changes: str | None = None  # one-line summary, None when unchanged
    error: str | None = None               # one line, names the site, never a token
    stats: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One line for a person: what happened to this site."""
        if not self.ok:
            return f"{self.site}: FAILED: {self.error}"
        text = (f"{self.site}: {self.kind} pull -> snapshot {self.snapshot_id}: "
                f"{self.n_records} records (+{self.n_added} ~{self.n_changed} "
                f"-{self.n_deleted}), {self.stats.get('requests', 0)} requests")
        if self.dictionary_changes:
            text += f"; data dictionary changed: {self.dictionary_changes}"
        return text


def _server_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def previous_pull(store: Store, site: str) -> PreviousPull | None:
    """What the pull needs from the site's latest snapshot (None: pull in full)."""
    info = store.latest_snapshot(site)
    if info is None:
        return None
    details = info.details or {}
    began = _server_time(details.get("began_at"))
    last_full = _server_time(details.get("last_full_at"))
    metadata = store.snapshot_metadata(info.id)
    if began is None or last_full is None or metadata is None:
        return None  # not written by a pull (an import, a test): pull in full
    ids = store.snapshot_record_ids(info.id, ordered=False)  # a set: no need to sort
    return PreviousPull(began_at=began, last_full_at=last_full, metadata=metadata,
                        record_ids=frozenset(ids),
                        snapshot_id=info.id,
                        design=stored_design(metadata, info.project_info, details))


def _write(store: Store, pulled: SitePull, previous: PreviousPull | None) -> Any:
    last_full = pulled.began_at if pulled.kind == "full" or previous is None \
        else previous.last_full_at
    details = {
        "began_at": pulled.began_at.isoformat(sep=" "),
        "last_full_at": last_full.isoformat(sep=" "),
        "reason": pulled.reason,
        "id_field": pulled.id_field,
        "redcap_version": pulled.version,
        "repeating_forms": pulled.repeating_forms,
        "dags": pulled.dags,
        **pulled.shape.to_details(),
        "source": pulled.source,
        "design": pulled.design_reused or "fetched from REDCap",
        "stats": pulled.stats,
    }
    changes = pulled.dictionary_changes
    with store.snapshot_writer(
        pulled.site, pulled.kind, metadata=pulled.metadata, project_info=pulled.project_info,
        details=details, base_snapshot_id=previous.snapshot_id if previous else None,
        dictionary_changes=changes.to_dict() if changes is not None and not changes.empty
        else None,
    ) as writer:
        writer.put_encoded(pulled.records)
        if pulled.kind == "incremental":
            writer.delete(pulled.deleted)
    return writer.info


def pull_site(site: Site, settings: Settings, store: Store, *, full: bool = False,
              clock: Callable[[], datetime] = local_now, progress: Progress | None = None,
              limiter: RateLimiter | None = None,
              shared: ProjectAnswers | None = None) -> SiteOutcome:
    """Pull one site into a new snapshot; raise `RegistryError` (nothing written) on failure.

    `clock` gives the REDCap server's local time (see `local_now`); tests pass the
    sandbox's clock. `shared` holds the project-level answers of the sites pulled
    before this one (`pull_all` passes one for all its sites).
    """
    previous = previous_pull(store, site.name)
    client: RedcapClient
    if shared is not None:
        client = SharedClient(site, settings.pull, shared, limiter=limiter)
        clock = shared.clock(client.token_key, clock)
    else:
        client = RedcapClient(site, settings.pull, limiter=limiter)
    pulled = fetch_site(client, site, settings.pull, previous, force_full=full, clock=clock,
                        progress=progress)
    if isinstance(client, SharedClient):
        pulled.stats["shared_answers"] = client.shared_answers
    info = _write(store, pulled, previous)
    changes = pulled.dictionary_changes
    outcome = SiteOutcome(
        site=site.name, ok=True, snapshot_id=info.id, kind=pulled.kind, reason=pulled.reason,
        n_records=info.n_records, n_added=info.n_added, n_changed=info.n_changed,
        n_deleted=info.n_deleted,
        dictionary_changes=changes.summary() if changes is not None and not changes.empty
        else None,
        stats=pulled.stats,
    )
    event(_log, "pull.snapshot", site=site.name, snapshot=info.id, kind=pulled.kind,
          records=info.n_records, added=info.n_added, changed=info.n_changed,
          deleted=info.n_deleted)
    return outcome


def pull_all(settings: Settings, store: Store, *, sites: Sequence[str] | None = None,
             full: bool = False, clock: Callable[[], datetime] = local_now,
             show_progress: bool | None = None,
             on_outcome: Callable[[SiteOutcome], None] | None = None) -> list[SiteOutcome]:
    """Pull every configured site (or those named in `sites`); one outcome per site.

    A site that fails gets `ok=False` and a one-line `error`; the others go on.
    `show_progress=None` shows rich progress bars only when stderr is a terminal.
    `on_outcome` is called with each site's outcome as soon as it is known (the
    nightly records each site's stage, with its own timing, as it goes).
    """
    chosen = [settings.site(name) for name in sites] if sites else list(settings.sites)
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    outcomes: list[SiteOutcome] = []
    # project-level calls: once per project, not once per site; and the DAG sites'
    # changed records in as few batches as they fit
    shared = ProjectAnswers(dags=[s.dag for s in chosen if s.dag is not None])
    banned: dict[str, str] = {}  # host -> the site that found the ban
    down: dict[str, str] = {}    # scheme://host:port -> the site that found nothing there
    with _progress_display(show_progress) as bars:
        for site in chosen:
            parts = urlsplit(site.url)
            host = parts.hostname or site.url
            server = f"{parts.scheme}://{parts.netloc}"
            try:
                if host in banned:  # one more request would only lengthen the admin's log
                    raise RedcapBanned(
                        f"site '{site.name}': not pulled: REDCap at {site.url} banned this "
                        f"address earlier in this run (see site '{banned[host]}'); ask the "
                        "REDCap administrator to lift the ban")
                if server in down:  # its retries would only wait for the same dead host
                    raise RedcapDown(
                        f"site '{site.name}': not pulled: nothing answered at {server} earlier "
                        f"in this run (see site '{down[server]}'); check that REDCap is up and "
                        "that the URL is right")
                outcomes.append(pull_site(site, settings, store, full=full, clock=clock,
                                          progress=bars(site.name), shared=shared))
            except RegistryError as exc:
                if isinstance(exc, RedcapBanned):
                    banned.setdefault(host, site.name)
                if isinstance(exc, RedcapDown):
                    down.setdefault(server, site.name)
                event(_log, "pull.failed", logging.ERROR, site=site.name, error=exc.message)
                outcomes.append(SiteOutcome(site=site.name, ok=False, error=exc.message))
            if on_outcome is not None:
                on_outcome(outcomes[-1])
    return outcomes


class _NoBars:
    def __enter__(self) -> Callable[[str], Progress | None]:
        return lambda name: None

    def __exit__(self, *exc: object) -> None:
        return None


class _RichBars:
    """One rich progress bar per site, on stderr."""

    def __enter__(self) -> Callable[[str], Progress | None]:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._progress = Progress("[bold]{task.description}", BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=Console(stderr=True))
        self._progress.__enter__()

        def bars(name: str) -> Callable[[int, int], None]:
            task = self._progress.add_task(name, total=None)

            def update(done: int, total: int) -> None:
                self._progress.update(task, completed=done, total=total)
            return update
        return bars

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)


def _progress_display(show: bool) -> _NoBars | _RichBars:
    return _RichBars() if show else _NoBars()
