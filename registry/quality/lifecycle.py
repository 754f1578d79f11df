"""A flag's life across snapshots: new, open, resolved, reopened (pure, no I/O).

A flag is identified by `(site, record_id, event, form, instance, field, rule_id)`
(`event` "" on a classic project). Given the previous run's flag set (as saved,
including resolved flags carried forward so a flag that comes back is recognised),
tonight's failures and the rules that could not run tonight:

    new       failing now, never seen before
    open      failing now, open (new / open / reopened) last time
    reopened  failing now, resolved last time
    resolved  not failing now; `reported` is True only the night it gets resolved
              (flags-<site>.csv lists open flags and just-resolved ones), later nights
              carry it silently so a return is `reopened`, not `new`

A flag whose rule could not run tonight (an `error` result at its site: a field it
needs is missing, its logic cannot be read) is not resolved: nobody looked. It is
carried forward as it was (an open flag stays `open`, a resolved one stays resolved),
with `last_seen` unchanged and `unchecked` set, until the rule runs again.

`first_seen` is kept from the first night; `last_seen` is the last night it failed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import pandas as pd

__all__ = ["FLAG_KEY", "LIFECYCLE_COLUMNS", "OPEN_STATUSES", "age_flags", "flag_key"]

FLAG_KEY = ("site", "record_id", "event", "form", "instance", "field", "rule_id")
OPEN_STATUSES = ("new", "open", "reopened")
LIFECYCLE_COLUMNS = [*FLAG_KEY, "severity", "status", "first_seen", "last_seen", "message",
                     "link", "label", "suggestion", "patient_id", "reported", "unchecked",
                     "value", "computed_from", "involves"]


#: What a flag not failing tonight keeps from the previous night.
_KEPT = ("severity", "first_seen", "last_seen", "message", "link", "label", "suggestion",
         "patient_id", "value", "computed_from", "involves")


def _carried(status: Any) -> str:
    """The status a flag keeps on a night its rule could not run: as it was."""
    return "open" if status in OPEN_STATUSES else str(status or "resolved")


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def flag_key(flag: Mapping[str, Any]) -> tuple[str, ...]:
    """The identity of a flag; instance normalised ("" for non-repeating forms)."""
    return tuple(_text(flag.get(k)) for k in FLAG_KEY)


def age_flags(previous: Iterable[Mapping[str, Any]], current: pd.DataFrame | Iterable[
        Mapping[str, Any]], seen_at: datetime, *,
        unchecked: Collection[tuple[str, str]] = ()) -> pd.DataFrame:
    """Statuses and first/last seen of tonight's flags, given the previous flag set.

    `previous`: the last saved set (dicts with the key columns, status, first_seen,
    last_seen, ...); `current`: tonight's failure rows (key columns, severity, message,
    link); `unchecked`: `(site, rule_id)` of the rules that could not run tonight
    (their previous flags are carried forward, never resolved). Returns one row per
    flag (current ones, previous ones now resolved, and the carried ones).
    """
    blind = {(str(site), str(rule)) for site, rule in unchecked}
    cur_rows = (cast(list[dict[str, Any]], current.to_dict("records"))
                if isinstance(current, pd.DataFrame) else [dict(r) for r in current])
    prev = {flag_key(p): dict(p) for p in previous}
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    for row in cur_rows:
        key = flag_key(row)
        if key in seen:
            continue  # one flag per cell and rule
        seen.add(key)
        before = prev.get(key)
        if before is None:
            status, first = "new", seen_at
        elif before.get("status") == "resolved":
            status, first = "reopened", before.get("first_seen") or seen_at
        else:
            status, first = "open", before.get("first_seen") or seen_at
        out.append({**dict(zip(FLAG_KEY, key, strict=True)),
                    "severity": row.get("severity"), "status": status, "first_seen": first,
                    "last_seen": seen_at, "message": row.get("message", ""),
                    "link": row.get("link", ""), "label": row.get("label", ""),
                    "suggestion": row.get("suggestion", ""),
                    "patient_id": row.get("patient_id"), "reported": True, "unchecked": False,
                    "value": row.get("value", ""),
                    "computed_from": row.get("computed_from", ""),
                    "involves": row.get("involves", "")})
    site_at, rule_at = FLAG_KEY.index("site"), FLAG_KEY.index("rule_id")
    for key, before in prev.items():
        if key in seen:
            continue
        was_open = before.get("status") in OPEN_STATUSES
        carried = (key[site_at], key[rule_at]) in blind  # not checked tonight: as it was
        out.append({**dict(zip(FLAG_KEY, key, strict=True)),
                    **{k: before.get(k, "") for k in _KEPT},
                    "status": _carried(before.get("status")) if carried else "resolved",
                    "reported": was_open, "unchecked": carried})
    return pd.DataFrame(out, columns=LIFECYCLE_COLUMNS)
