"""The Vanderbilt "Data Quality API" external module, as its code does it.

Reached at `/api/?prefix=vanderbilt_dataQuality&page=export|import&type=module&NOAUTH
&pid=<project id>` with a POSTed `token` (and `format=json`, `returnFormat=json`),
following vanderbilt-redcap/data_quality_api (`export.php`, `import.php`) and the
jubilee2/redcapdqapi client (REDCAP_API.md §6):

- a bad token is the API's 403; a `pid` that is not the token's project gets an
  empty 200 (the module's `die()`);
- **export** answers the project's queries as one JSON object keyed by `status_id`
  (`[]` when there are none), each with the status columns, `group_id` (the record's
  DAG id), `assigned_username` and, if it has any, `resolutions` keyed by `res_id`; every
  value a string or null; queries on fields no longer in the dictionary left out;
  filters: `record` (one name, or `record[]` several; `records` is not read), `user`
  (the assigned user) and `status` (OPEN also matches no status). It is not scoped to
  the token's DAG;
- **import** (`data`: JSON, an object or a list of export-shaped rows) only adds
  resolutions, answering the JSON list of the new `res_id`s. A row is skipped when its
  field is not in the project, its event id unknown (a classic project takes any: its
  one event is used), its record, project or event blank, or its `project_id` not the
  token's project. The query is found by `status_id`, or by record, event, field and
  then `repeat_instrument` if given, else `instance`; when none is found a new one is
  created (instance 1 when none is given). Two things the module's code does that a
  client must know: without a numeric `status_id` its lookup query is malformed and finds
  nothing, so a row for a cell that already has a query creates none and its
  resolutions are stored against no query (kept, counted in the reply, never exported:
  `DataQuality.orphans()`); and a new query never keeps `repeat_instrument` (the
  module's documented limitation), so a lookup by `repeat_instrument` never finds a
  query the module made. Resolutions are sorted by `ts`; one with the same `ts` and
  user as one already on the query is skipped; each gets status `current_query_status`
  if it is OPEN/CLOSED/VERIFIED/DEVERIFIED, else OPEN when a response is given or
  requested, else none; the query takes the last one's status when the import brings a
  later `ts` than the query had. Import is refused (403) when the project's DRW is off.
- The module disabled on the project (`server.dq.enabled = False`) answers an HTML
  page, as REDCap's module framework does for a page it cannot run (a sandbox choice:
  what clients see is "not JSON").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from registry.sandbox.dq import QUERY_STATUSES, RESPONSES, DataQuality, Status, parse_ts
from registry.sandbox.formats import Reply, error_reply, text_reply

__all__ = ["PREFIX", "handle_module"]

PREFIX = "vanderbilt_dataQuality"
_NOT_ENABLED = ("<!DOCTYPE html><html><body><div class=\"red\">The <b>{prefix}</b> module "
                "is not enabled on this project.</div></body></html>")
_LIST_KEY = re.compile(r"^record\[\d*\]$")
_EPOCH = datetime(1970, 1, 1)


def _json(data: Any) -> Reply:
    # PHP's json_encode: non-ASCII as \\uXXXX and "/" escaped
    body = json.dumps(data, separators=(",", ":")).replace("/", "\\/")
    return Reply(200, "application/json; charset=utf-8", body.encode("utf-8"))


def handle_module(dq: DataQuality, query: Mapping[str, str], params: Mapping[str, str],
                  token_ok: bool) -> Reply:
    """Answer one module request: `query` the URL's parameters, `params` the POST's."""
    ret = (params.get("returnFormat") or params.get("format") or "json").lower()
    if query.get("prefix") != PREFIX or not dq.enabled:
        return text_reply(_NOT_ENABLED.format(prefix=query.get("prefix", "")), 200,
                          "text/html")
    if not token_ok:
        return error_reply(403, "You do not have permissions to use the API",
                           ret if ret in ("json", "csv", "xml") else "json")
    if str(query.get("pid", "")) != str(dq.project.project_id):
        return text_reply("", 200, "text/html")
    page = query.get("page", "")
    with dq.project.lock, dq.lock:
        if page == "export":
            return _export(dq, params)
        if page == "import":
            return _import(dq, params)
    return text_reply("", 200, "text/html")


# -- export ----------------------------------------------------------------------------
def _export(dq: DataQuality, params: Mapping[str, str]) -> Reply:
    records = [v for k, v in params.items() if _LIST_KEY.match(k)]
    if not records and params.get("record", "") != "":
        records = [params["record"]]
    user = dq.known_user(params["user"]) if params.get("user") else None
    status = params.get("status", "")
    fields = dq.metadata_fields()
    out: dict[str, Any] = {}
    for sid, row in sorted(dq.statuses.items()):
        if row.field_name not in fields or (records and row.record not in records):
            continue
        if user is not None and row.assigned_user_id != user:
            continue
        if status and not (row.query_status == status
                           or (status == "OPEN" and row.query_status is None)):
            continue
        out[str(sid)] = dq.status_row(row)
    return _json(out if out else [])


# -- import ----------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def _digits(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) or str(value).isdigit()


def _import(dq: DataQuality, params: Mapping[str, str]) -> Reply:
    if dq.drw not in (1, 2):
        return error_reply(403, "Data may not be imported because the project does not have "
                                "data quality enabled.", "json")
    try:
        data = json.loads(params.get("data", ""))
    except json.JSONDecodeError:
        return _json([])  # json_decode gives null: nothing to loop over
    rows = list(data.values()) if isinstance(data, dict) else data \
        if isinstance(data, list) else []
    new_ids: list[int] = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        if not isinstance(row.get("resolutions"), dict | list):
            # usort() on a missing thread is a PHP fatal error: the page dies
            return text_reply("", 500, "text/html")
        new_ids += _import_row(dq, row)
    return _json(new_ids)


def _event(dq: DataQuality, raw: Any) -> int | None:
    ids = dq.event_ids()
    if not dq.project.design.longitudinal:
        return ids[0]  # one event: whatever the row says
    return next((i for i in ids if str(i) == _text(raw)), None)


def _lookup(dq: DataQuality, status_id: str, record: str, event_id: int, field_name: str,
            repeat: str, instance: str) -> tuple[Status | None, bool]:
    """The module's search for an existing query: (query, whether it is "new")."""
    if not status_id.isdigit():
        return None, False  # "WHERE  OR (...)": a malformed query finds nothing

    def same_cell(s: Status) -> bool:
        if (s.record, s.event_id, s.field_name) != (record, event_id, field_name):
            return False
        if repeat:
            return s.repeat_instrument == repeat
        return instance != "" and str(s.instance) == instance

    found: Status | None = None
    new = False
    for s in sorted(dq.statuses.values(), key=lambda s: s.status_id):
        if s.status_id != int(status_id) and not same_cell(s):
            continue
        if str(s.status_id) != status_id:
            found, new = s, True
        elif (s.record, s.event_id, s.field_name) == (record, event_id, field_name) and (
                instance == "" or str(s.instance) == instance):
            found, new = s, False
    return found, new


def _import_row(dq: DataQuality, row: dict[str, Any]) -> list[int]:
    record, field_name = _text(row.get("record")), _text(row.get("field_name"))
    project_id, status_id = _text(row.get("project_id")), _text(row.get("status_id"))
    instance, repeat = _text(row.get("instance")), _text(row.get("repeat_instrument"))
    if field_name not in dq.metadata_fields():
        return []
    event_id = _event(dq, row.get("event_id"))
    if event_id is None or not record or not project_id:
        return []
    if not (project_id.isdigit() and int(project_id) == dq.project.project_id):
        return []
    assigned = dq.known_user(row.get("assigned_username"))
    query, new = _lookup(dq, status_id, record, event_id, field_name, repeat, instance)
    target: int | None
    if query is not None:
        target = query.status_id
    else:
        created = dq.insert_status(record, event_id, field_name,
                                   int(instance) if instance.isdigit() else 1,
                                   assigned_user_id=assigned)
        target, new = (created.status_id if created else 0), True  # 0: the insert failed
    thread = sorted(row["resolutions"].values() if isinstance(row["resolutions"], dict)
                    else row["resolutions"],
                    key=lambda r: parse_ts(r.get("ts")) or _EPOCH if isinstance(r, dict)
                    else _EPOCH)
    existing = dq.thread(target)
    seen = {r.ts + _text(r.user_id) for r in existing}
    db_ts = max((parse_ts(r.ts) or _EPOCH for r in existing), default=None)
    last_ts, res_status, ids = "", "", []
    for res in thread:
        if not isinstance(res, dict):
            continue
        current = _text(res.get("current_query_status"))
        requested = res.get("response_requested")
        if current in QUERY_STATUSES:
            res_status = current
        elif requested not in (None, "", "0", 0, False) or res.get("response"):
            res_status = "OPEN"
        else:
            res_status = ""
        response = _text(res.get("response"))
        response = response if response in RESPONSES else ""
        res_sid = _text(res.get("status_id"))
        if not new and res_sid != "" and res_sid != str(target):
            continue
        user = dq.known_user(res.get("username"))
        ts = _text(res.get("ts"))
        if ts + _text(user) in seen:
            continue
        last_ts = ts
        flag = 1 if _text(requested) == "1" or requested is True else 0
        stored = dq.insert_resolution(target, ts, user, response_requested=flag,
                                      response=response, comment=_text(res.get("comment"))
                                      or None, current_query_status=res_status)
        seen.add(ts + _text(user))
        ids.append(stored.res_id)
    if target and last_ts and (db_ts is None or (parse_ts(last_ts) or _EPOCH) > db_ts):
        dq.statuses[target].query_status = res_status or None
    return ids
