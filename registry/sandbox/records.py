"""How the sandbox stores a record: rows keyed by (event, repeat form, instance).

`(event, "", None)` is the base row of an event (`event` is `""` on a classic project),
`(event, form, n)` an instance of a repeating form, `(event, "", n)` an instance of a
repeating event. Each row keeps its non-empty values only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from registry.sandbox.design import Design

__all__ = ["RowKey", "StoredRecord", "natural_key", "row_key"]

_DIGITS = re.compile(r"(\d+)")
#: (event, repeat form, instance): `(event, "", None)` is an event's base row.
RowKey = tuple[str, str, int | None]


def natural_key(record_id: str) -> tuple[tuple[int, int | str], ...]:
    """Case-insensitive natural sort key: "2" < "10" < "10-1" < "a" < "B" (REDCap sorts
    record names with PHP's natcasesort)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower())
                 for p in _DIGITS.split(record_id) if p)


def row_key(design: Design, row: Mapping[str, Any]) -> RowKey:
    """Where a flat row belongs: its event (longitudinal), repeat form and instance."""
    event = str(row.get("redcap_event_name", "") or "") if design.longitudinal else ""
    form = str(row.get("redcap_repeat_instrument", "") or "")
    raw = str(row.get("redcap_repeat_instance", "") or "")
    if design.is_repeating_event(event):
        return (event, "", int(raw or 1))
    if form:
        return (event, form, int(raw or 1))
    return (event, "", None)


@dataclass
class StoredRecord:
    """One record: the non-empty values of each of its rows, and when its data changed."""

    record_id: str
    dag: str
    rows: dict[RowKey, dict[str, str]] = field(default_factory=dict)
    changes: list[datetime] = field(default_factory=list)

    @property
    def base(self) -> dict[str, str]:
        """The base row of a classic project (empty if none)."""
        return self.rows.get(("", "", None), {})
