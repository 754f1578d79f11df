"""Pull one site from REDCap: metadata, the record-id list, then records in batches.

The order of a pull, and why:

1. Metadata (dictionary, project info, version, repeating forms, DAGs). The dictionary
   is compared with the previous snapshot's; any change forces a full pull, since a
   re-coded or renamed field changes records that were not edited. On an incremental
   night these answers are the last snapshot's when REDCap's log shows no design
   change since it (one request instead of six; `registry.redcap.design`).
2. The record ids (`fields=[id]`), never one huge export. In DAG mode with a
   project-wide token they are filtered to the site's DAG; a DAG token sees only its
   DAG by itself (and is checked not to show another one).
3. Full pull: every id, in batches of `batch_size`. Incremental: only the ids REDCap
   reports changed since the previous pull began (`dateRangeBegin`, minus
   `overlap_minutes`), new ids, and the deletions: ids of the last snapshot missing
   from the id list leave it only when REDCap's log records their deletion (REDCap's
   date window never shows a deletion, and a loaded server drops rows silently).
4. Each batch is checked: every id asked for must come back. A batch that times out is
   split (the batch size shrinks for the rest of the pull); a short batch's missing ids
   are asked again in smaller batches, and ids still missing after `retries` rounds fail
   the pull. A record deleted during the pull fails it too: the server cannot be told
   apart from one silently dropping rows, and the next pull will not ask for it. No
   partial result is ever returned.

`fetch_site` does the talking and returns a `SitePull`; it never writes anything.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from registry.errors import RedcapBanned, RedcapRefused, RedcapUnreachable
from registry.log import event, get_logger
from registry.redcap.client import DAG_COLUMN, RedcapClient, RequestTimedOut
from registry.redcap.design import StoredDesign, source_digest, unchanged_design
from registry.redcap.dictionary import DictionaryChanges, compare_dictionaries
from registry.settings import PullSettings, Site
from registry.store.records import RecordBuffer

__all__ = ["PreviousPull", "ProjectShape", "Progress", "SitePull", "fetch_site", "local_now"]

_log = get_logger("pull")

#: progress(done, total): records fetched so far out of those to fetch.
Progress = Callable[[int, int], None]


def local_now() -> datetime:
    """This machine's local time to the second: REDCap reads `dateRangeBegin` in the
    server's local time, and the pull host is normally in the server's time zone (the
    overlap absorbs small clock differences)."""
    return datetime.now().replace(microsecond=0)


@dataclass(frozen=True)
class PreviousPull:
    """What a pull needs to know about the site's last snapshot."""

    began_at: datetime          # REDCap server time when that pull began
    last_full_at: datetime      # server time when the last full pull began
    metadata: Sequence[Mapping[str, Any]]
    record_ids: frozenset[str]
    snapshot_id: int | None = None  # the store's id of that snapshot, if any
    design: StoredDesign | None = None  # its project-level answers, if it kept them all


@dataclass(frozen=True)
class ProjectShape:
    """What REDCap says about a project's shape besides the dictionary: its forms'
    labels and, on a longitudinal project, its events, arms and form-event mapping
    (kept with the snapshot, so `registry.schema.schema_from_snapshot` rebuilds it)."""

    instruments: tuple[dict[str, Any], ...] = ()
    events: tuple[dict[str, Any], ...] = ()
    arms: tuple[dict[str, Any], ...] = ()
    form_event_mapping: tuple[dict[str, Any], ...] = ()

    def to_details(self) -> dict[str, Any]:
        return {"instruments": list(self.instruments), "events": list(self.events),
                "arms": list(self.arms), "form_event_mapping": list(self.form_event_mapping)}


def _shape(client: RedcapClient, info: Mapping[str, Any]) -> ProjectShape:
    """Forms, and on a longitudinal project events, arms and the form-event mapping."""
    instruments = tuple(client.instruments())
    if info.get("is_longitudinal") not in (1, "1", True):
        return ProjectShape(instruments=instruments)
    return ProjectShape(instruments=instruments, events=tuple(client.events()),
                        arms=tuple(client.arms()),
                        form_event_mapping=tuple(client.form_event_mapping()))


@dataclass
class SitePull:
    """The result of talking to one site; the caller turns it into a snapshot."""

    site: str
    kind: Literal["full", "incremental"]
    reason: str                               # why full / incremental
    began_at: datetime                        # server time when this pull began
    metadata: list[dict[str, Any]]
    project_info: dict[str, Any]
    version: str | None
    repeating_forms: list[dict[str, Any]]
    dags: list[dict[str, Any]] | None         # None: a DAG token (not allowed to list them)
    id_field: str
    record_ids: list[str]                     # every record id of the site now
    records: RecordBuffer                     # all (full) or the changed ones, encoded
    deleted: list[str] = field(default_factory=list)
    dictionary_changes: DictionaryChanges | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    shape: ProjectShape = field(default_factory=lambda: ProjectShape())

    source: str = ""                          # `source_digest` of the site's URL and token
    design_reused: str | None = None          # why the last snapshot's design was reused

    @property
    def base_metadata(self) -> dict[str, Any]:
        """Everything kept with the snapshot besides the records."""
        return {"project_info": self.project_info, "version": self.version,
                "repeating_forms": self.repeating_forms, "dags": self.dags,
                **self.shape.to_details()}


def _unique(values: Iterable[str]) -> list[str]:
    return list(OrderedDict.fromkeys(values))


def _decide(previous: PreviousPull | None, changes: DictionaryChanges | None, force: bool,
            now: datetime, every_days: int) -> tuple[Literal["full", "incremental"], str]:
    if force:
        return "full", "forced"
    if previous is None:
        return "full", "no previous snapshot"
    if changes is not None and not changes.empty:
        return "full", "data dictionary changed"
    age = now - previous.last_full_at
    if age >= timedelta(days=every_days):
        return "full", f"last full pull {age.days} days ago (pull.full_pull_every_days)"
    return "incremental", f"changes since {previous.began_at:%Y-%m-%d %H:%M:%S}"


class _Fetcher:
    """Batched record export for one pull, with shrinking and short-batch checks."""

    def __init__(self, client: RedcapClient, site: Site, settings: PullSettings,
                 id_field: str, progress: Progress | None, *, dag_token: bool) -> None:
        self.client, self.site, self.settings = client, site, settings
        self.id_field, self.progress = id_field, progress
        self.dag_token = dag_token  # the token belongs to a DAG member (REDCap scopes it)
        self.batch_size = settings.batch_size
        self.stats = {"batches": 0, "timeouts": 0, "short_batches": 0}

    # -- ids ------------------------------------------------------------------------
    def ids(self, *, date_begin: datetime | None = None,
            only: Sequence[str] | None = None) -> list[str]:
        """Record ids of this site (optionally only changed since `date_begin`)."""
        rows = self.client.records(ids=only, fields=[self.id_field], date_begin=date_begin,
                                   with_dag=True)
        return _unique(str(r[self.id_field]) for r in self._own(rows))

    def whereabouts(self, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Of `ids` asked for by id: those of this site, and those REDCap now shows in
        another data access group (only a project-wide token can see those)."""
        rows = self.client.records(ids=ids, fields=[self.id_field], with_dag=True)
        dag = self.site.dag
        if dag is None or self.dag_token or not rows or DAG_COLUMN not in rows[0]:
            return _unique(str(r[self.id_field]) for r in self._own(rows)), []
        own = _unique(str(r[self.id_field]) for r in rows if r[DAG_COLUMN] == dag)
        elsewhere = _unique(str(r[self.id_field]) for r in rows
                            if r[DAG_COLUMN] != dag and str(r[self.id_field]) not in own)
        return own, elsewhere

    def _own(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows of this site: in DAG mode, keep (or check) the site's DAG."""
        dag = self.site.dag
        if dag is None or not rows or DAG_COLUMN not in rows[0]:
            return rows
        if self.dag_token:
            others = sorted({str(r[DAG_COLUMN]) for r in rows} - {dag})
            if others:
                raise RedcapRefused(
                    f"site '{self.site.name}': its DAG token shows records of other data access "
                    f"groups ({', '.join(others)}); check the token's DAG assignment in REDCap"
                )
            return rows
        return [r for r in rows if r[DAG_COLUMN] == dag]

    # -- records --------------------------------------------------------------------
    def fetch(self, ids: Sequence[str]) -> RecordBuffer:
        """Every id in `ids` as kept (hash + compact rows), in `ids` order."""
        got = RecordBuffer()  # each batch kept compact as it comes: no dict rows held
        queue: deque[tuple[list[str], int]] = deque(
            (list(ids[i:i + self.batch_size]), 0) for i in range(0, len(ids), self.batch_size))
        total = len(ids)
        while queue:
            chunk, tries = queue.popleft()
            if len(chunk) > self.batch_size:  # the batch size shrank since it was queued
                queue.extendleft(reversed([(chunk[i:i + self.batch_size], tries)
                                           for i in range(0, len(chunk), self.batch_size)]))
                continue
            started = time.monotonic()
            shrinkable = len(chunk) > self.settings.min_batch_size
            try:
                rows = self.client.records(ids=chunk, with_dag=True, retry_timeout=not shrinkable)
            except RequestTimedOut:
                if not shrinkable:
                    raise
                self.stats["timeouts"] += 1
                self.batch_size = max(self.settings.min_batch_size, len(chunk) // 2)
                event(_log, "pull.batch_timeout", logging.WARNING, site=self.site.name,
                      n=len(chunk), new_batch_size=self.batch_size)
                queue.appendleft((chunk, tries))
                continue
            self.stats["batches"] += 1
            asked = set(chunk)
            batch: dict[str, list[dict[str, Any]]] = {}
            for row in self._own(rows):
                rid = str(row[self.id_field])
                if rid in asked:
                    batch.setdefault(rid, []).append(row)
            for rid, record_rows in batch.items():
                got.add(rid, record_rows)
            n_rows = len(rows)
            del rows, batch
            missing = [i for i in chunk if i not in got]
            event(_log, "pull.batch", logging.DEBUG, site=self.site.name, n=len(chunk),
                  rows=n_rows, missing=len(missing) or None,
                  ms=round((time.monotonic() - started) * 1000))
            if missing:
                self._short(chunk, missing, tries, queue)
            if self.progress:
                self.progress(len(got), total)
        got.reorder(ids)
        return got

    def _short(self, chunk: list[str], missing: list[str], tries: int,
               queue: deque[tuple[list[str], int]]) -> None:
        """A batch came back short: ask again in smaller batches, or fail the pull."""
        self.stats["short_batches"] += 1
        event(_log, "pull.short_batch", logging.WARNING, site=self.site.name, asked=len(chunk),
              missing=len(missing), example=missing[0], attempt=tries + 1)
        if tries < self.settings.retries:
            size = max(1, min(len(missing), len(chunk) // 2))
            queue.extendleft(reversed([(missing[i:i + size], tries + 1)
                                       for i in range(0, len(missing), size)]))
            return
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise RedcapUnreachable(
            f"site '{self.site.name}': REDCap at {self.site.url} kept leaving out "
            f"{len(missing)} requested record(s) ({shown}) after {tries + 1} tries; the server "
            "may be overloaded (or the records were deleted during the pull): pull again "
            "later or lower pull.batch_size"
        )


def _confirm_vanished(fetcher: _Fetcher, site: Site, ids: list[str],
                      previous: PreviousPull, since: datetime) -> list[str]:
    """The site's ids, once every id of the last snapshot missing from them is explained.

    The id list is one export, and a loaded server drops rows from it (and from any
    later answer) without an error, so no answer's silence is taken for a deletion.
    Missing ids are asked again by id: those that come back were dropped; those shown
    in another data access group have moved out of the site. The rest leave the
    snapshot only if REDCap's log has a `record_delete` entry for them since `since`;
    if any is unexplained the pull fails (the last snapshot, with those records, stays).
    """
    vanished = sorted(previous.record_ids - set(ids))
    if not vanished:
        return ids
    back, moved = fetcher.whereabouts(vanished)
    if back:
        event(_log, "pull.id_list_short", logging.WARNING, site=site.name, n=len(back),
              example=back[0])
        fetcher.stats["id_list_short"] = len(back)
    if moved:
        event(_log, "pull.moved_dag", logging.WARNING, site=site.name, n=len(moved),
              example=moved[0])
        fetcher.stats["moved_dag"] = len(moved)
    missing = sorted(set(vanished) - set(back) - set(moved))
    if missing:
        logged = _logged_deletions(fetcher.client, site, missing, since)
        unexplained = [i for i in missing if i not in logged]
        if unexplained:
            shown = ", ".join(unexplained[:5]) + (" ..." if len(unexplained) > 5 else "")
            raise RedcapUnreachable(
                f"site '{site.name}': {len(unexplained)} record(s) of the last snapshot "
                f"({shown}) are missing from REDCap's answers but its log shows no deletion "
                f"since {since:%Y-%m-%d %H:%M}; the last snapshot is kept: REDCap may be "
                "dropping rows under load, pull again later"
            )
        event(_log, "pull.deleted_per_log", site=site.name, n=len(missing), example=missing[0])
        fetcher.stats["deleted_per_log"] = len(missing)
    return ids + back


def _logged_deletions(client: RedcapClient, site: Site, missing: Sequence[str],
                      since: datetime) -> set[str]:
    """The ids among `missing` that REDCap's log says were deleted since `since`."""
    try:
        rows = client.deletions(since)
    except RedcapBanned:
        raise
    except RedcapRefused as exc:
        raise RedcapRefused(
            f"site '{site.name}': {len(missing)} record(s) of the last snapshot "
            f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}) are missing "
            "and REDCap's log, which says whether they were deleted, refused this token; "
            f"give its user the Logging right in REDCap ({exc.message})"
        ) from None
    wanted = set(missing)
    found: set[str] = set()
    for row in rows:
        rid = str(row.get("record") or "").strip()
        if not rid:  # older servers: only the action names the record
            rid = str(row.get("action") or "").rsplit(" ", 1)[-1]
        if rid in wanted:
            found.add(rid)
    return found


def fetch_site(client: RedcapClient, site: Site, settings: PullSettings,
               previous: PreviousPull | None, *, force_full: bool = False,
               clock: Callable[[], datetime] = local_now,
               progress: Progress | None = None) -> SitePull:
    """Pull one site (full or incremental, decided here) and return what came back."""
    started = time.monotonic()
    began_at = clock()
    requests_before = client.requests

    since = previous.began_at - timedelta(minutes=settings.overlap_minutes) \
        if previous is not None else None
    reused: str | None = None
    design: StoredDesign | None = None
    if previous is not None and since is not None and \
            _incremental_due(previous, force_full, began_at, settings.full_pull_every_days):
        design, why = unchanged_design(client, site, previous.design, since)
        if design is not None:
            reused = why
        else:
            event(_log, "pull.design_fetched", site=site.name, reason=why)
    if design is not None:
        metadata = [dict(m) for m in design.metadata]
        client.know_metadata(copy.deepcopy(metadata))  # no hidden dictionary request
        info = dict(design.project_info)
        version = design.version
        repeating = [dict(r) for r in design.repeating_forms]
        shape = ProjectShape(instruments=tuple(dict(r) for r in design.instruments),
                             events=tuple(dict(r) for r in design.events),
                             arms=tuple(dict(r) for r in design.arms),
                             form_event_mapping=tuple(dict(r) for r in
                                                      design.form_event_mapping))
        dags = [dict(d) for d in design.dags] if design.dags is not None else None
    else:
        metadata, info, version, repeating, shape, dags = _fetch_design(client, site)
    id_field = str(metadata[0]["field_name"])
    if site.dag and dags is not None:  # dag = "": the records in no data access group
        known = [str(d.get("unique_group_name")) for d in dags]
        if site.dag not in known:
            raise RedcapRefused(
                f"site '{site.name}': the project has no data access group '{site.dag}' "
                f"(it has: {', '.join(known) or 'none'}); fix sites.dag in the settings"
            )

    changes = compare_dictionaries(previous.metadata, metadata) if previous else None
    if changes is not None and not changes.empty:
        event(_log, "pull.dictionary_changed", logging.WARNING, site=site.name,
              changes=changes.summary())
    kind, reason = _decide(previous, changes, force_full, began_at,
                           settings.full_pull_every_days)
    event(_log, "pull.start", site=site.name, kind=kind, reason=reason)

    fetcher = _Fetcher(client, site, settings, id_field, progress, dag_token=dags is None)
    ids = fetcher.ids()
    if previous is not None and since is not None:
        ids = _confirm_vanished(fetcher, site, ids, previous, since)
    deleted: list[str] = []
    if kind == "full" or previous is None or since is None:
        to_fetch = ids
    else:
        current = set(ids)
        changed = {i for i in fetcher.ids(date_begin=since) if i in current}
        new = current - previous.record_ids
        to_fetch = [i for i in ids if i in changed or i in new]
        deleted = sorted(previous.record_ids - current)
    records = fetcher.fetch(to_fetch)

    stats: dict[str, Any] = {
        **fetcher.stats, "requests": client.requests - requests_before,
        "retried": client.retried, "fetched": len(records), "records": len(ids),
        "deleted": len(deleted), "batch_size_end": fetcher.batch_size,
        "design_reused": reused is not None,
        "seconds": round(time.monotonic() - started, 3),
    }
    event(_log, "pull.done", site=site.name, kind=kind, **stats)
    return SitePull(
        site=site.name, kind=kind, reason=reason, began_at=began_at, metadata=list(metadata),
        project_info=info, version=version, repeating_forms=repeating, dags=dags,
        id_field=id_field, record_ids=ids, records=records, deleted=deleted,
        dictionary_changes=changes, stats=stats, shape=shape, source=source_digest(site),
        design_reused=reused,
    )


def _incremental_due(previous: PreviousPull, force: bool, now: datetime,
                     every_days: int) -> bool:
    """Whether this pull is incremental unless the design changed (not forced, not
    the scheduled full pull): only then may the last snapshot's design be reused."""
    return not force and now - previous.last_full_at < timedelta(days=every_days)


def _fetch_design(client: RedcapClient, site: Site) -> tuple[
        list[dict[str, Any]], dict[str, Any], str | None, list[dict[str, Any]],
        ProjectShape, list[dict[str, Any]] | None]:
    """Every project-level answer, asked of REDCap: the dictionary, project information,
    version, repeating setup, shape and DAG list."""
    metadata = client.metadata()
    if not metadata:
        raise RedcapRefused(f"site '{site.name}': REDCap returned an empty data dictionary")
    info = client.project_info()
    version = client.version()
    repeating = client.repeating_forms() if info.get("has_repeating_instruments_or_events") \
        in (1, "1", True) else []
    shape = _shape(client, info)
    return metadata, info, version, repeating, shape, client.dags()
