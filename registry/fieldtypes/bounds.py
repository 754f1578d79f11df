"""A field's min/max in its column's type, and typed values written as REDCap writes them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd

from registry.fieldtypes.parsing import read_texts
from registry.fieldtypes.validations import VALIDATIONS, Validation, validation_of

__all__ = ["BoundError", "bounds", "format_bound", "format_value"]


class BoundError(ValueError):
    """A text_validation_min/max that cannot be read in the field's type."""


def _bound(text: str, validation: Validation, today: dt.date, now: dt.datetime,
           upper: bool) -> Any:
    word = text.strip().lower()
    kind = validation.kind
    if kind in ("date", "datetime", "datetime_seconds") and word in ("today", "now"):
        if kind == "date" or word == "now":
            return pd.Timestamp(today if kind == "date" else now)
        day = pd.Timestamp(today)  # "today" on a date-and-time field: the whole day
        return day + pd.Timedelta(days=1) - pd.Timedelta(seconds=1) if upper else day
    if kind in ("date", "datetime", "datetime_seconds"):
        stamp = _read_date_bound(text.strip())
        if stamp is None:
            raise BoundError(f"{text!r} is not a date")
        return stamp
    if kind in ("integer", "number"):
        number = text.strip().replace(",", ".") if validation.comma else text.strip()
        if VALIDATIONS["number"].regex.fullmatch(number) is None:
            raise BoundError(f"{text!r} is not {validation.words}")
        return float(number)
    values, ok = read_texts(validation, [text.strip()])
    if not ok[0]:
        raise BoundError(f"{text!r} is not {validation.words}")
    return values[0]


def _read_date_bound(text: str) -> pd.Timestamp | None:
    """A date min/max: Y-M-D as REDCap keeps it (with or without a time), else D-M-Y or
    M-D-Y as older dictionaries wrote them in the field's entry order."""
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d-%m-%Y", "%m-%d-%Y",
                "%d/%m/%Y", "%m/%d/%Y"):
        try:
            return pd.Timestamp(dt.datetime.strptime(text, fmt))
        except ValueError:
            continue
    return None


def bounds(row: Mapping[str, str], *, today: dt.date,
           now: dt.datetime | None = None) -> tuple[Any, Any]:
    """(min, max) of a field in its column's type (None where not set).

    Dates and date-times as Timestamps (`today` = the run date; on a date-and-time field
    `today` spans the whole day; `now` = the run time), times as zero-padded text,
    numbers as floats (comma decimals read). A slider without min/max goes from 0 to 100. Raises
    BoundError for a min/max that cannot be read (the rule is then an error result).
    """
    validation = validation_of(row)
    if validation is None or validation.kind == "text":
        return None, None
    now = now or dt.datetime.combine(today, dt.time(23, 59, 59))
    lo_text = (row.get("text_validation_min") or "").strip()
    hi_text = (row.get("text_validation_max") or "").strip()
    if row.get("field_type") == "slider":
        lo_text, hi_text = lo_text or "0", hi_text or "100"
    if row.get("field_type") == "calc":
        return None, None
    lo = _bound(lo_text, validation, today, now, False) if lo_text else None
    hi = _bound(hi_text, validation, today, now, True) if hi_text else None
    return lo, hi


def format_bound(row: Mapping[str, str], which: str, value: Any) -> str:
    """A min/max as the coordinator reads it: "today (2025-06-30)", "12,5", "08:30"."""
    text = (row.get(f"text_validation_{which}") or "").strip()
    if text.lower() in ("today", "now") and isinstance(value, pd.Timestamp):
        return f"{text.lower()} ({format_value(value)})"
    return format_value(value) if text == "" or isinstance(value, pd.Timestamp) else text


def format_value(value: Any) -> str:
    """A typed value as written in REDCap: 2025-06-30, 2025-06-30 14:05, 12.5."""
    if isinstance(value, pd.Timestamp):
        if value.second:
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if value.hour or value.minute:
            return value.strftime("%Y-%m-%d %H:%M")
        if 1000 <= value.year <= 9999:  # as strftime writes it, at a third of its cost
            return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
