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
    rows: list[dict[str, object]] = []
    series: dict[str, dict[str, pd.Series]] = {}  # frame[name] is slow on wide frames
    for outcome in outcomes:
        if outcome.error is not None or len(outcome.failing) == 0:
            continue
        rule: Rule = outcome.rule
        if rule.frame not in series:
            series[rule.frame] = {str(k): v for k, v in frames[rule.frame].items()}
        frame = series[rule.frame]
        names = rule.placeholders
        wanted = [c for c in dict.fromkeys(("patient_id", "record_id", "site", "form",
                                            "instance", "event", rule.field, *names))
                  if c and c in frame]
        # only the failing rows of the columns the flag needs (wide frames: thousands),
        # boxed at once (Python scalars, Timestamps, NA) rather than one item at a time
        columns = {c: np.asarray(frame[c].array[outcome.failing], dtype=object).tolist()
                   for c in wanted}
        for i in range(len(outcome.failing)):
            rec = {c: columns[c][i] for c in wanted}
            row_form = str(rec["form"])
            form = field_forms.get(rule.field, row_form) if rule.field else row_form
            if form == row_form:
                instance = _instance_text(rec.get("instance"))
            elif form in repeating:
                form, instance = row_form, _instance_text(rec.get("instance"))
            else:
                instance = ""
            event = _event_text(rec.get("event"))
            if form != row_form and form_events:
                held = tuple(form_events.get(form, ()))
                if event not in held:
                    event = held[0] if len(held) == 1 else ""
            values = {n: format_value(rec.get(n)) for n in names if n != "value"}
            if "value" in names:
                values["value"] = format_value(rec.get(rule.field))
            site, record = str(rec["site"]), str(rec["record_id"])
            rows.append({
                "site": site, "patient_id": rec["patient_id"], "record_id": record,
                "event": event, "form": form, "instance": instance, "field": rule.field,
                "rule_id": rule.id, "severity": rule.severity,
                "message": rule.message.format(**values),
                "link": form_link(link_for(site_links, site), record, form, instance, event),
                "value": format_value(rec[rule.field]) if rule.field in rec else "",
            })
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS)


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
