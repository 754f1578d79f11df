"""REDCap's values, one per row: text, number, known, and dates read from text.

Every value is REDCap text; its number is NaN when the text is not numeric; `known` is
False where the value is unknown (a comparison with a blank). Date fields carry their
datetime64 values, so date logic need not re-read text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from registry.quality.logic.syntax import Ref

__all__ = ["Env", "Val", "boolean", "dates", "from_dates", "from_number", "from_text",
           "number_or_nan", "numbers", "truth"]


@dataclass
class Val:
    """One value per row: REDCap's text, its number (NaN when not numeric), whether it is
    known. `when` holds datetime64 values for date fields (so date logic need not
    re-read text); a blank is text "". The text of a number or a date is only written
    out when something reads it.
    """

    text_: np.ndarray | None
    num: np.ndarray
    known: np.ndarray
    when: np.ndarray | None = None
    unit: str = "D"

    @property
    def text(self) -> np.ndarray:
        if self.text_ is None:
            self.text_ = (_date_text(self.when, self.unit) if self.when is not None
                          else _num_text(self.num))
        return self.text_

    @property
    def blank(self) -> np.ndarray:
        if self.text_ is not None:
            return self.text_ == ""
        if self.when is not None:
            return np.isnat(self.when)
        return np.isnan(self.num)


def _num_text(num: np.ndarray) -> np.ndarray:
    out = np.full(len(num), "", dtype=object)
    finite = np.isfinite(num)
    codes, uniques = pd.factorize(num[finite])
    texts = np.array([repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(float(v))
                      for v in uniques], dtype=object)
    out[finite] = texts[codes] if len(uniques) else out[finite]
    return out


def numbers(text: np.ndarray) -> np.ndarray:
    """REDCap's "is it a number": the numeric value of each text, NaN otherwise."""
    codes, uniques = pd.factorize(pd.Series(text, dtype=object))
    values = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(
        "float64", na_value=np.nan)
    out = np.full(len(text), np.nan)
    ok = codes >= 0
    out[ok] = values[codes[ok]]
    return out


def from_text(text: np.ndarray) -> Val:
    """A Val from REDCap text ("" blank)."""
    text = np.asarray(text, dtype=object)
    return Val(text, numbers(text), np.ones(len(text), dtype=bool))


def from_number(num: np.ndarray, known: np.ndarray | None = None) -> Val:
    """A Val from numbers (NaN blank); `known` defaults to every row."""
    num = np.asarray(num, dtype="float64")
    return Val(None, num, np.ones(len(num), bool) if known is None else known)


def from_dates(when: np.ndarray, unit: str = "D") -> Val:
    """A Val from datetime64 values, written as REDCap stores them (Y-M-D[ H:M[:S]])."""
    when = np.asarray(when, dtype="datetime64[ns]")
    return Val(None, np.full(len(when), np.nan), np.ones(len(when), bool), when, unit)


def _date_text(when: np.ndarray, unit: str) -> np.ndarray:
    text = np.full(len(when), "", dtype=object)
    ok = ~np.isnat(when)
    if ok.any():
        written = np.datetime_as_string(when[ok], unit=unit)  # type: ignore[call-overload]
        text[ok] = np.char.replace(written, "T", " ")
    return text


def boolean(values: np.ndarray, known: np.ndarray) -> Val:
    """A Val of 1/0 from booleans."""
    return Val(None, np.where(values, 1.0, 0.0), known)


def truth(v: Val) -> tuple[np.ndarray, np.ndarray]:
    """(true, known): a number is true when not 0, a text when not blank and not "0"."""
    num_ok = np.isfinite(v.num)
    if num_ok.all() or (v.text_ is None and v.when is None):
        return num_ok & (v.num != 0), v.known & num_ok
    true = np.where(num_ok, v.num != 0, (v.text != "") & (v.text != "0"))
    return true.astype(bool), v.known & (num_ok | ~v.blank)


class Env(Protocol):
    """What the evaluator needs from its surroundings."""

    n: int
    today: pd.Timestamp
    now: pd.Timestamp

    def ref(self, ref: Ref) -> Val:
        """The per-row value of a bracketed reference."""


def number_or_nan(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) and text.strip() == text and text else math.nan


_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%m-%d-%Y", "%d-%m-%Y",
                 "%m/%d/%Y", "%d/%m/%Y", "%H:%M", "%H:%M:%S")


def dates(v: Val, env: Env, order: str = "ymd") -> np.ndarray:
    """datetime64 per row: a date field's own dates, or text read as a date ('today',
    'now', Y-M-D, or the M-D-Y / D-M-Y order datediff was told)."""
    if v.when is not None:
        return v.when
    codes, uniques = pd.factorize(pd.Series(v.text, dtype=object))
    formats: tuple[str, ...] = _DATE_FORMATS
    if order in ("mdy", "dmy"):
        formats = tuple(f for f in _DATE_FORMATS if f.startswith(f"%{order[0]}")) + formats
    values = np.full(len(uniques), np.datetime64("NaT"), dtype="datetime64[ns]")
    for i, text in enumerate(uniques):
        word = str(text).strip().lower()
        if word in ("today", "now"):
            values[i] = np.datetime64(env.today if word == "today" else env.now, "ns")
            continue
        for fmt in formats:
            stamp = pd.to_datetime(str(text).strip(), format=fmt, errors="coerce")
            if not pd.isna(stamp):
                values[i] = np.datetime64(stamp, "ns")
                break
    out = np.full(len(codes), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = codes >= 0
    out[ok] = values[codes[ok]]
    return out
