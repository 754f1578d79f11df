"""Flat record export: stored rows -> the rows REDCap's `content=record&type=flat` gives.

A record is stored as rows keyed `(event, repeat form, instance)`: `(event, "", None)`
is the base row of an event (`event` is `""` on a classic project), `(event, form, n)`
an instance of a repeating form, `(event, "", n)` an instance of a repeating event.
REDCap 15.7.6 (`Records::getData`) orders the export by record (case-insensitive
natural order), then event (project order), then on each event the base row, then
the repeating forms in dictionary order, each by instance; a repeating event's rows
carry `redcap_repeat_instrument` `""` and their instance.

What each row holds follows the form-event designation: a base row fills the
columns of the forms its event holds and that do not repeat there; a repeating-form
row fills its form's columns only; a repeating-event row every form of the event.
Filled columns default to `""`, checkboxes to `"0"`, `<form>_complete` to `"0"`
(`""` with exportBlankForGrayFormStatus); every other column is `""`, whatever is
stored in it (a value left in a form since undesignated stays stored but unexported).
Sandbox choices where REDCap is not certain: a record with only repeat rows on an
event still gets that event's base row (as a classic record always has one), and a
repeat row is exported only when a column of its form is requested.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from registry.sandbox.records import StoredRecord
from registry.sandbox.schema import Column, Schema, labels_for

__all__ = ["ExportOptions", "export_rows"]

_DAG_KEY = "redcap_data_access_group"
_Plan = list[tuple[Column, str]]


class ExportOptions:
    """How one export call wants its rows (flags of `content=record`)."""

    def __init__(self, *, dag_column: bool = False, label: bool = False,
                 checkbox_labels: bool = False, blank_gray: bool = False,
                 events: Collection[str] | None = None) -> None:
        self.dag_column, self.label = dag_column, label
        self.checkbox_labels, self.blank_gray = checkbox_labels, blank_gray
        self.events = set(events) if events else None


class _Plans:
    """Per (event, row kind): the requested columns that row fills, with defaults."""

    def __init__(self, schema: Schema, rest: Sequence[Column], blank_gray: bool) -> None:
        self.schema, self.rest = schema, rest
        self.gray = "" if blank_gray else "0"
        self._cache: dict[tuple[str, str], _Plan] = {}

    def plan(self, event: str, kind: str) -> _Plan:
        """`kind`: `""` base row, a form name for its repeat rows, `"*"` repeating event."""
        key = (event, kind)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        design = self.schema.design
        out: _Plan = []
        for col in self.rest:
            form = col.form
            if not design.designated(form, event):
                continue
            if kind == "*" or (kind == form if kind else not design.is_repeating_form(form,
                                                                                      event)):
                default = (self.gray if col.kind == "complete"
                           else "0" if col.kind == "checkbox" else "")
                out.append((col, default))
        self._cache[key] = out
        return out

    def fills_any(self, event: str, kind: str) -> bool:
        return bool(self.plan(event, kind))


def export_rows(schema: Schema, records: Sequence[StoredRecord], columns: Sequence[Column],
                opts: ExportOptions, dag_labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Flat rows for these records (already in export order) and requested columns:
    id, `redcap_event_name`, repeat columns, DAG column, then the columns."""
    design = schema.design
    id_field = schema.id_field
    with_id = any(c.name == id_field for c in columns)
    rest = [c for c in columns if c.name != id_field]
    event_col = with_id and design.longitudinal
    repeat_cols = with_id and design.has_repeating
    plans = _Plans(schema, rest, opts.blank_gray)
    rep_forms = {c.form for c in rest}
    form_order = {f: i for i, f in enumerate(schema.forms)}
    blanks = {c.name: "" for c in rest}
    label, checkbox_labels = opts.label, opts.checkbox_labels
    events = [e for e in design.event_names if opts.events is None or e in opts.events]

    def make(rec: StoredRecord, event: str, form: str, instance: int | None, kind: str,
             values: Mapping[str, str]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        if with_id:
            row[id_field] = rec.record_id
        if event_col:
            row["redcap_event_name"] = design.name_ext(event) if label else event
        if repeat_cols:
            row["redcap_repeat_instrument"] = (
                (schema.form_label(form) if label else form) if form else "")
            row["redcap_repeat_instance"] = instance if instance is not None else ""
        if opts.dag_column:
            row[_DAG_KEY] = dag_labels.get(rec.dag, rec.dag) if label else rec.dag
        row.update(blanks)
        if label:
            for col, default in plans.plan(event, kind):
                row[col.name] = labels_for(schema, col, values.get(col.name) or default,
                                           checkbox_labels)
        else:
            for col, default in plans.plan(event, kind):
                row[col.name] = values.get(col.name) or default
        return row

    out: list[dict[str, Any]] = []
    for rec in records:
        by_event: dict[str, list[tuple[str, int | None]]] = {}
        for ev, form, inst in rec.rows:
            by_event.setdefault(ev, []).append((form, inst))
        for event in events:
            keys = by_event.get(event)
            if keys is None:
                continue
            if design.is_repeating_event(event):
                if with_id or plans.fills_any(event, "*"):
                    out.extend(make(rec, event, "", inst, "*", rec.rows[(event, "", inst)])
                               for inst in sorted(i for f, i in keys
                                                  if not f and i is not None))
                continue
            if with_id or plans.fills_any(event, ""):
                out.append(make(rec, event, "", None, "", rec.rows.get((event, "", None), {})))
            repeats = sorted(((f, i) for f, i in keys if f and f in rep_forms
                              and design.is_repeating_form(f, event)),
                             key=lambda k: (form_order.get(k[0], 0), k[1] or 0))
            out.extend(make(rec, event, form, inst, form, rec.rows[(event, form, inst)])
                       for form, inst in repeats)
    return out
