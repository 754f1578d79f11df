"""The `/api/` endpoint: REDCap's request parameters in, REDCap's replies out.

`handle(project, params)` takes the decoded form fields of one POST and returns a
`Reply`. It dispatches on `content` (plus `action` and `data` for records) exactly
as REDCap 15.7.6 does for the calls PyCap makes (REDCAP_API.md §1-§5): token first
(403), then content (400), then the parameters of that content. `filterLogic` is
accepted and ignored (not implemented).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from registry.sandbox.formats import FORMATS, Reply, data_reply, error_reply, text_reply
from registry.sandbox.imports import ImportRefused, parse_import
from registry.sandbox.project import Project, Scope
from registry.sandbox.schema import Column

__all__ = ["REDCAP_VERSION", "RowDropper", "bool_param", "handle", "list_param",
           "parse_window"]

#: What `content=version` answers.
REDCAP_VERSION = "15.7.6"
RowDropper = Callable[[list[str]], list[str]]

_LIST_KEY = re.compile(r"^(\w+)\[(\d*)\]$")
_WHEN = re.compile(r"^\s*(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
                   r"(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?\s*$")
_EARLIEST = datetime(2004, 8, 1)
NO_PERMISSION = "You do not have permissions to use the API"
DAG_FORBIDDEN = ("You do not have permission to export/import/delete Data Access Groups "
                 "because you have been assigned to a Data Access Group.")
_TRUE = ("1", "true")


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def bool_param(params: Mapping[str, str], key: str) -> bool:
    """REDCap counts a flag as true only when it is `1` or `true`, any case (§1)."""
    return params.get(key, "").strip().lower() in _TRUE


def list_param(params: Mapping[str, str], name: str) -> list[str]:
    """`name[0]`, `name[1]`... (or `name[]`) in index order, else a comma string `name`."""
    indexed: list[tuple[int, int, str]] = []
    for n, (key, value) in enumerate(params.items()):
        m = _LIST_KEY.match(key)
        if m and m.group(1) == name:
            indexed.append((int(m.group(2)) if m.group(2) else n, n, value))
    if indexed:
        return [v.strip() for _, _, v in sorted(indexed) if v.strip()]
    raw = params.get(name, "")
    return [v.strip() for v in raw.split(",") if v.strip()]


def _parse_when(raw: str, end: bool) -> datetime | None:
    m = _WHEN.match(raw or "")
    if not m:
        return None
    y, mo, d, hh, mi, ss = m.groups()
    try:
        if hh is None:
            return datetime(int(y), int(mo), int(d), *((23, 59, 59) if end else (0, 0, 0)))
        return datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0))
    except ValueError:
        return None


def parse_window(begin_raw: str, end_raw: str, now: datetime
                 ) -> tuple[datetime, datetime] | None:
    """REDCap's dateRangeBegin/End (§5): Y-M-D or Y/M/D with optional H:M[:S]; a date
    alone spans the day; one bound alone runs to now / from 2004-08-01; an unparsable
    value is no bound (no error). None means no window at all."""
    begin, end = _parse_when(begin_raw, False), _parse_when(end_raw, True)
    if begin is None and end is None:
        return None
    return (begin or _EARLIEST, end or now)


def handle(project: Project, params: Mapping[str, str], *,
           drop_rows: RowDropper | None = None) -> Reply:
    """Answer one API call as REDCap would."""
    fmt = params.get("format", "").lower()
    fmt = fmt if fmt in FORMATS else "xml"
    ret = params.get("returnFormat", "").lower() or fmt
    ret = ret if ret in FORMATS else "xml"
    token = params.get("token", "").strip()
    scope = project.scope_for(token) if token.isalnum() else None
    if scope is None:
        return error_reply(403, NO_PERMISSION, ret)
    content = params.get("content", "")
    handler = _HANDLERS.get(content)
    if handler is None:
        return error_reply(400, 'The value of the parameter "content" is not valid', ret)
    try:
        return handler(_Call(project, scope, params, fmt, ret, drop_rows))
    except _Refusal as exc:
        return error_reply(exc.status, exc.message, ret)


class _Call:
    def __init__(self, project: Project, scope: Scope, params: Mapping[str, str], fmt: str,
                 ret: str, drop_rows: RowDropper | None) -> None:
        self.project, self.scope, self.params = project, scope, params
        self.fmt, self.ret, self.drop_rows = fmt, ret, drop_rows

    def get(self, key: str) -> str:
        return self.params.get(key, "")


def _invalid(param: str, bad: Sequence[str]) -> _Refusal:
    quoted = ", ".join(f"'{b}'" for b in bad)
    return _Refusal(400, f'The following values in the parameter "{param}" are not valid: '
                         f"{quoted}")


# -- records -------------------------------------------------------------------------
def _record(call: _Call) -> Reply:
    action = call.get("action").lower()
    if action == "delete":
        return _delete(call)
    if action == "import" or "data" in call.params:
        return _import(call)
    return _export(call)


def _columns(call: _Call) -> list[Column]:
    schema = call.project.schema
    fields, forms = list_param(call.params, "fields"), list_param(call.params, "forms")
    bad = schema.unknown_fields(fields)
    if bad:
        raise _invalid("fields", bad)
    bad_forms = [f for f in forms if f not in schema.forms]
    if bad_forms:
        raise _invalid("forms", bad_forms)
    if not fields and not forms:
        return list(schema.columns)
    return schema.columns_for(fields + schema.form_columns(forms))


def _header(project: Project, columns: Sequence[Column], dag_column: bool) -> list[str]:
    schema = project.schema
    names = [c.name for c in columns]
    head = []
    if schema.id_field in names:
        head.append(schema.id_field)
        if schema.repeating:
            head += ["redcap_repeat_instrument", "redcap_repeat_instance"]
    if dag_column:
        head.append("redcap_data_access_group")
    return head + [n for n in names if n != schema.id_field]


def _label_header(project: Project, name: str) -> str:
    schema = project.schema
    fixed = {"redcap_repeat_instrument": "Repeat Instrument",
             "redcap_repeat_instance": "Repeat Instance",
             "redcap_data_access_group": "Data Access Group"}
    if name in fixed:
        return fixed[name]
    col = schema.column_index[name]
    if col.kind == "complete":
        return "Complete?"
    label = schema.fields[col.field]["field_label"]
    if col.kind == "checkbox":
        return f"{label} (choice={schema.choices[col.field][col.code]})"
    return label


def _export(call: _Call) -> Reply:
    project, scope = call.project, call.scope
    kind = call.get("type").lower() or "flat"
    columns = _columns(call)
    ids = project.visible_ids(scope, list_param(call.params, "records") or None)
    window = parse_window(call.get("dateRangeBegin"), call.get("dateRangeEnd"),
                          project.clock.now())
    if window is not None:
        ids = project.changed_between(ids, *window)
    if call.drop_rows is not None:
        ids = call.drop_rows(ids)
    dag_column = (bool_param(call.params, "exportDataAccessGroups") and scope.dag is None
                  and bool(project.dags))
    label = call.get("rawOrLabel").lower() == "label"
    rows = project.export_rows(
        ids, columns, dag_column=dag_column, label=label,
        checkbox_labels=bool_param(call.params, "exportCheckboxLabel"),
        blank_gray=bool_param(call.params, "exportBlankForGrayFormStatus"))
    if kind == "eav":
        return data_reply(_eav(project, rows), call.fmt)
    header = _header(project, columns, dag_column)
    if call.fmt == "csv" and call.get("rawOrLabelHeaders").lower() == "label":
        names = [_label_header(project, h) if h != project.schema.id_field
                 else project.schema.fields[h]["field_label"] for h in header]
        rows = [dict(zip(names, r.values(), strict=True)) for r in rows]
        header = names
    return data_reply(rows, call.fmt, header=header)


def _eav(project: Project, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """EAV: `record, [repeat cols], field_name, value`, blank cells left out (§2)."""
    id_field = project.schema.id_field
    keep = ("redcap_repeat_instrument", "redcap_repeat_instance")
    out = []
    for row in rows:
        head = {"record": row.get(id_field, "")}
        head.update({k: row[k] for k in keep if k in row})
        for key, value in row.items():
            if key in (id_field, "redcap_data_access_group") or key in keep or value == "":
                continue
            out.append({**head, "field_name": key, "value": value})
    return out


def _count_reply(call: _Call, n: int) -> Reply:
    if call.ret == "xml":
        return text_reply(f'<?xml version="1.0" encoding="UTF-8" ?><count>{n}</count>',
                          content_type="text/xml")
    return text_reply(str(n), content_type="application/json" if call.ret == "json"
                      else "text/csv")


def _import(call: _Call) -> Reply:
    project, scope = call.project, call.scope
    fmt = call.get("format").lower() or "xml"
    if fmt not in ("json", "csv"):
        raise _Refusal(400, "The sandbox imports json or csv only (format=json|csv).")
    try:
        with project.lock:
            rows = parse_import(project, scope, call.get("data"), fmt,
                                call.get("dateFormat").upper() or "YMD")
            auto = bool_param(call.params, "forceAutoNumber")
            done = project.import_rows(scope, rows,
                                       overwrite=call.get("overwriteBehavior") == "overwrite",
                                       auto_number=auto)
    except ImportRefused as exc:
        raise _Refusal(400, exc.message) from exc
    what = call.get("returnContent").lower() or "count"
    if what == "nothing":
        return text_reply("", content_type="application/json")
    if what == "ids":
        return data_reply([{"id": rid} for rid, _ in done], call.ret) if call.ret != "json" \
            else text_reply(_json_list([rid for rid, _ in done]), content_type="application/json")
    if what == "auto_ids" and auto:
        pairs = [f"{rid},{sent}" for rid, sent in done]
        return text_reply(_json_list(pairs), content_type="application/json") \
            if call.ret == "json" else data_reply([{"id": p} for p in pairs], call.ret)
    if call.ret == "json":
        return text_reply(f'{{"count":{len(done)}}}', content_type="application/json")
    return _count_reply(call, len(done))


def _json_list(items: list[str]) -> str:
    return json.dumps(items)


def _delete(call: _Call) -> Reply:
    ids = list_param(call.params, "records")
    if not ids:
        raise _Refusal(400, "You must specify at least one record in the parameter "
                            '"records" to delete.')
    instrument = call.get("instrument")
    if instrument and instrument not in call.project.schema.forms:
        raise _invalid("instrument", [instrument])
    instance = call.get("repeat_instance")
    try:
        n = call.project.delete(call.scope, ids, instrument=instrument,
                                repeat_instance=int(instance) if instance.isdigit() else None)
    except KeyError as exc:
        raise _Refusal(400, "One or more of the records provided cannot be deleted because "
                            "they do not exist in the project. The following records do not "
                            f"exist: {exc.args[0]}") from exc
    return _count_reply(call, n)


# -- everything else -----------------------------------------------------------------
def _metadata(call: _Call) -> Reply:
    schema = call.project.schema
    fields, forms = list_param(call.params, "fields"), list_param(call.params, "forms")
    bad = [f for f in fields if f not in schema.fields]
    if bad:
        raise _invalid("fields", bad)
    bad = [f for f in forms if f not in schema.forms]
    if bad:
        raise _invalid("forms", bad)
    rows = schema.filtered_metadata(fields, forms)
    return data_reply(rows, call.fmt, header=list(schema.metadata[0]))


def _field_names(call: _Call) -> Reply:
    schema = call.project.schema
    only = call.get("field") or None
    if only is not None and only not in schema.fields and \
            not (only.endswith("_complete") and only in schema.column_index):
        raise _Refusal(400, "Invalid field")
    return data_reply(schema.export_field_names(only), call.fmt,
                      header=["original_field_name", "choice_value", "export_field_name"])


def _project_info(call: _Call) -> Reply:
    return data_reply(call.project.project_info, call.fmt, root="project")


def _version(call: _Call) -> Reply:
    return text_reply(REDCAP_VERSION)


def _repeating(call: _Call) -> Reply:
    forms = call.project.schema.repeating
    if not forms:
        raise _Refusal(400, "You cannot export repeating instruments and events because the "
                            "project does not contain any repeating instruments and events")
    return data_reply([{"form_name": f, "custom_form_label": ""} for f in forms], call.fmt,
                      header=["form_name", "custom_form_label"])


def _dag(call: _Call) -> Reply:
    if call.scope.dag is not None:
        raise _Refusal(403, DAG_FORBIDDEN)
    return data_reply(call.project.dags, call.fmt, header=[
        "data_access_group_name", "unique_group_name", "data_access_group_id"])


def _user_dag_mapping(call: _Call) -> Reply:
    if call.scope.dag is not None:
        raise _Refusal(403, DAG_FORBIDDEN)
    project = call.project
    rows = [{"username": "sandbox_admin", "redcap_data_access_group": ""}]
    rows += [{"username": f"sandbox_{d}", "redcap_data_access_group": d} for d in project.dag_ids]
    return data_reply(rows, call.fmt, header=["username", "redcap_data_access_group"])


def _classic(what: str) -> Callable[[_Call], Reply]:
    def refuse(call: _Call) -> Reply:
        raise _Refusal(400, f"You cannot export {what} for classic projects")
    return refuse


def _instruments(call: _Call) -> Reply:
    schema = call.project.schema
    return data_reply([{"instrument_name": f, "instrument_label": schema.form_label(f)}
                       for f in schema.forms], call.fmt,
                      header=["instrument_name", "instrument_label"])


def _log(call: _Call) -> Reply:
    begin = _parse_when(call.get("beginTime"), False)
    end = _parse_when(call.get("endTime"), True)
    rows = call.project.log_rows(
        call.scope, logtype=call.get("logtype"), user=call.get("user"),
        record=call.get("record"), dag=call.get("dag"),
        begin=begin.replace(second=0) if begin else None,  # REDCap cuts the filter to minutes
        end=end.replace(second=59) if end else None)
    return data_reply(rows, call.fmt, header=["timestamp", "username", "action", "details",
                                              "record"])


def _report(call: _Call) -> Reply:
    """The sandbox project has no reports: every report_id belongs elsewhere (§3)."""
    report_id = call.get("report_id")
    raise _Refusal(403, f"The API request cannot complete because report_id={report_id} does "
                        "not belong to this project.")


def _next_name(call: _Call) -> Reply:
    return text_reply(call.project.next_record_name(call.scope))


_HANDLERS: dict[str, Callable[[_Call], Reply]] = {
    "record": _record, "metadata": _metadata, "exportFieldNames": _field_names,
    "project": _project_info, "version": _version, "repeatingFormsEvents": _repeating,
    "dag": _dag, "userDagMapping": _user_dag_mapping, "instrument": _instruments,
    "formEventMapping": _classic("form/event mappings"), "arm": _classic("arms"),
    "event": _classic("events"), "log": _log, "report": _report,
    "generateNextRecordName": _next_name,
}
