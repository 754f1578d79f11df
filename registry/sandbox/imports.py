"""Parse and validate a record import the way REDCap does before it writes anything.

REDCap refuses the whole import when any value is wrong and lists every problem,
one line each as `"record","field","value","message"` joined by newlines
(REDCAP_API.md §3). Unknown columns, unreadable data and a missing id column are
refused with a single plain message instead. Dates are normalised to Y-M-D per
`dateFormat` (§7) so the stored value is what a later export returns.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from typing import Any

from registry.sandbox.project import Project, Scope

__all__ = ["ImportRefused", "parse_import"]

_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2})(:\d{2})?$")
_INT = re.compile(r"^[-+]?\d+$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_BAD_NAME = re.compile(r"[+&#']")
_DATE_MSG = ("Invalid date format. (NOTE: Dates must be imported here only in Y-M-D format, "
             "regardless of the specific date format designated for this field.)")
# REDCap's own text, as quoted in PyCap issue #154
_NOT_REPEATING = ("redcap_repeat_instrument must be the unique form name of a Repeating "
                  "Instrument. It currently does not match the unique form name of any "
                  "Repeating Instruments.  Please fix this in the data import file and try "
                  "again.")
_SPECIAL = {"redcap_repeat_instrument", "redcap_repeat_instance", "redcap_data_access_group"}


class ImportRefused(Exception):
    """The import is refused; `message` is REDCap's error text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _read(data: str, fmt: str) -> list[dict[str, str]]:
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data)))
        return [{k: (v or "") for k, v in r.items() if k is not None} for r in rows]
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ImportRefused("The data being imported is not formatted correctly. PHP error "
                            f"from JSON decoder: Syntax error ({exc.msg})") from exc
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list) or not all(isinstance(r, dict) for r in parsed):
        raise ImportRefused("The data being imported is not formatted correctly. PHP error "
                            "from JSON decoder: expected a list of objects")
    return [{str(k): _text(v) for k, v in r.items()} for r in parsed]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _normalise_date(value: str, date_format: str) -> str:
    value = value.replace("T", " ")
    head, _, tail = value.partition(" ")
    if "/" in head:
        parts = head.split("/")
        if len(parts) == 3:
            if date_format == "DMY":
                parts = [parts[2], parts[1], parts[0]]
            elif date_format == "MDY":
                parts = [parts[2], parts[0], parts[1]]
            head = "-".join(parts)
    return f"{head} {tail}" if tail else head


def _check_date(value: str, with_time: bool) -> str | None:
    m = (_DATETIME if with_time else _DATE).match(value)
    if not m:
        return None
    try:
        day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    if with_time:
        hh, mm = int(m.group(4)), int(m.group(5))
        if hh > 23 or mm > 59:
            return None
        return f"{day.isoformat()} {hh:02d}:{mm:02d}{m.group(6) or ''}"
    return day.isoformat()


def _check_value(project: Project, column: str, value: str, date_format: str
                 ) -> tuple[str, str | None]:
    """(stored value, error message or None) for one non-empty cell."""
    schema = project.schema
    col = schema.column_index[column]
    if col.kind == "checkbox":
        return value, (None if value in ("0", "1")
                       else f"The value is not a valid category for {column}")
    if col.kind in ("radio", "dropdown", "yesno", "truefalse", "complete"):
        ok = value in schema.choices[col.field]
        return value, None if ok else f"The value is not a valid category for {column}"
    if col.kind != "text":
        return value, None
    validation = schema.fields[col.field]["text_validation_type_or_show_slider_number"]
    if validation in ("date", "date_ymd", "date_dmy", "date_mdy") or \
            validation.startswith("datetime"):
        fixed = _check_date(_normalise_date(value, date_format), validation.startswith("datetime"))
        return (fixed or value), (None if fixed else _DATE_MSG)
    if validation in ("int", "integer") and not _INT.match(value):
        return value, f"The value of {column} must be an integer."
    if validation in ("float", "number") and not _NUMBER.match(value):
        return value, f"The value of {column} must be a number."
    return value, None


def _line(record: str, field: str, value: str, message: str) -> str:
    return f'"{record}","{field}","{value}","{message}"'


def parse_import(project: Project, scope: Scope, data: str, fmt: str,
                 date_format: str = "YMD") -> list[dict[str, str]]:
    """Rows ready for `Project.import_rows`, or `ImportRefused` with REDCap's message."""
    rows = _read(data, fmt)
    if date_format not in ("YMD", "DMY", "MDY"):
        date_format = "YMD"
    schema, id_field = project.schema, project.schema.id_field
    if not rows:
        return []
    keys = list(dict.fromkeys(k for r in rows for k in r))
    unknown = [k for k in keys if k not in schema.column_index and k not in _SPECIAL]
    if unknown:
        raise ImportRefused("The following fields were not found in the project as real data "
                            f"fields: {', '.join(unknown)}")
    if id_field not in keys:
        raise ImportRefused(f"The record ID field ({id_field}) is missing from the data "
                            "being imported.")
    errors: list[str] = []
    clean_rows = []
    for row in rows:
        rid = row.get(id_field, "")
        clean = {id_field: rid}
        if rid == "" or _BAD_NAME.search(rid):
            errors.append(_line(rid, id_field, rid, "Record names may not be blank or "
                                "contain a plus sign, ampersand, pound sign or apostrophe."))
        existing = project.records.get(rid)
        if scope.dag is not None and existing is not None and existing.dag != scope.dag:
            errors.append(_line(rid, id_field, rid, "This record exists in another Data "
                                "Access Group, so you cannot modify it."))
        form = row.get("redcap_repeat_instrument", "")
        if form:
            instance = row.get("redcap_repeat_instance", "")
            if not schema.is_repeating(form):
                errors.append(_line(rid, "redcap_repeat_instrument", form, _NOT_REPEATING))
            elif instance != "new" and not (instance.isdigit() and int(instance) >= 1):
                errors.append(_line(rid, "redcap_repeat_instance", instance,
                                    "The repeat instance must be a positive integer."))
            clean["redcap_repeat_instrument"] = form
            clean["redcap_repeat_instance"] = instance or "1"
        dag = row.get("redcap_data_access_group", "")
        if dag and scope.dag is None:
            if dag not in project.dag_ids:
                errors.append(_line(rid, "redcap_data_access_group", dag,
                                    "The value is not a valid unique group name."))
            clean["redcap_data_access_group"] = dag
        for key, value in row.items():
            if key in _SPECIAL or key == id_field:
                continue
            if value != "":
                value, problem = _check_value(project, key, value, date_format)
                if problem:
                    errors.append(_line(rid, key, value, problem))
            clean[key] = value
        clean_rows.append(clean)
    if errors:
        raise ImportRefused("\n".join(errors))
    return clean_rows

