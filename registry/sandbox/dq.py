"""The Data Resolution Workflow (DRW) of a sandbox project: queries and their history.

REDCap keeps DRW queries in two tables (REDCap 15.7.6 `install.sql`):
`redcap_data_quality_status`, one row per queried cell (`status_id`, `record`,
`event_id`, `field_name`, `repeat_instrument`, `instance`, `query_status` in
OPEN/CLOSED/VERIFIED/DEVERIFIED or NULL, `assigned_user_id`, ...; unique on
(`non_rule`, `project_id`, `record`, `event_id`, `field_name`, `instance`)), and
`redcap_data_quality_resolutions`, the thread of each (`res_id`, `status_id`, `ts`,
`user_id`, `response_requested`, `response` in DATA_MISSING/TYPOGRAPHICAL_ERROR/
CONFIRMED_CORRECT/WRONG_SOURCE/OTHER, `comment`, `current_query_status`, ...).

`DataQuality` holds both for one project, and plays the coordinator's side the way
REDCap's DRW pop-up does (`DataQuality/data_resolution_popup.php`, action `save`): a
query opened by a user is a status row plus a resolution; responding adds a resolution
with a response (the query stays OPEN); closing, reopening, verifying add one each and
set the query's status. The Data Quality API module reads and writes the same tables
(`registry.sandbox.dq_module`). Tests reach all of it through `server.dq` or the admin
door (`/_sandbox/dq...`, see `registry.sandbox.server`).

Users are the sandbox's API users (`sandbox_admin`, `sandbox_<dag>`) plus any
username a coordinator action names; each gets a REDCap user id (`ui_id`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.sandbox.project import Project

__all__ = ["CLASSIC_EVENT_ID", "QUERY_STATUSES", "RESPONSES", "DataQuality", "DqError",
           "Resolution", "Status"]

QUERY_STATUSES = ("OPEN", "CLOSED", "VERIFIED", "DEVERIFIED")
RESPONSES = ("DATA_MISSING", "TYPOGRAPHICAL_ERROR", "CONFIRMED_CORRECT", "WRONG_SOURCE", "OTHER")
#: The event id of a classic project's one (implicit) event.
CLASSIC_EVENT_ID = 40001
_TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S")


class DqError(ValueError):
    """A coordinator action the DRW would not allow (unknown query, field, status...)."""


@dataclass
class Status:
    """A `redcap_data_quality_status` row (one queried cell)."""

    status_id: int
    project_id: int
    record: str
    event_id: int
    field_name: str
    instance: int = 1
    repeat_instrument: str | None = None
    query_status: str | None = None
    assigned_user_id: int | None = None
    rule_id: int | None = None
    pd_rule_id: int | None = None
    non_rule: int | None = 1
    status: int | None = None
    exclude: int = 0


@dataclass
class Resolution:
    """A `redcap_data_quality_resolutions` row (one step of a query's thread).
    `status_id` 0 or None: a resolution the module stored against no query."""

    res_id: int
    status_id: int | None
    ts: str
    user_id: int | None
    response_requested: int = 0
    response: str | None = None
    comment: str | None = None
    current_query_status: str | None = None
    upload_doc_id: int | None = None
    field_comment_edited: int = 0


def parse_ts(raw: Any) -> datetime | None:
    """A timestamp as MySQL's DATETIME reads it (None if it cannot)."""
    text = str(raw or "").strip()
    for fmt in _TS_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def stored_ts(raw: Any) -> str:
    """What a DATETIME column keeps of `raw` (`0000-00-00 00:00:00` if unreadable)."""
    when = parse_ts(raw)
    return when.strftime("%Y-%m-%d %H:%M:%S") if when else "0000-00-00 00:00:00"


@dataclass
class DataQuality:
    """The DRW tables of one project, and the coordinator's actions on them.

    `enabled`: whether the Data Quality API module is enabled on the project;
    `drw`: the project's `data_resolution_enabled` (2 = Data Resolution Workflow,
    1 = field comments only, 0 = off)."""

    project: Project
    enabled: bool = True
    drw: int = 2
    statuses: dict[int, Status] = field(default_factory=dict)
    resolutions: dict[int, Resolution] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _next_status: int = 1
    _next_res: int = 1

    def __post_init__(self) -> None:
        self.user_id("sandbox_admin")
        for dag in self.project.dag_ids:
            self.user_id(f"sandbox_{dag}")

    # -- ids -----------------------------------------------------------------------
    def user_id(self, username: str) -> int:
        """The REDCap user id of `username`, creating the user on first sight."""
        with self.lock:
            if username not in self.users:
                self.users[username] = len(self.users) + 1
            return self.users[username]

    def known_user(self, username: Any) -> int | None:
        """`User::getUIIDByUsername`: the id of an existing user, else None."""
        return self.users.get(str(username)) if username is not None else None

    def username(self, user_id: int | None) -> str | None:
        return next((u for u, i in self.users.items() if i == user_id), None)

    def event_ids(self) -> list[int]:
        design = self.project.design
        return [e.event_id for e in design.events] if design.longitudinal \
            else [CLASSIC_EVENT_ID]

    def event_id(self, unique_name: str) -> int:
        if not self.project.design.longitudinal:
            return CLASSIC_EVENT_ID
        event = self.project.design.event(unique_name)
        if event is None:
            raise DqError(f"no event {unique_name!r}")
        return event.event_id

    def metadata_fields(self) -> set[str]:
        """`$Proj->metadata`: every field, `<form>_complete` included."""
        schema = self.project.schema
        return set(schema.fields) | {f"{form}_complete" for form in schema.forms}

    def now(self) -> str:
        return self.project.clock.now().strftime("%Y-%m-%d %H:%M:%S")

    # -- table writes (shared with the module) -------------------------------------
    def insert_status(self, record: str, event_id: int, field_name: str, instance: int,
                      repeat_instrument: str | None = None, query_status: str | None = None,
                      assigned_user_id: int | None = None) -> Status | None:
        """A new status row; None when the table's unique key already holds the cell."""
        with self.lock:
            pid = self.project.project_id
            if any(s.non_rule == 1 and s.project_id == pid and s.record == record
                   and s.event_id == event_id and s.field_name == field_name
                   and s.instance == instance for s in self.statuses.values()):
                return None
            status = Status(self._next_status, pid, record, event_id, field_name, instance,
                            repeat_instrument, query_status, assigned_user_id)
            self.statuses[status.status_id] = status
            self._next_status += 1
            return status

    def insert_resolution(self, status_id: int | None, ts: str, user_id: int | None, *,
                          response_requested: int = 0, response: str | None = None,
                          comment: str | None = None,
                          current_query_status: str | None = None) -> Resolution:
        with self.lock:
            res = Resolution(self._next_res, status_id, stored_ts(ts), user_id,
                             response_requested, response or None, comment,
                             current_query_status or None)
            self.resolutions[res.res_id] = res
            self._next_res += 1
            return res

    def thread(self, status_id: int | None) -> list[Resolution]:
        """A query's resolutions, oldest first (by id)."""
        return [r for r in self.resolutions.values() if r.status_id == status_id]

    # -- the coordinator's side (REDCap's DRW pop-up) --------------------------------
    def open_query(self, record: str, field_name: str, comment: str, *, event: str = "",
                   instance: int = 1, username: str = "coordinator",
                   assigned_username: str | None = None) -> Status:
        """Open a query on a cell (a status row, OPEN, and its first resolution asking
        for a response), as a user does from the form; reopens a closed one."""
        with self.lock:
            if field_name not in self.metadata_fields():
                raise DqError(f"no field {field_name!r} in the project")
            event_id = self.event_id(event)
            design = self.project.design
            form = self.project.schema.fields[field_name]["form_name"] \
                if field_name in self.project.schema.fields else field_name[:-9]
            rep = form if design.is_repeating_form(form, event) else None
            assigned = self.user_id(assigned_username) if assigned_username else None
            status = self.insert_status(record, event_id, field_name, instance, rep, "OPEN",
                                        assigned)
            if status is None:  # "on duplicate key update query_status = ..."
                status = self.find(record, field_name, event=event, instance=instance)
                assert status is not None
                status.query_status = "OPEN"
            self.insert_resolution(status.status_id, self.now(), self.user_id(username),
                                   response_requested=1, comment=comment,
                                   current_query_status="OPEN")
            return status

    def add_resolution(self, status_id: int, comment: str, *, status: str = "",
                       response: str = "", response_requested: bool = False,
                       username: str = "coordinator") -> Resolution:
        """One step of a thread, as the pop-up saves it: the query's status becomes
        `status` (or OPEN when a response is given or requested, else unchanged as a
        plain comment's NULL)."""
        with self.lock:
            query = self.statuses.get(status_id)
            if query is None:
                raise DqError(f"no query {status_id}")
            if status and status not in QUERY_STATUSES:
                raise DqError(f"query status should be one of {', '.join(QUERY_STATUSES)}")
            if response and response not in RESPONSES:
                raise DqError(f"response should be one of {', '.join(RESPONSES)}")
            new = status or ("OPEN" if response or response_requested else "")
            query.query_status = new or None
            return self.insert_resolution(status_id, self.now(), self.user_id(username),
                                          response_requested=int(response_requested),
                                          response=response, comment=comment,
                                          current_query_status=new)

    def respond(self, status_id: int, response: str, comment: str, *,
                username: str = "coordinator") -> Resolution:
        """Answer a query (e.g. CONFIRMED_CORRECT: the value is right as it is)."""
        return self.add_resolution(status_id, comment, response=response, username=username)

    def close(self, status_id: int, comment: str = "", *,
              username: str = "coordinator") -> Resolution:
        return self.add_resolution(status_id, comment, status="CLOSED", username=username)

    def reopen(self, status_id: int, comment: str, *,
               username: str = "coordinator") -> Resolution:
        return self.add_resolution(status_id, comment, status="OPEN", response_requested=True,
                                   username=username)

    def find(self, record: str, field_name: str, *, event: str = "",
             instance: int = 1) -> Status | None:
        """The query on one cell, if any."""
        event_id = self.event_id(event)
        return next((s for s in self.statuses.values() if s.record == record
                     and s.field_name == field_name and s.event_id == event_id
                     and s.instance == instance), None)

    def orphans(self) -> list[Resolution]:
        """Resolutions the module stored against no query (status 0 or NULL): they
        exist in REDCap's table but no export or form shows them."""
        return [r for r in self.resolutions.values() if not r.status_id]

    # -- views ---------------------------------------------------------------------
    def status_row(self, status: Status) -> dict[str, Any]:
        """A status as the module exports it: strings or null, `group_id` (the record's
        DAG id) and `assigned_username` last, `resolutions` when it has any."""
        rec = self.project.records.get(status.record)
        group = self.project.dag_ids.get(rec.dag) if rec is not None and rec.dag else None
        row: dict[str, Any] = {
            "status_id": str(status.status_id), "rule_id": _s(status.rule_id),
            "pd_rule_id": _s(status.pd_rule_id), "non_rule": _s(status.non_rule),
            "project_id": str(status.project_id), "record": status.record,
            "event_id": str(status.event_id), "field_name": status.field_name,
            "repeat_instrument": status.repeat_instrument, "instance": str(status.instance),
            "status": _s(status.status), "exclude": str(status.exclude),
            "query_status": status.query_status, "group_id": _s(group),
            "assigned_username": self.username(status.assigned_user_id),
        }
        thread = self.thread(status.status_id)
        if thread:
            row["resolutions"] = {str(r.res_id): self.resolution_row(r) for r in thread}
        return row

    def resolution_row(self, res: Resolution) -> dict[str, Any]:
        return {"res_id": str(res.res_id), "status_id": _s(res.status_id), "ts": res.ts,
                "response_requested": str(res.response_requested), "response": res.response,
                "comment": res.comment, "current_query_status": res.current_query_status,
                "upload_doc_id": _s(res.upload_doc_id),
                "field_comment_edited": str(res.field_comment_edited),
                "username": self.username(res.user_id)}

    def snapshot(self) -> dict[str, Any]:
        """The whole DRW state, for the admin door: settings, users, every query (the
        module's export shape, fields since deleted included) and the orphans."""
        with self.lock:
            return {"enabled": self.enabled, "drw": self.drw, "users": dict(self.users),
                    "queries": {str(k): self.status_row(s)
                                for k, s in sorted(self.statuses.items())},
                    "orphans": [self.resolution_row(r) for r in self.orphans()]}


def _s(value: Any) -> str | None:
    return None if value is None else str(value)
