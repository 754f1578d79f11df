"""Parse and check a record import the way REDCap 15.7.6 does before it writes anything.

REDCap refuses the whole import when anything is wrong. Problems with the data set as
a whole (a blank record id, a bad event name or repeat instance, unknown columns,
unknown DAGs, a DAG member touching another DAG's record) end it with one plain
message; problems with values are listed one line each, `"record","field","value",
"message"` (quotes doubled inside), joined by newlines (REDCAP_API.md §3). A field
gets one line, with the last message REDCap's checks gave it (the form-event check
comes last, so it wins). Only values that change are checked (`validation.py`): a
stored value REDCap would refuse today passes again unchanged.

Rows are checked where they land: a longitudinal row on `redcap_event_name` (the first
event when the column is absent), a repeat row on its form (or repeating event) and
instance. A field whose form the event does not hold, a repeating form's field on a
base row, another form's field on a repeat row: each is refused with REDCap's text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from registry.sandbox.project import Project
from registry.sandbox.tokens import Scope
from registry.sandbox.validation import FieldRules, check_value, field_rules, is_php_integer

__all__ = ["ImportRefused", "parse_import"]

_SPECIAL = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
            "redcap_data_access_group", "redcap_survey_identifier")
_NOT_REPEATING = ("redcap_repeat_instrument must be the unique form name of a Repeating "
                  "Instrument. It currently does not match the unique form name of any "
                  "Repeating Instruments.  Please fix this in the data import file and try "
                  "again.")
_INSTANCE_NOT_ALLOWED = (
    "redcap_repeat_instance cannot have a value since this instrument or event is not a "
    "repeating instrument or repeating event, respectively.  The redcap_repeat_instance "
    "field must be left blank for this row of data.")
_INSTANCE_RANGE = ("redcap_repeat_instance must have a numeric value between '1' and '32767' "
                   "for any Repeating Event or Repeating Instrument.  Please add a valid "
                   "numeric value to redcap_repeat_instance in the data import file and try "
                   "again.")
_EVENT_INSTRUMENT = ("redcap_repeat_instrument should not have a value. This is a Repeating "
                     "Event, which must always have a blank value for the "
                     "redcap_repeat_instrument field.  Please remove this value from the data "
                     "import file and try again.")
_NOT_ON_BASE = ("However, the fields 'redcap_repeat_instance' and/or "
                "'redcap_repeat_instrument' for this row of data have no value, which are "
                "both required for importing data into a Repeating Instrument.  You are not "
                "allowed to import data for this field into a non-repeating instrument.")
_REPEAT_FIELDS = (
    "ERROR: Trying to import repeat instance/instrument fields! The fields "
    "'redcap_repeat_instrument' and 'redcap_repeat_instance' are reserved for when "
    "'Repeating Instruments and Events' have been  enabled on the Project Setup page. This "
    "project does not have that feature enabled, so you may not import data with those "
    "fields.")
_DAG_FIELD = (
    "ERROR: Illegal use of 'redcap_data_access_group' field! You are currently in a Data "
    "Access Group, which means that you can only edit records belonging to your group,  and "
    "also that any new records you create get added to your group automatically. Using the "
    "'redcap_data_access_group' field as a means  to add or attribute a record to a group "
    "can ONLY be done by someone that is NOT in a Data Access Group. Please remove that "
    "column  from your data import file and try again.")
_OTHER_DAG = ("This record cannot be imported because it already exists in the project and "
              "belongs to another Data Access Group.")


class ImportRefused(Exception):
    """The import is refused; `message` is REDCap's error text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _read(data: str, fmt: str) -> list[dict[str, str]]:
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data.lstrip("\ufeff"))))
        return [{k.strip(): (v or "") for k, v in r.items() if k is not None} for r in rows]
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


def _line(record: str, field: str, value: str, message: str) -> str:
    def q(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'
    return ",".join((q(record), q(field), q(value), q(message.replace("\n", " "))))


class _Checker:
    """Everything one import needs to know about the project, computed once."""

    def __init__(self, project: Project, scope: Scope, date_format: str,
                 overwrite: bool) -> None:
        self.project, self.scope, self.overwrite = project, scope, overwrite
        self.schema, self.design = project.schema, project.design
        self.date_format = date_format if date_format in ("YMD", "DMY", "MDY") else "YMD"
        self.now = project.clock.now()
        self.rules: dict[str, FieldRules] = {}
        for col in self.schema.columns:
            row = self.schema.fields.get(col.field) if col.kind != "complete" else None
            kind = self.schema.fields[col.field]["field_type"] if row else col.kind
            self.rules[col.name] = field_rules(col.name, "checkbox" if col.kind == "checkbox"
                                               else kind, row,
                                               frozenset(self.schema.choices.get(col.field, ())))

    # -- the data set as a whole (one plain message) ------------------------------------
    def keys(self, rows: list[dict[str, str]]) -> list[tuple[str, str, str, str]]:
        """(record, event, instrument, instance) of each row; refuses what REDCap refuses
        while reading the rows."""
        id_field, design = self.schema.id_field, self.design
        first_event = design.event_names[0]
        if not design.has_repeating and rows and (
                "redcap_repeat_instrument" in rows[0] or "redcap_repeat_instance" in rows[0]):
            raise ImportRefused(_REPEAT_FIELDS)
        out = []
        for row in rows:
            rid = row.get(id_field, "").strip()
            event = row.get("redcap_event_name", first_event).strip() \
                if design.longitudinal else ""
            if rid == "":
                raise ImportRefused(f"The record id field ({id_field}) is missing.")
            if len(rid) > 100:
                raise ImportRefused("Record names must be 100 characters or less in length. "
                                    "The following record name is too long and thus cannot "
                                    f"be imported: {rid}")
            if "\n" in rid or "\r" in rid or "<br" in rid.lower():
                raise ImportRefused("Record names cannot contain BR tags, line breaks, or "
                                    "carriage return characters. The following record name "
                                    "contains a BR tag, line break, or carriage return, and "
                                    f"thus cannot be imported: {rid}")
            if design.longitudinal and event == "":
                raise ImportRefused("The record event name is missing.")
            if any(c in rid for c in "+'&#"):
                raise ImportRefused(f"The record name ({rid}) cannot contain a plus sign (+), "
                                    "ampersand (&), pound sign (#), or apostrophe.")
            instance = row.get("redcap_repeat_instance", "")
            if instance not in ("", "new") and not (is_php_integer(instance)
                                                    and int(instance) >= 1):
                raise ImportRefused(
                    f"The record name ({rid}) has an invalid value for "
                    "'redcap_repeat_instance'. The value must either be a positive integer or "
                    f"the value 'new'. Value provided: {instance}")
            if design.is_repeating_event(event) and "redcap_repeat_instance" not in row:
                raise ImportRefused(
                    f'The record name ({rid}) with event "{event}" cannot be imported. This is '
                    "because this event is a repeating event, but the field "
                    "'redcap_repeat_instance' could not be found in the data import fields.  "
                    "In order to import data for a repeating event, the field "
                    "'redcap_repeat_instance' is required in the imported data set.")
            form = row.get("redcap_repeat_instrument", "") if instance else ""
            if (not design.longitudinal and design.has_repeating and instance.isdigit()
                    and not form):
                raise ImportRefused(
                    f'The record name ({rid}) with redcap_repeat_instance "{instance}" cannot be '
                    "imported. This is because the field 'redcap_repeat_instrument' could not "
                    "be found in the data import fields or because it has a blank value.  In "
                    "order to import data for a repeating instrument, the field "
                    "'redcap_repeat_instrument' is required in the imported data set.")
            out.append((rid, event, form, instance))
        return out

    def columns(self, rows: list[dict[str, str]]) -> None:
        names = list(dict.fromkeys(k for r in rows for k in r))
        index = self.schema.column_index
        unknown = [n for n in names if n not in index and n not in _SPECIAL
                   and not (n.endswith("_timestamp") and n[:-10] in self.schema.forms)]
        if unknown:
            raise ImportRefused("The following fields were not found in the project as real "
                                f"data fields: {', '.join(n or '[blank]' for n in unknown)}")
        if self.design.longitudinal:
            bad = list(dict.fromkeys(r["redcap_event_name"] for r in rows
                                     if "redcap_event_name" in r
                                     and self.design.event(r["redcap_event_name"]) is None))
            if bad:
                raise ImportRefused("The following values of redcap_event_name are invalid: "
                                    + ", ".join(bad))

    def dags(self, rows: list[dict[str, str]], ids: list[str]) -> None:
        has_column = any("redcap_data_access_group" in r for r in rows)
        records = self.project.records
        if self.scope.dag is None:
            bad = list(dict.fromkeys(r["redcap_data_access_group"] for r in rows
                                     if r.get("redcap_data_access_group")
                                     and r["redcap_data_access_group"] not in
                                     self.project.dag_ids))
            if bad:
                raise ImportRefused("The following Data Access Group are invalid for the "
                                    f"redcap_data_access_group field: {', '.join(bad)}")
            return
        if has_column:
            raise ImportRefused(_DAG_FIELD)
        foreign = [i for i in dict.fromkeys(ids)
                   if i in records and records[i].dag and records[i].dag != self.scope.dag]
        if foreign:
            raise ImportRefused("The following records cannot be modified because they do not "
                                f"belong to your Data Access Group: {', '.join(foreign)}")

    # -- each value (one line per refused field) ----------------------------------------
    def check_row(self, row: Mapping[str, str], key: tuple[str, str, str, str],
                  clean: dict[str, str], errors: list[str]) -> None:
        rid, event, form, instance = key
        design, schema = self.design, self.schema
        rep_event = design.is_repeating_event(event)
        rep_form = bool(form) and design.is_repeating_form(form, event)
        # REDCap judges the instrument column by its own value, whatever the instance
        named_form = design.is_repeating_form(row.get("redcap_repeat_instrument", ""), event)
        stored = self._stored(rid, event, form if rep_form else "", instance)
        existing = self.project.records.get(rid)
        for name, raw in row.items():
            problems: list[str] = []
            value = raw.strip() if name == schema.id_field else raw
            if name == schema.id_field:
                if (self.scope.dag is not None and existing is not None and not existing.dag):
                    problems.append(_OTHER_DAG)
            elif name == "redcap_repeat_instrument" and design.has_repeating:
                if rep_event and value:
                    problems.append(f'(redcap_event_name="{event}") {_EVENT_INSTRUMENT}')
                elif value and not named_form:
                    problems.append(_NOT_REPEATING)
            elif name == "redcap_repeat_instance" and design.has_repeating:
                if value not in ("", "new") and (rep_form or rep_event) and int(value) > 32767:
                    where = (f'redcap_event_name="{event}"' if design.longitudinal
                             else f'redcap_repeat_instrument="{form}"')
                    problems.append(f"({where}) {_INSTANCE_RANGE}")
                elif value and not (named_form or rep_event) and not self.overwrite:
                    problems.append(_INSTANCE_NOT_ALLOWED)
            elif name not in _SPECIAL and name in self.rules:
                kept = self._check_field(name, value, stored, event, form if rep_form else "",
                                         rep_event, problems)
                if kept is None:
                    continue
                value = kept
            if problems:
                errors.append(_line(rid, name, value, problems[-1]))
            clean[name] = value

    def _stored(self, rid: str, event: str, form: str, instance: str) -> Mapping[str, str]:
        rec = self.project.records.get(rid)
        if rec is None or instance == "new":
            return {}
        inst = int(instance) if instance else None
        if self.design.is_repeating_event(event) or form:
            inst = inst or 1
        return rec.rows.get((event, form, inst), {})

    def _check_field(self, name: str, value: str, stored: Mapping[str, str], event: str,
                     form: str, rep_event: bool, problems: list[str]) -> str | None:
        """The value to keep (None: ignored), adding REDCap's messages to `problems`."""
        rules, design = self.rules[name], self.design
        col = self.schema.column_index[name]
        old = stored.get(name, "0" if col.kind == "checkbox" else "")
        if value == "" and col.kind == "checkbox" and self.overwrite:
            value = "0"
        if value != "" and value != old:
            check = check_value(rules, value, date_format=self.date_format, now=self.now)
            if check.ignored:
                return None
            value = check.value
            if check.error:
                problems.append(check.error)
            if form and col.form != form:
                problems.append(f"This field ('{name}') does not exist on the Repeating "
                                f"Instrument named '{form}'. You are not allowed to import "
                                "data for this field into this Repeating Instrument.")
            elif not form and not rep_event and design.is_repeating_form(col.form, event):
                problems.append(f"This field ('{name}') exists on a Repeating Instrument "
                                f"named '{col.form}'. {_NOT_ON_BASE}")
        elif rules.kind in ("calc", "file"):
            return None
        if (design.longitudinal and value != "" and not design.designated(col.form, event)
                and not (self.overwrite and col.kind == "checkbox" and value == old == "0")):
            problems.append(f"This field ('{name}') exists on an instrument that is not "
                            "designated for the event named "
                            f"'{design.name_ext(event)}'. You are not allowed to import data "
                            "for this field into this event.")
        return value


def parse_import(project: Project, scope: Scope, data: str, fmt: str,
                 date_format: str = "YMD", *, overwrite: bool = False
                 ) -> list[dict[str, str]]:
    """Rows ready for `Project.import_rows`, or `ImportRefused` with REDCap's message."""
    rows = _read(data, fmt)
    if not rows:
        return []
    checker = _Checker(project, scope, date_format.upper(), overwrite)
    keys = checker.keys(rows)
    checker.columns(rows)
    checker.dags(rows, [k[0] for k in keys])
    errors: list[str] = []
    clean_rows = []
    id_field = project.schema.id_field
    for row, key in zip(rows, keys, strict=True):
        clean: dict[str, str] = {}
        checker.check_row(row, key, clean, errors)
        clean[id_field] = key[0]
        if project.design.longitudinal:
            clean["redcap_event_name"] = key[1]
        if key[3]:
            clean["redcap_repeat_instrument"] = key[2]
            clean["redcap_repeat_instance"] = key[3]
        clean_rows.append(clean)
    if errors:
        raise ImportRefused("\n".join(errors))
    return clean_rows
