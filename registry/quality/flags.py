"""Failures -> flag rows: one record, one field (and repeat instance), one rule.

Each row carries the plain-language message with the record's values filled in and a
link that opens the form in REDCap:
`<redcap>/redcap_v<version>/DataEntry/index.php?pid=<pid>&id=<record>&page=<form>`
plus `&instance=<n>` for a repeat instance and `&event_id=<n>` for a form on an event
of a longitudinal project (DESIGN.md, flags-<site>.csv).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from registry.fieldtypes import format_value as typed_text
from registry.quality.columns import FrameColumns
from registry.quality.gx_adapter import Outcome
from registry.quality.lifecycle import OPEN_STATUSES
from registry.quality.suites import Rule
from registry.visible import visible

__all__ = [
    "FAILURE_COLUMNS",
    "SiteLink",
    "blocking_patients",
    "failures_from_outcomes",
    "format_value",
    "form_link",
    "link_for",
]

FAILURE_COLUMNS = ["site", "patient_id", "record_id", "event", "form", "instance", "field",
                   "rule_id", "severity", "message", "link", "value"]


@dataclass(frozen=True)
class SiteLink:
    """Where a site's records live in REDCap: base URL, REDCap version, project id and,
    on a longitudinal project, the numeric id of each event (unique name -> id)."""

    base_url: str
    version: str
    pid: int | str
    event_ids: Mapping[str, int] = field(default_factory=dict)

    @property
    def root(self) -> str:
        """The base URL without a trailing `/` or `/api/`."""
        base = self.base_url.rstrip("/")
        return base[: -len("/api")] if base.endswith("/api") else base


def form_link(link: SiteLink | None, record_id: str, form: str, instance: str,
              event: str = "") -> str:
    """The DataEntry URL of one form (instance, event) of one record; "" without a SiteLink.

    On a longitudinal project the form opens on its event (`&event_id=`) when REDCap
    gave the event's id; without it REDCap opens the record's first event.
    """
    if link is None:
        return ""
    url = (f"{link.root}/redcap_v{link.version}/DataEntry/index.php?pid={link.pid}"
           f"&id={quote(str(record_id), safe='')}&page={quote(form, safe='')}")
    if event and event in link.event_ids:
        url += f"&event_id={link.event_ids[event]}"
    return f"{url}&instance={instance}" if instance else url


def format_value(value: Any) -> str:
    """A value as a coordinator reads it: dates as YYYY-MM-DD (with the time of a
    date-time), Yes/No, "(empty)"; control, bidi and zero-width characters spelled
    out and long text cut (`registry.visible`)."""
    if type(value) is str:  # most values: what the last line below does with them
        return visible(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return "(empty)"
    if isinstance(value, float) and math.isnan(value):
        return "(empty)"
    if isinstance(value, pd.Timestamp):
        return typed_text(value)  # 2025-06-30, or 2025-06-30 14:05 with a time
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    try:
        if pd.isna(value):  # numpy scalars
            return "(empty)"
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        return format_value(value.item())  # type: ignore[attr-defined]
    return visible(str(value))  # no hidden, reordering or 100 kB text in a message


_KEYS = ("patient_id", "record_id", "site", "form", "instance", "event")


def _texts(values: Any) -> list[str]:
    """`format_value` of each value; dates (datetime64[ns]) written without a Timestamp
    each: Y-M-D, with H:M or H:M:S when the time has them, "(empty)" for NaT."""
    if values.dtype != "datetime64[ns]":
        return [format_value(v) for v in np.asarray(values, dtype=object).tolist()]
    when = np.asarray(values)
    seconds = ((when.view("int64") // 10**9) % 86400).tolist()  # of the day
    out = []
    # nanoseconds since 1970 in 64 bits span 1677-2262: every year has four digits
    for text, second in zip(np.datetime_as_string(when, unit="s").tolist(), seconds,
                            strict=True):
        if text == "NaT":
            out.append("(empty)")
        elif second % 60:
            out.append(text.replace("T", " "))
        elif second:
            out.append(text[:16].replace("T", " "))
        else:
            out.append(text[:10])
    return out


def _instance_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(int(value))  # type: ignore[call-overload]


def _event_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def link_for(site_links: Mapping[str, SiteLink] | SiteLink | None, site: str) -> \
        SiteLink | None:
    """The SiteLink of a site: one for all, per site, or the "*" entry."""
    if site_links is None or isinstance(site_links, SiteLink):
        return site_links
    return site_links.get(site) or site_links.get("*")


def failures_from_outcomes(
    frames: Mapping[str, pd.DataFrame],
    outcomes: Iterable[Outcome],
    field_forms: Mapping[str, str],
    repeating: Iterable[str],
    site_links: Mapping[str, SiteLink] | SiteLink | None,
    form_events: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """One row per failing cell, with the message filled in and the REDCap link.

    The flag points at `rule.field` on its own form: the row's instance when that is
    the row's form, no instance when the field is on a non-repeating form (e.g. a
    treatment after the death date flagged on the outcome form's death date), and the
    whole instance (field "") for instance-level rules such as duplicates. On a
    longitudinal project (`form_events`: form -> the events holding it) a flag on
    another form's field points at that form on the row's event when it is there,
    else on the one event that holds it.
    """
    repeating = set(repeating)
    out: dict[str, list[object]] = {c: [] for c in FAILURE_COLUMNS}
    series: dict[str, FrameColumns] = {}  # a frame's columns, taken out as needed
    for outcome in outcomes:
        if outcome.error is not None or len(outcome.failing) == 0:
            continue
        rule: Rule = outcome.rule
        if rule.frame not in series:
            series[rule.frame] = FrameColumns(frames[rule.frame])
        frame = series[rule.frame]
        names = rule.placeholders
        # only the failing rows of the columns the flag needs (wide frames: thousands),
        # boxed at once (Python scalars, NA) rather than one item at a time
        columns = {c: np.asarray(frame[c].array[outcome.failing], dtype=object).tolist()
                   for c in _KEYS if c in frame}
        n = len(outcome.failing)
        # each value a message or the value column shows, written once per cell
        shown = {c: ([format_value(v) for v in columns[c]] if c in columns
                     else _texts(frame[c].array[outcome.failing]))
                 for c in dict.fromkeys((*names, rule.field)) if c and c in frame}
        empty = [format_value(None)] * n
        texts = {name: shown.get(rule.field if name == "value" else name, empty)
                 for name in names}
        values = shown.get(rule.field, [""] * n)
        none: list[object] = [None] * n  # a frame without instance or event columns
        for i, (row_form, site, record, patient, row_instance, row_event) in enumerate(zip(
                columns["form"], columns["site"], columns["record_id"],
                columns["patient_id"], columns.get("instance", none),
                columns.get("event", none), strict=True)):
            row_form = str(row_form)
            form = field_forms.get(rule.field, row_form) if rule.field else row_form
            # the row's own form, or another repeating one: the row's instance
            if form == row_form or form in repeating:
                form, instance = row_form, _instance_text(row_instance)
            else:
                instance = ""
            event = _event_text(row_event)
            if form != row_form and form_events:
                held = tuple(form_events.get(form, ()))
                if event not in held:
                    event = held[0] if len(held) == 1 else ""
            site, record = str(site), str(record)
            out["site"].append(site)
            out["patient_id"].append(patient)
            out["record_id"].append(record)
            out["event"].append(event)
            out["form"].append(form)
            out["instance"].append(instance)
            out["message"].append(rule.message.format(
                **{name: text[i] for name, text in texts.items()}))
            out["link"].append(form_link(link_for(site_links, site), record, form, instance,
                                         event))
            out["value"].append(values[i])
        out["field"] += [rule.field] * n
        out["rule_id"] += [rule.id] * n
        out["severity"] += [rule.severity] * n
    return pd.DataFrame(out, columns=FAILURE_COLUMNS)


def blocking_patients(flags: pd.DataFrame | Iterable[Mapping[str, Any]],
                      severities: Sequence[str] = ("blocking",)) -> set[str]:
    """patient_ids a study leaves out: those with an open flag of one of `severities`.

    The one gate between quality and the analyses. `flags` are either tonight's
    failures (`QualityResult.failures`: no `status`, every row counts) or a flag set as
    the store keeps it (only `new`, `open` and `reopened` count; a resolved flag never
    keeps a patient out). A row without `patient_id` is keyed `<site>:<record_id>`, as
    tidy keys patients.
    """
    rows = flags.to_dict("records") if isinstance(flags, pd.DataFrame) else flags
    out = set()
    for f in rows:
        if f.get("severity") in severities and f.get("status", "new") in OPEN_STATUSES:
            patient = f.get("patient_id") or (f.get("details") or {}).get("patient_id")
            out.add(str(patient or f"{f['site']}:{f['record_id']}"))
    return out
