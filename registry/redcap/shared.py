"""Project-level answers asked once per REDCap project per pull, not once per site.

Sites that are data access groups of one REDCap project see the same data dictionary,
project information, version, repeating setup and (with one project-wide token) the
same DAG list and record-id exports. Asking each of them again costs a request per
site per call (at the default pace, 0.2 s each) and lengthens the REDCap admin's log.
`ProjectAnswers` keeps, for one `pull_all`, every such answer REDCap gave; a
`SharedClient` (a `RedcapClient` for one site) asks it first:

- **per token** (the same token is the same user on the same project): project
  information, the DAG list, the id-only record exports (all ids, or those changed
  since a time), the log of deletions since a time and the log of design events;
- **per project** (`project_id` of the project information, on one server): the data
  dictionary, the repeating setup, the instruments and, on a longitudinal project, its
  events, arms and form-event mapping: the project's design, the same for every user;
- **per server** (the API URL): REDCap's version.

Only answers are kept, never a failure (but the design log's refusal, which only the
Logging right changes): a site whose call failed is asked again by the next site,
which gets its own error. Each site gets its own copy of an answer, so no
site can change another's. The sites of one token also share the time their pull
began (`began_at`): it is the earliest, so their next incremental window starts no
later than it should, and their "changed since" exports are then one request too.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from registry.errors import RedcapBanned, RedcapRefused
from registry.redcap.client import DAG_COLUMN, RedcapClient, RequestTimedOut
from registry.redcap.pacing import RateLimiter
from registry.settings import PullSettings, Site

__all__ = ["ProjectAnswers", "SharedClient"]

T = TypeVar("T")


#: the leaves of a JSON answer: shared between copies, never changed in place
_ATOMS = frozenset({str, int, float, bool, type(None)})


def json_copy(value: T) -> T:
    """A deep copy of a JSON answer (dicts, lists and their leaves), as `copy.deepcopy`
    makes it but without its memo and dispatch per value: a wide project's dictionary
    (5,000 fields of 18 keys) is copied for every site. Anything else (a tuple of an
    id list, a datetime) goes to `copy.deepcopy`."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _ATOMS else json_copy(v)  # type: ignore[return-value]
                for k, v in value.items()}  # type: ignore[attr-defined]
    if kind is list:
        return [v if type(v) in _ATOMS else json_copy(v)  # type: ignore[return-value]
                for v in value]  # type: ignore[attr-defined]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


class ProjectAnswers:
    """REDCap's answers to project-level calls during one pull of many sites."""

    def __init__(self, dags: Iterable[str] = ()) -> None:
        self._answers: dict[tuple[Any, ...], Any] = {}
        self._began: dict[tuple[Any, ...], datetime] = {}
        #: the DAGs this pull pulls (of any project): whose changed records a batch may carry
        self.dags = frozenset(dags)
        #: per token: (record id, DAG) changed since the last pull, as REDCap listed them
        self.changed: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
        #: per token: rows fetched in another site's batch, by record id, until asked for
        self.pool: dict[tuple[Any, ...], dict[str, list[dict[str, Any]]]] = {}
        #: per token: record ids a topped-up batch already asked for (each only once)
        self.carried: dict[tuple[Any, ...], set[str]] = {}
        #: tokens whose topped-up batch timed out: no more topping up for them
        self.no_top_up: set[tuple[Any, ...]] = set()
        #: refusals kept for the token's other sites (the design log without the right)
        self.refused: dict[tuple[Any, ...], RedcapRefused] = {}

    def answer(self, key: tuple[Any, ...], ask: Callable[[], T], asker: object, *,
               deep: bool = True) -> tuple[T, bool]:
        """The kept answer for `key` (a copy) or `ask()`'s, kept; and whether it was
        asked by another than `asker` (a site's client), i.e. a request saved.

        `deep=False` copies only the outer list: for record exports, whose rows the
        pull reads but never changes (a deep copy of 234,000 id rows costs seconds)."""
        dup: Callable[[Any], Any] = json_copy if deep else copy.copy
        if key in self._answers:
            owner, value = self._answers[key]
            return dup(value), owner is not asker
        value = ask()
        self._answers[key] = (asker, dup(value))
        return value, False

    def clock(self, key: tuple[Any, ...], clock: Callable[[], datetime]
              ) -> Callable[[], datetime]:
        """A clock that gives every site of `key` the time the first one began."""
        def began() -> datetime:
            if key not in self._began:
                self._began[key] = clock()
            return self._began[key]
        return began


class SharedClient(RedcapClient):
    """A site's `RedcapClient` that takes project-level answers from `ProjectAnswers`."""

    def __init__(self, site: Site, settings: PullSettings, shared: ProjectAnswers, *,
                 limiter: RateLimiter | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        super().__init__(site, settings, limiter=limiter, sleep=sleep)
        self.shared = shared
        #: answers taken from another site's pull instead of asked again
        self.shared_answers = 0
        self.id_field = ""  # the record-id field, once the dictionary is known
        fingerprint = hashlib.sha256(site.token().reveal().encode("utf-8")).hexdigest()
        #: the key of this token's answers (the token itself is never kept in it)
        self.token_key: tuple[str, ...] = ("token", site.url, fingerprint)

    def _shared(self, key: tuple[Any, ...], ask: Callable[[], T], *, deep: bool = True) -> T:
        value, reused = self.shared.answer(key, ask, self, deep=deep)
        self.shared_answers += reused
        return value

    def _project_key(self, call: str) -> tuple[Any, ...]:
        info, _ = self.shared.answer((*self.token_key, "project"),
                                     super().project_info, self)  # not a call of the pull's
        project_id = info.get("project_id")
        if project_id in (None, ""):
            return (*self.token_key, call)
        return ("project", self.site.url, str(project_id), call)

    def project_info(self) -> dict[str, Any]:
        return self._shared((*self.token_key, "project"), super().project_info)

    def metadata(self) -> list[dict[str, str]]:
        value = self._shared(self._project_key("metadata"), super().metadata)
        self.id_field = str(value[0].get("field_name", "")) if value else ""
        self.know_metadata(json_copy(value))  # PyCap's own copy: no hidden request
        return value

    def repeating_forms(self) -> list[dict[str, Any]]:
        return self._shared(self._project_key("repeatingFormsEvents"), super().repeating_forms)

    def instruments(self) -> list[dict[str, Any]]:
        return self._shared(self._project_key("instrument"), super().instruments)

    def events(self) -> list[dict[str, Any]]:
        return self._shared(self._project_key("event"), super().events)

    def arms(self) -> list[dict[str, Any]]:
        return self._shared(self._project_key("arm"), super().arms)

    def form_event_mapping(self) -> list[dict[str, Any]]:
        return self._shared(self._project_key("formEventMapping"), super().form_event_mapping)

    def version(self) -> str | None:
        return self._shared(("server", self.site.url, "version"), super().version)

    def dags(self) -> list[dict[str, Any]] | None:
        return self._shared((*self.token_key, "dag"), super().dags)

    def design_log(self, since: datetime) -> list[dict[str, Any]]:
        """The design log, asked once per token; a refusal (no Logging right) is kept
        too, so the token's other sites fetch their design without asking again."""
        key = (*self.token_key, "log", "manage", since)
        if key in self.shared.refused:
            raise self.shared.refused[key]
        try:
            return self._shared(key, lambda: super(SharedClient, self).design_log(since))
        except RedcapBanned:
            raise
        except RedcapRefused as exc:
            self.shared.refused[key] = exc
            raise

    def know_metadata(self, metadata: list[dict[str, str]]) -> None:
        self.id_field = str(metadata[0].get("field_name", "")) if metadata else ""
        super().know_metadata(metadata)

    def records(self, *, ids: Sequence[str] | None = None, fields: Sequence[str] | None = None,
                date_begin: datetime | None = None, with_dag: bool = False,
                retry_timeout: bool = True) -> list[dict[str, Any]]:
        def ask() -> list[dict[str, Any]]:
            return super(SharedClient, self).records(
                ids=ids, fields=fields, date_begin=date_begin, with_dag=with_dag,
                retry_timeout=retry_timeout)
        if ids is not None and not fields and with_dag and self.site.dag is not None:
            return self._batch(list(ids), retry_timeout)
        if ids is not None or not fields:  # a batch of one site's records: its own
            return ask()
        key = (*self.token_key, "record", tuple(fields), date_begin, with_dag)
        if len(fields) != 1:
            return self._shared(key, ask, deep=False)
        # an id list: kept as its distinct (id, DAG) pairs, not a dict per export row
        # (one per repeat instance: over a million at 234,000 patients)
        has_dag, pairs = self._shared(key, lambda: _id_pairs(ask(), fields[0]), deep=False)
        if date_begin is not None and with_dag:
            self.shared.changed[self.token_key] = [(i, str(d)) for i, d in pairs]
        if has_dag:
            return [{fields[0]: i, DAG_COLUMN: d} for i, d in pairs]
        return [{fields[0]: i} for i, _ in pairs]

    def _batch(self, ids: list[str], retry_timeout: bool) -> list[dict[str, Any]]:
        """A batch of this site's records, carrying other sites' changed records too.

        On an incremental night each DAG site of a project-wide token has a few changed
        records; asked site by site, that is a request per site. The first site's batch
        is topped up (to `batch_size`) with the records the "changed since" list shows
        for the other DAGs this pull pulls; their rows wait in the pool and answer those
        sites' batches without a request. Pooled rows are given once: a site asking
        again (a short batch) asks REDCap. A topped-up batch that times out stops the
        topping up for the token, so shrinking batches still works.
        """
        key = self.token_key
        pool = self.shared.pool.setdefault(key, {})
        missing = [i for i in ids if i not in pool]
        served = [row for i in ids if i in pool for row in pool.pop(i)]
        if served:
            self.shared_answers += 1
            if not missing:
                return served
        extra = self._top_up(missing)
        if not extra:
            return served + super().records(ids=missing, with_dag=True,
                                            retry_timeout=retry_timeout)
        try:
            rows = super().records(ids=missing + extra, with_dag=True, retry_timeout=False)
        except RequestTimedOut:  # asked too much: from now on each site asks its own
            self.shared.no_top_up.add(key)
            return served + super().records(ids=missing, with_dag=True,
                                            retry_timeout=retry_timeout)
        mine, theirs = set(missing), set(extra)
        out = served
        for row in rows:
            rid = str(row.get(self.id_field))
            if rid in mine:
                out.append(row)
            elif rid in theirs:
                pool.setdefault(rid, []).append(row)
        return out

    def _top_up(self, ids: list[str]) -> list[str]:
        """Other pulled DAGs' changed record ids to fill this batch up to `batch_size`."""
        key = self.token_key
        carried = self.shared.carried.setdefault(key, set())
        carried.update(ids)  # asked now: no later batch carries them again
        room = self.settings.batch_size - len(ids)
        if room <= 0 or not self.id_field or key in self.shared.no_top_up:
            return []
        extra: list[str] = []
        for rid, dag in self.shared.changed.get(key, ()):
            if len(extra) >= room:
                break
            if dag != self.site.dag and dag in self.shared.dags and rid not in carried:
                extra.append(rid)
                carried.add(rid)
        return extra


def _id_pairs(rows: list[dict[str, Any]], id_field: str
              ) -> tuple[bool, tuple[tuple[str, Any], ...]]:
    """An id-only export as (whether it has the DAG column, its distinct (id, DAG) pairs
    in export order): all a pull reads of it."""
    has_dag = bool(rows) and DAG_COLUMN in rows[0]
    pairs = dict.fromkeys((str(r.get(id_field)), r.get(DAG_COLUMN)) for r in rows)
    return has_dag, tuple(pairs)
