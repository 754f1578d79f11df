"""The API's non-record methods: the project's design, DAGs, log, version and the like.

Each handler takes a `Call` and returns a `Reply`, or raises `Refusal` with REDCap's
message (REDCAP_API.md §2-§4). Longitudinal contents (`event`, `arm`,
`formEventMapping`) refuse a classic project as REDCap 15.7.6 does, and take the
`arms` filter; `event` rows carry `event_id` (15.x adds it to every API export, the
Mobile App's aside), which the pull needs for `&event_id=` links.
"""

from __future__ import annotations

from collections.abc import Callable

from registry.sandbox.formats import Reply, data_reply, text_reply
from registry.sandbox.request import Call, Refusal, invalid, parse_when
from registry.sandbox.users import USER_HANDLERS, user_dag_rows

__all__ = ["DAG_FORBIDDEN", "HANDLERS", "REDCAP_VERSION"]

#: What `content=version` answers.
REDCAP_VERSION = "15.7.6"
DAG_FORBIDDEN = ("You do not have permission to export/import/delete Data Access Groups "
                 "because you have been assigned to a Data Access Group.")
_EVENT_HEADER = ["event_name", "arm_num", "unique_event_name", "custom_event_label", "event_id"]
_SCHEDULED_HEADER = ["event_name", "arm_num", "day_offset", "offset_min", "offset_max",
                     "unique_event_name", "custom_event_label", "event_id"]


def _metadata(call: Call) -> Reply:
    schema = call.project.schema
    fields, forms = call.list("fields"), call.list("forms")
    bad = [f for f in fields if f not in schema.fields]
    if bad:
        raise invalid("fields", bad)
    bad = [f for f in forms if f not in schema.forms]
    if bad:
        raise invalid("forms", bad)
    rows = schema.filtered_metadata(fields, forms)
    call.project.log_manage(call.scope.username, "Download data dictionary (API)")
    return data_reply(rows, call.fmt, header=list(schema.metadata[0]))


def _field_names(call: Call) -> Reply:
    schema = call.project.schema
    only = call.get("field") or None
    if only is not None and only not in schema.fields and \
            not (only.endswith("_complete") and only in schema.column_index):
        raise Refusal(400, "Invalid field")
    return data_reply(schema.export_field_names(only), call.fmt,
                      header=["original_field_name", "choice_value", "export_field_name"])


def _project_info(call: Call) -> Reply:
    return data_reply(call.project.project_info, call.fmt, root="project")


def _version(call: Call) -> Reply:
    return text_reply(REDCAP_VERSION)


def _repeating(call: Call) -> Reply:
    design = call.project.design
    if not design.has_repeating:
        raise Refusal(400, "You cannot export repeating instruments and events because the "
                           "project does not contain any repeating instruments and events")
    header = (["event_name"] if design.longitudinal else []) + ["form_name",
                                                                "custom_form_label"]
    return data_reply(design.repeating_rows(), call.fmt, header=header)


def _dag(call: Call) -> Reply:
    if call.scope.dag is not None:
        raise Refusal(403, DAG_FORBIDDEN)
    return data_reply(call.project.dags, call.fmt, header=[
        "data_access_group_name", "unique_group_name", "data_access_group_id"])


def _user_dag_mapping(call: Call) -> Reply:
    if call.scope.dag is not None:
        raise Refusal(403, DAG_FORBIDDEN)
    return data_reply(user_dag_rows(call.project), call.fmt,
                      header=["username", "redcap_data_access_group"])


def _longitudinal(what: str, build: Callable[[Call], Reply]) -> Callable[[Call], Reply]:
    def handler(call: Call) -> Reply:
        if not call.project.design.longitudinal:
            raise Refusal(400, f"You cannot export {what} for classic projects")
        return build(call)
    return handler


def _events(call: Call) -> Reply:
    design = call.project.design
    header = _SCHEDULED_HEADER if design.scheduling else _EVENT_HEADER
    return data_reply(design.event_rows(call.list("arms")), call.fmt, header=header,
                      root="events")


def _arms(call: Call) -> Reply:
    return data_reply(call.project.design.arm_rows(call.list("arms")), call.fmt,
                      header=["arm_num", "name"], root="arms")


def _mapping(call: Call) -> Reply:
    rows = call.project.design.mapping_rows(call.list("arms"))
    return data_reply(rows, call.fmt, header=["arm_num", "unique_event_name", "form"],
                      root="items")


def _instruments(call: Call) -> Reply:
    schema = call.project.schema
    return data_reply([{"instrument_name": f, "instrument_label": schema.form_label(f)}
                       for f in schema.forms], call.fmt,
                      header=["instrument_name", "instrument_label"])


def _log(call: Call) -> Reply:
    begin = parse_when(call.get("beginTime"), False)
    end = parse_when(call.get("endTime"), True)
    rows = call.project.log_rows(
        call.scope, logtype=call.get("logtype"), user=call.get("user"),
        record=call.get("record"), dag=call.get("dag"),
        begin=begin.replace(second=0) if begin else None,  # REDCap cuts the filter to minutes
        end=end.replace(second=59) if end else None)
    return data_reply(rows, call.fmt, header=["timestamp", "username", "action", "details",
                                              "record"])


def _report(call: Call) -> Reply:
    """The sandbox project has no reports: every report_id belongs elsewhere (§3)."""
    report_id = call.get("report_id")
    raise Refusal(403, f"The API request cannot complete because report_id={report_id} does "
                       "not belong to this project.")


def _next_name(call: Call) -> Reply:
    return text_reply(call.project.next_record_name(call.scope))


HANDLERS: dict[str, Callable[[Call], Reply]] = {
    "metadata": _metadata, "exportFieldNames": _field_names, "project": _project_info,
    "version": _version, "repeatingFormsEvents": _repeating, "dag": _dag,
    "userDagMapping": _user_dag_mapping, "instrument": _instruments,
    "formEventMapping": _longitudinal("form/event mappings", _mapping),
    "arm": _longitudinal("arms", _arms), "event": _longitudinal("events", _events),
    "log": _log, "report": _report, "generateNextRecordName": _next_name,
    **USER_HANDLERS,
}
