"""The door to REDCap's Data Resolution Workflow (DRW): the Data Quality API module.

REDCap's core API has no content type for DRW queries (REDCAP_API.md §6); the
Vanderbilt "Data Quality API" external module adds two pages, reached at the API URL
with `?type=module&prefix=vanderbilt_dataQuality&page=export|import&NOAUTH&pid=<pid>`
and a POSTed `token`:

- **export** answers the project's queries (one object keyed by `status_id`, `[]`
  when none), each with its cell (`record`, `event_id`, `field_name`, `instance`),
  `query_status` (OPEN/CLOSED/VERIFIED/DEVERIFIED or null) and its thread of
  `resolutions`; filter `record[]` (it is not scoped to a DAG token's group).
- **import** (`data`: JSON rows in the export's shape) only adds resolutions: to the
  query named by `status_id`, or to a new query on the row's cell. Answers the new
  `res_id`s. Without a numeric `status_id` a row for a cell that already has a query
  makes none and its resolutions are stored against no query, and `repeat_instrument`
  is never kept: so callers look the cell up in an export first, send `status_id`
  whenever a query exists and never rely on `repeat_instrument`.

PyCap has no call for a module page, so this client posts with `requests`, paced by
the host's one `RateLimiter` (shared with the pull: REDCap counts every hit of an
address), with the pull's timeout. An export is retried on transient failures like
any other read (`PullSettings.retries`, exponential backoff); an import is never
retried, because a lost answer may hide an applied write: the next sync exports
first and sees what happened. Failures raise `RedcapRefused` / `RedcapUnreachable`
with one line naming the site and the URL, never the token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from registry.errors import RedcapBanned, RedcapRefused, RedcapUnreachable
from registry.log import redact, register_secret
from registry.redcap.pacing import RateLimiter, limiter_for
from registry.settings import PullSettings, Site

__all__ = ["MODULE_PREFIX", "DrwClient", "DrwQuery", "DrwResolution", "resolution_row"]

MODULE_PREFIX = "vanderbilt_dataQuality"


@dataclass(frozen=True)
class DrwResolution:
    """One step of a query's thread, as exported."""

    res_id: int
    ts: str
    username: str | None
    comment: str | None
    response: str | None
    current_query_status: str | None


@dataclass(frozen=True)
class DrwQuery:
    """One DRW query (a queried cell) with its thread, oldest step first."""

    status_id: int
    record: str
    event_id: str
    field_name: str
    instance: int
    query_status: str | None
    resolutions: tuple[DrwResolution, ...] = field(default=())


def resolution_row(project_id: int | str, record: str, field_name: str, *,
                   comment: str, ts: str, event_id: str = "", instance: int = 1,
                   status_id: int | None = None, query_status: str = "OPEN",
                   response_requested: bool = False, username: str | None = None
                   ) -> dict[str, Any]:
    """An import row carrying one resolution: to query `status_id`, or (None) opening a
    query on the cell. `repeat_instrument` is left null: the module never keeps it."""
    sid = "" if status_id is None else str(status_id)
    return {"status_id": sid, "project_id": str(project_id), "record": record,
            "event_id": event_id, "field_name": field_name, "instance": str(instance),
            "repeat_instrument": None, "assigned_username": None,
            "resolutions": [{"res_id": "", "status_id": sid, "ts": ts, "username": username,
                             "comment": comment, "response": None,
                             "response_requested": 1 if response_requested else 0,
                             "current_query_status": query_status}]}


class _Transient(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DrwClient:
    """One site's project, reached through the Data Quality API module.

    `project_id` is the project's REDCap id (the module's `pid`, from the snapshot's
    project info). The token is read once and registered with the log redactor.
    """

    def __init__(self, site: Site, settings: PullSettings, project_id: int | str, *,
                 limiter: RateLimiter | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.site = site
        self.settings = settings
        self.project_id = str(project_id)
        self._token = site.token().reveal()
        register_secret(self._token)
        self._limiter = limiter or limiter_for(site.url, settings.requests_per_minute)
        self._sleep = sleep or time.sleep
        self._session = requests.Session()
        self.requests = 0  # HTTP requests sent (retries included)

    def url(self, page: str) -> str:
        return (f"{self.site.url}?type=module&prefix={MODULE_PREFIX}&page={page}&NOAUTH"
                f"&pid={self.project_id}")

    # --- the two pages -------------------------------------------------------------
    def export(self, records: Sequence[str] | None = None) -> list[DrwQuery]:
        """The project's queries (only those on `records`, if given), by status_id."""
        if records is not None and not records:
            return []
        fields = {f"record[{i}]": r for i, r in enumerate(records or ())}
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.retries + 1),
            wait=wait_exponential(multiplier=self.settings.backoff_seconds, max=60),
            retry=retry_if_exception_type(_Transient), reraise=True, sleep=self._sleep)
        try:
            body = retrying(lambda: self._post("export", fields))
        except _Transient as exc:
            raise RedcapUnreachable(
                f"site '{self.site.name}': the Data Quality API module at {self.site.url} "
                f"failed the DRW export after {self.settings.retries + 1} attempts: "
                f"{exc.reason}") from None
        return self._queries(body)

    def import_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Send resolutions (`resolution_row`s); the `res_id`s REDCap stored. Sent once."""
        if not rows:
            return []
        try:
            body = self._post("import", {"data": json.dumps(list(rows))})
        except _Transient as exc:
            raise RedcapUnreachable(
                f"site '{self.site.name}': the Data Quality API module at {self.site.url} "
                f"failed a DRW import ({exc.reason}); not retried, the next sync checks "
                "what REDCap kept") from None
        if not isinstance(body, list) or not all(str(i).isdigit() for i in body):
            raise RedcapUnreachable(self._odd("import", "a list of resolution ids"))
        return [int(i) for i in body]

    # --- the machinery ---------------------------------------------------------------
    def _post(self, page: str, fields: Mapping[str, str]) -> Any:
        data = {"token": self._token, "format": "json", "returnFormat": "json", **fields}
        self._limiter.acquire()
        self.requests += 1
        try:
            reply = self._session.post(self.url(page), data=data,
                                       timeout=self.settings.timeout_seconds)
        except requests.Timeout:
            raise _Transient(f"no answer within {self.settings.timeout_seconds:g} s") from None
        except requests.RequestException as exc:
            raise _Transient(f"connection failed or dropped ({type(exc).__name__})") from None
        status, ctype = reply.status_code, reply.headers.get("Content-Type", "").lower()
        if status == 429:
            raise RedcapBanned(
                f"site '{self.site.name}': REDCap at {self.site.url} answered 429: this "
                "address is banned for exceeding the server's request rate; ask the REDCap "
                "administrator to lift the ban")
        if status == 408 or status >= 500:
            raise _Transient(f"HTTP {status}")
        if status != 200:
            raise RedcapRefused(
                f"site '{self.site.name}': REDCap at {self.site.url} refused the DRW {page} "
                f"({status}: {redact(_error(reply))}); check the site's API token and that "
                "the Data Quality API module is enabled on the project")
        if "html" in ctype or not reply.text.strip():
            raise RedcapRefused(
                f"site '{self.site.name}': REDCap at {self.site.url} answered the DRW {page} "
                f"with {'an HTML page' if reply.text.strip() else 'an empty page'}, not "
                f"JSON: is the Data Quality API module ({MODULE_PREFIX}) enabled on project "
                f"{self.project_id}, and is that the token's project?")
        try:
            return reply.json()
        except ValueError:
            raise _Transient("a body that is not valid JSON (cut short?)") from None

    def _odd(self, page: str, wanted: str) -> str:
        return (f"site '{self.site.name}': the Data Quality API module at {self.site.url} "
                f"answered the DRW {page} with something other than {wanted}")

    def _queries(self, body: Any) -> list[DrwQuery]:
        if body == []:
            return []
        if not isinstance(body, dict):
            raise RedcapUnreachable(self._odd("export", "an object of queries"))
        out = []
        try:
            for row in body.values():
                thread = row.get("resolutions") or {}
                steps = thread.values() if isinstance(thread, dict) else thread
                out.append(DrwQuery(
                    status_id=int(row["status_id"]), record=str(row["record"]),
                    event_id=str(row.get("event_id") or ""), field_name=str(row["field_name"]),
                    instance=int(row.get("instance") or 1),
                    query_status=row.get("query_status") or None,
                    resolutions=tuple(sorted((DrwResolution(
                        res_id=int(r["res_id"]), ts=str(r.get("ts") or ""),
                        username=r.get("username"), comment=r.get("comment"),
                        response=r.get("response") or None,
                        current_query_status=r.get("current_query_status") or None)
                        for r in steps), key=lambda r: r.res_id))))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise RedcapUnreachable(self._odd("export", "queries in the module's shape")) \
                from None
        return sorted(out, key=lambda q: q.status_id)


def _error(reply: requests.Response) -> str:
    try:
        body = reply.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])[:300]
    except ValueError:
        pass
    return (reply.text or "an empty body").strip().replace("\n", " ")[:300]
