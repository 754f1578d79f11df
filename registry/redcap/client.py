"""The one door to REDCap: PyCap's `Project`, paced, status-checked, retried, translated.

PyCap sends every call as one POST through `requests` with the keyword arguments given
to `Project(...)`, and never looks at the HTTP status. Two public `requests` hooks
passed through those keyword arguments see every request PyCap makes, including the
ones it makes on its own (the data dictionary before the first record export):

- `auth=`: a callable `requests` runs on each prepared request just before sending it;
  ours waits for the host's `RateLimiter` and counts the request. It adds no header.
- `hooks={"response": ...}`: runs on each response; ours raises on any status but 200
  and on an HTML page where JSON was asked for, before PyCap tries to parse it.

Each public method is one API call. Transient failures (timeouts, dropped connections,
truncated bodies, 408/5xx, HTML pages) are retried with exponential backoff up to
`PullSettings.retries` times per request and `RETRY_BUDGET_FACTOR` x that per client
(one site's pull), then raise `RedcapUnreachable`; a refusal (400/401/403/
404) raises `RedcapRefused` at once; 429 raises `RedcapBanned` at once (REDCap bans the
address for good, so retrying would only add to the log the admin reads). Messages
name the site and the URL, never the token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import requests
from redcap import Project
from requests.auth import AuthBase
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from registry.errors import RedcapBanned, RedcapDown, RedcapRefused, RedcapUnreachable
from registry.log import event, get_logger, redact, register_secret
from registry.redcap.pacing import RateLimiter, limiter_for
from registry.redcap.responses import (
    HttpStatus,
    RequestTimedOut,
    Transient,
    check_response,
    no_server,
)
from registry.settings import PullSettings, Site

__all__ = ["RedcapClient", "RequestTimedOut"]

_log = get_logger("redcap")
T = TypeVar("T")

DAG_COLUMN = "redcap_data_access_group"
RETRY_BUDGET_FACTOR = 5


class _Pacer(AuthBase):
    """`requests` auth hook used only to wait for the rate limiter and count requests."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.count = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.limiter.acquire()
        self.count += 1
        return request


class _Project(Project):
    """PyCap's `Project`, told the data dictionary when it is already known.

    PyCap asks for the dictionary before its first record export (to name the record-id
    field); where another site of the same project already asked for it
    (`registry.redcap.shared`), `known_metadata` saves that hidden request.
    """

    known_metadata: list[dict[str, Any]] | None = None

    @property
    def metadata(self) -> Any:
        if self.known_metadata is not None:
            return self.known_metadata
        return super().metadata


class RedcapClient:
    """One site's REDCap project, reached through PyCap with pacing, checks and retries.

    `site.token()` is read once here and registered with the log redactor; it is held
    only by the PyCap `Project`.
    """

    def __init__(self, site: Site, settings: PullSettings, *,
                 limiter: RateLimiter | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.site = site
        self.settings = settings
        token = site.token().reveal()
        register_secret(token)
        self._pacer = _Pacer(limiter or limiter_for(site.url, settings.requests_per_minute))
        self._sleep = sleep
        try:
            self._project = _Project(
                site.url, token, timeout=settings.timeout_seconds, auth=self._pacer,
                hooks={"response": [check_response]},
            )
        except AssertionError:  # PyCap checks url and token by assert
            raise RedcapRefused(
                f"site '{site.name}': PyCap refused the URL {site.url} or the token's form"
            ) from None
        self.retried = 0  # transient failures retried so far
        #: retries allowed over this client's life (one site's pull), so a flapping
        #: server cannot stretch a nightly pull over hours: RETRY_BUDGET_FACTOR x retries
        self.retry_budget = RETRY_BUDGET_FACTOR * settings.retries

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (retries included)."""
        return self._pacer.count

    # --- the API calls ---------------------------------------------------------------
    def metadata(self) -> list[dict[str, str]]:
        """The data dictionary (also primes PyCap's cache, so no hidden call follows)."""
        rows = self._rows("metadata", self._call("metadata", lambda p: p.metadata))
        if not all(isinstance(r.get("field_name"), str) for r in rows):
            raise self._malformed("metadata", "rows without a field_name")
        return rows

    def know_metadata(self, metadata: list[dict[str, str]]) -> None:
        """The project's dictionary, as another site's pull already got it: PyCap uses it
        instead of asking REDCap again before the first record export."""
        self._project.known_metadata = metadata

    def project_info(self) -> dict[str, Any]:
        info = self._call("project", lambda p: p.export_project_info())
        if not isinstance(info, dict):
            raise self._malformed("project", f"a {type(info).__name__}, not an object")
        return info

    def version(self) -> str | None:
        value = self._call("version", lambda p: p.export_version())
        return str(value) if value is not None else None

    def repeating_forms(self) -> list[dict[str, Any]]:
        """Repeating instruments/events; [] for a project without any."""
        try:
            return self._rows("repeatingFormsEvents", self._call(
                "repeatingFormsEvents", lambda p: p.export_repeating_instruments_events()))
        except RedcapRefused as exc:
            if "does not contain any repeating" in exc.message:
                return []
            raise

    def instruments(self) -> list[dict[str, Any]]:
        """The forms with their labels (`instrument_name`, `instrument_label`)."""
        return self._rows("instrument", self._call("instrument", lambda p: p.export_instruments()))

    def events(self) -> list[dict[str, Any]]:
        """A longitudinal project's events (unique name, label, arm, event id where the
        server gives it); call only on a longitudinal project (REDCap refuses classic)."""
        return self._rows("event", self._call("event", lambda p: p.export_events()))

    def arms(self) -> list[dict[str, Any]]:
        """A longitudinal project's arms (`arm_num`, `name`)."""
        return self._rows("arm", self._call("arm", lambda p: p.export_arms()))

    def form_event_mapping(self) -> list[dict[str, Any]]:
        """Which forms each event holds (`arm_num`, `unique_event_name`, `form`)."""
        return self._rows("formEventMapping", self._call(
            "formEventMapping", lambda p: p.export_instrument_event_mappings()))

    def dags(self) -> list[dict[str, Any]] | None:
        """The project's DAGs, or None when the token belongs to a DAG member (REDCap
        forbids them this export), which is how a DAG token is recognised."""
        try:
            return self._rows("dag", self._call("dag", lambda p: p.export_dags()))
        except RedcapRefused as exc:
            if "assigned to a Data Access Group" in exc.message:
                return None
            raise

    def deletions(self, since: datetime) -> list[dict[str, Any]]:
        """REDCap's log of record deletions since `since` (server time; REDCap cuts the
        filter to minutes): rows with `timestamp`, `username`, `action`, `record`.
        Needs the Logging right; a token without it is refused (403)."""
        return self._rows("log", self._call("log", lambda p: p.export_logging(
            format_type="json", log_type="record_delete", begin_time=since)))

    def design_log(self, since: datetime) -> list[dict[str, Any]]:
        """REDCap's log of "Manage/Design" events since `since` (server time, cut to
        minutes): design changes, and the reads REDCap logs under that type. Needs the
        Logging right; a token without it is refused (403)."""
        return self._rows("log", self._call("log", lambda p: p.export_logging(
            format_type="json", log_type="manage", begin_time=since)))

    # --- the project's users (the e-mail delivery's recipients) -----------------------
    def users(self) -> list[dict[str, Any]]:
        """The project's users (`username`, `email`, `expiration`, ...); needs User Rights."""
        return list(self._call("user", lambda p: p.export_users()))

    def user_roles(self) -> list[dict[str, Any]]:
        """The user roles (`unique_role_name`, `role_label`, rights)."""
        return list(self._call("userRole", lambda p: p.export_user_roles()))

    def user_role_mapping(self) -> list[dict[str, Any]]:
        """Who holds which role (`username`, `unique_role_name`)."""
        return list(self._call("userRoleMapping", lambda p: p.export_user_role_assignment()))

    def user_dag_mapping(self) -> list[dict[str, Any]]:
        """Who is in which DAG (`username`, `redcap_data_access_group`)."""
        return list(self._call("userDagMapping", lambda p: p.export_user_dag_assignment()))

    def records(self, *, ids: Sequence[str] | None = None, fields: Sequence[str] | None = None,
                date_begin: datetime | None = None, with_dag: bool = False,
                retry_timeout: bool = True) -> list[dict[str, Any]]:
        """Flat JSON record rows (raw values), optionally only `ids`, `fields`, changed
        since `date_begin` (REDCap server time), with the DAG column.

        With `retry_timeout=False` a timeout raises `RequestTimedOut` at once, so the
        caller can shrink its batch instead of sending the same one again.
        """
        if ids is not None and not ids:
            return []  # PyCap drops an empty list and would export every record
        rows = self._call(
            "record",
            lambda p: p.export_records(
                format_type="json", records=list(ids) if ids is not None else None,
                fields=list(fields) if fields else None, date_begin=date_begin,
                export_data_access_groups=with_dag,
            ),
            retry_timeout=retry_timeout,
        )
        return self._rows("record", rows)

    # --- the machinery ---------------------------------------------------------------
    def _rows(self, what: str, value: Any) -> list[dict[str, Any]]:
        """`value` if it is what every such export is, a list of objects; else the one
        line saying the site's server answered something else (this site fails alone)."""
        if not isinstance(value, list):
            raise self._malformed(what, f"a {type(value).__name__}, not a list")
        bad = [r for r in value if not isinstance(r, dict)]
        if bad:
            raise self._malformed(what, f"a list holding {type(bad[0]).__name__} items")
        return value

    def _malformed(self, what: str, found: str) -> RedcapUnreachable:
        return RedcapUnreachable(
            f"site '{self.site.name}': REDCap at {self.site.url} answered the {what} export "
            f"with a malformed body ({found}); check the URL and the server's REDCap version"
        )

    def _call(self, what: str, fn: Callable[[Project], T], *, retry_timeout: bool = True) -> T:
        def attempt() -> T:
            try:
                return fn(self._project)
            except HttpStatus as exc:
                raise self._translate_status(what, exc) from None
            except requests.Timeout as exc:
                raise Transient(f"no answer within {self.settings.timeout_seconds:g} s",
                                 timeout=True) from exc
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:
                dead = no_server(exc)
                raise Transient(dead or f"connection failed or dropped ({type(exc).__name__})",
                                 dead=dead is not None) from exc
            except requests.JSONDecodeError as exc:
                raise Transient("a body that is not valid JSON (cut short?)") from exc
            except requests.RequestException as exc:  # PyCap's RedcapError: an error body
                raise RedcapRefused(
                    f"site '{self.site.name}': REDCap refused the {what} export: "
                    f"{redact(_pycap_message(exc))}"
                ) from None
            except (TypeError, KeyError, IndexError, AttributeError) as exc:
                # PyCap read a 200 answer of the wrong shape (e.g. a list of numbers)
                raise self._malformed(what, type(exc).__name__) from exc

        def worth_retrying(exc: BaseException) -> bool:
            return (isinstance(exc, Transient) and (retry_timeout or not exc.timeout)
                    and self.retried < self.retry_budget)

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.retries + 1),
            wait=wait_exponential(multiplier=self.settings.backoff_seconds, max=60),
            retry=retry_if_exception(worth_retrying),
            before_sleep=lambda state: self._log_retry(what, state),
            reraise=True,
            sleep=self._sleep or time.sleep,
        )
        try:
            return retrying(attempt)
        except Transient as exc:
            cls = RequestTimedOut if exc.timeout else RedcapUnreachable
            if self.retried >= self.retry_budget:
                tries = f" with this pull's {self.retry_budget} retries all spent"
            elif exc.timeout and not retry_timeout:
                tries = ""
            else:
                tries = f" after {self.settings.retries + 1} attempts"
            if exc.dead:
                raise RedcapDown(
                    f"site '{self.site.name}': nothing answers at {self.site.url} ({exc.reason}"
                    f"{tries}); check that REDCap is up and that the URL is right"
                ) from exc
            raise cls(
                f"site '{self.site.name}': REDCap at {self.site.url} failed the {what} export"
                f"{tries}: {exc.reason}; check the server or raise pull.retries"
            ) from exc

    def _log_retry(self, what: str, state: RetryCallState) -> None:
        self.retried += 1
        exc = state.outcome.exception() if state.outcome else None
        event(_log, "redcap.retry", logging.WARNING, site=self.site.name, call=what,
              attempt=state.attempt_number, reason=getattr(exc, "reason", type(exc).__name__),
              wait_s=round(state.next_action.sleep, 2) if state.next_action else None)

    def _translate_status(self, what: str, exc: HttpStatus) -> Exception:
        name, url, detail = self.site.name, self.site.url, redact(exc.detail)
        if exc.status == 429:
            return RedcapBanned(
                f"site '{name}': REDCap at {url} answered 429: this address is banned for "
                "exceeding the server's request rate; ask the REDCap administrator to lift "
                "the ban, and lower pull.requests_per_minute before pulling again"
            )
        if exc.status in (401, 403):
            return RedcapRefused(
                f"site '{name}': REDCap at {url} refused the {what} export ({exc.status}: "
                f"{detail}); check the site's API token and its export rights"
            )
        if exc.status == 408 or exc.status >= 500 or exc.status == 200:
            return Transient(f"HTTP {exc.status}, {detail}" if exc.status != 200 else detail)
        return RedcapRefused(
            f"site '{name}': REDCap at {url} refused the {what} export ({exc.status}: {detail})"
        )


def _pycap_message(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else ""
    if isinstance(arg, dict) and "error" in arg:
        return str(arg["error"])[:300]
    return str(arg)[:300]
