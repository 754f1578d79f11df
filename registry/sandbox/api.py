"""The `/api/` endpoint: REDCap's request parameters in, REDCap's replies out.

`handle(project, params)` takes the decoded form fields of one POST and returns a
`Reply`. It dispatches on `content` (plus `action` and `data` for records) exactly
as REDCap 15.7.6 does for the calls PyCap makes (REDCAP_API.md §1-§5): token first
(403), then content (400), then the parameters of that content. Records are handled
here; every other content in `registry.sandbox.api_project`. `filterLogic` is
accepted and ignored (not implemented).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from registry.sandbox.api_project import HANDLERS, REDCAP_VERSION
from registry.sandbox.formats import FORMATS, Reply, data_reply, error_reply, text_reply
from registry.sandbox.imports import ImportRefused, parse_import
from registry.sandbox.project import Project
from registry.sandbox.request import (
    Call,
    Refusal,
    RowDropper,
    bool_param,
    invalid,
    is_list_param,
    list_param,
    parse_window,
)
from registry.sandbox.schema import Column

__all__ = ["REDCAP_VERSION", "RowDropper", "bool_param", "handle", "list_param",
           "parse_window"]

NO_PERMISSION = "You do not have permissions to use the API"
_FIXED_LABELS = {"redcap_event_name": "Event Name", "redcap_repeat_instrument": "Repeat Instrument",
                 "redcap_repeat_instance": "Repeat Instance",
                 "redcap_data_access_group": "Data Access Group"}


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
    handler = _record if content == "record" else HANDLERS.get(content)
    if handler is None:
        return error_reply(400, 'The value of the parameter "content" is not valid', ret)
    try:
        return handler(Call(project, scope, params, fmt, ret, drop_rows))
    except Refusal as exc:
        return error_reply(exc.status, exc.message, ret)


# -- records -------------------------------------------------------------------------
def _record(call: Call) -> Reply:
    action = call.get("action").lower()
    if action == "delete":
        return _delete(call)
    if action == "import" or "data" in call.params:
        return _import(call)
    return _export(call)


def _columns(call: Call) -> list[Column]:
    schema = call.project.schema
    fields, forms = call.list("fields"), call.list("forms")
    bad = schema.unknown_fields(fields)
    if bad:
        raise invalid("fields", bad)
    bad_forms = [f for f in forms if f not in schema.forms]
    if bad_forms:
        raise invalid("forms", bad_forms)
    if not fields and not forms:
        return list(schema.columns)
    return schema.columns_for(fields + schema.form_columns(forms))


def _events(call: Call) -> list[str] | None:
    """The `events[]` filter of a longitudinal project (ignored on a classic one)."""
    design = call.project.design
    if not design.longitudinal:
        return None
    events = call.list("events")
    if is_list_param(call.params, "events"):
        bad = list(dict.fromkeys(e for e in events if design.event(e) is None))
        if bad:
            raise invalid("events", bad)
    return events or None


def _header(project: Project, columns: Sequence[Column], dag_column: bool) -> list[str]:
    schema = project.schema
    names = [c.name for c in columns]
    head = []
    if schema.id_field in names:
        head.append(schema.id_field)
        if schema.design.longitudinal:
            head.append("redcap_event_name")
        if schema.has_repeating:
            head += ["redcap_repeat_instrument", "redcap_repeat_instance"]
    if dag_column:
        head.append("redcap_data_access_group")
    return head + [n for n in names if n != schema.id_field]


def _label_header(project: Project, name: str) -> str:
    schema = project.schema
    if name in _FIXED_LABELS:
        return _FIXED_LABELS[name]
    col = schema.column_index[name]
    if col.kind == "complete":
        return "Complete?"
    label = schema.fields[col.field]["field_label"]
    if col.kind == "checkbox":
        return f"{label} (choice={schema.choices[col.field][col.code]})"
    return label


def _export(call: Call) -> Reply:
    project, scope = call.project, call.scope
    kind = call.get("type").lower() or "flat"
    events = _events(call)
    columns = _columns(call)
    ids = project.visible_ids(scope, call.list("records") or None)
    window = parse_window(call.get("dateRangeBegin"), call.get("dateRangeEnd"),
                          project.clock.now())
    if window is not None:
        ids = project.changed_between(ids, *window)
    if call.drop_rows is not None:
        ids = call.drop_rows(ids)
    dag_column = (call.flag("exportDataAccessGroups") and scope.dag is None
                  and bool(project.dags))
    label = call.get("rawOrLabel").lower() == "label"
    rows = project.export_rows(
        ids, columns, dag_column=dag_column, label=label,
        checkbox_labels=call.flag("exportCheckboxLabel"),
        blank_gray=call.flag("exportBlankForGrayFormStatus"), events=events)
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
    """EAV: `record, [redcap_event_name], [repeat cols], field_name, value`, blanks left
    out (§2)."""
    id_field = project.schema.id_field
    keep = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance")
    out = []
    for row in rows:
        head = {"record": row.get(id_field, "")}
        head.update({k: row[k] for k in keep if k in row})
        for key, value in row.items():
            if key in (id_field, "redcap_data_access_group") or key in keep or value == "":
                continue
            out.append({**head, "field_name": key, "value": value})
    return out


def _count_reply(call: Call, n: int) -> Reply:
    if call.ret == "xml":
        return text_reply(f'<?xml version="1.0" encoding="UTF-8" ?><count>{n}</count>',
                          content_type="text/xml")
    return text_reply(str(n), content_type="application/json" if call.ret == "json"
                      else "text/csv")


def _import(call: Call) -> Reply:
    project, scope = call.project, call.scope
    fmt = call.get("format").lower() or "xml"
    if fmt not in ("json", "csv"):
        raise Refusal(400, "The sandbox imports json or csv only (format=json|csv).")
    try:
        with project.lock:
            rows = parse_import(project, scope, call.get("data"), fmt,
                                call.get("dateFormat").upper() or "YMD",
                                overwrite=call.get("overwriteBehavior") == "overwrite")
            auto = call.flag("forceAutoNumber")
            done = project.import_rows(scope, rows,
                                       overwrite=call.get("overwriteBehavior") == "overwrite",
                                       auto_number=auto)
    except ImportRefused as exc:
        raise Refusal(400, exc.message) from exc
    what = call.get("returnContent").lower() or "count"
    if what == "nothing":
        return text_reply("", content_type="application/json")
    if what == "ids":
        return data_reply([{"id": rid} for rid, _ in done], call.ret) if call.ret != "json" \
            else text_reply(json.dumps([rid for rid, _ in done]),
                            content_type="application/json")
    if what == "auto_ids" and auto:
        pairs = [f"{rid},{sent}" for rid, sent in done]
        return text_reply(json.dumps(pairs), content_type="application/json") \
            if call.ret == "json" else data_reply([{"id": p} for p in pairs], call.ret)
    if call.ret == "json":  # API/record/import.php writes it so, with the space
        return text_reply(f'{{"count": {len(done)}}}', content_type="application/json")
    return _count_reply(call, len(done))


def _delete(call: Call) -> Reply:
    ids = call.list("records")
    if not ids:
        raise Refusal(400, "You must specify at least one record in the parameter "
                           '"records" to delete.')
    project = call.project
    instrument, event, arm = call.get("instrument"), call.get("event"), call.get("arm")
    if instrument and instrument not in project.schema.forms:
        raise invalid("instrument", [instrument])
    if event and project.design.event(event) is None:
        raise invalid("event", [event])
    if arm and not any(str(a.number) == arm for a in project.design.arms):
        raise invalid("arm", [arm])
    instance = call.get("repeat_instance")
    try:
        n = project.delete(call.scope, ids, instrument=instrument, event=event, arm=arm,
                           repeat_instance=int(instance) if instance.isdigit() else None)
    except KeyError as exc:
        raise Refusal(400, "One or more of the records provided cannot be deleted because "
                           "they do not exist in the project. The following records do not "
                           f"exist: {exc.args[0]}") from exc
    return _count_reply(call, n)
