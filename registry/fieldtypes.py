"""What a REDCap value means: field types and text validations, one function per meaning.

REDCap exports every value as a string; what a value *means* is in the data dictionary
(field type, text validation, choices, min/max). This module is the one place that
reads it, so tidy's typed frames, its `conformance` frame and the dictionary-derived
quality rules agree on every field:

- `field_type(row)`: the pandas dtype of the field's column, its vectorised parser and
  the reason ("validation is date_ymd");
- `validation_of(row)`: REDCap's text validation (`VALIDATIONS`), with the format REDCap
  *stores* (dates are always exported Y-M-D whatever the entry order, comma-decimal
  numbers keep their comma) and the plain words a coordinator reads ("a number with 1
  decimal, such as 12.5");
- `bounds(row, today=, now=)`: the min/max of the field in the column's own type
  (`today` and `now` included);
- `choices`, `checkbox_columns`, `export_columns`: the choices and export columns.

A parser takes a whole column of raw strings (REDCap's `""` or a missing value meaning
"empty") and returns the typed column plus the mask of non-empty values REDCap's own
validation would refuse (the conformance problems). Such a value becomes missing in the
typed column, so every non-empty value is either read or reported, never both. Values
are converted once per distinct text (a date column of 150,000 rows holds a few
thousand distinct dates).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DATE_VALIDATIONS",
    "VALIDATIONS",
    "BoundError",
    "FieldType",
    "Parser",
    "Validation",
    "bounds",
    "checkbox_columns",
    "choices",
    "expected_words",
    "export_columns",
    "field_type",
    "format_bound",
    "parse_choices",
    "validation_of",
]

#: A parser: column of raw strings -> (typed column, mask of refused non-empty values).
Parser = Callable[[pd.Series], tuple[pd.Series, pd.Series]]


@dataclass(frozen=True)
class Validation:
    """One REDCap text validation, as REDCap stores and checks its values.

    `kind` says what the value is (`date`, `datetime`, `datetime_seconds`, `time`,
    `time_hh_mm_ss`, `time_mm_ss`, `integer`, `number` or `text`), `pattern` the
    stored format REDCap's validation accepts (anchored), `comma` whether the decimal
    separator is a comma, `words` the plain description used in messages.
    """

    name: str
    kind: str
    pattern: str
    words: str
    comma: bool = False

    @property
    def regex(self) -> re.Pattern[str]:
        """The compiled stored format."""
        return _compiled(self.pattern)


_DATE = r"\d{4}-\d{2}-\d{2}"
_HOUR = r"(?:[0-9]|[01][0-9]|2[0-3])"
_MIN_SEC = r"[0-5][0-9]"


def _v(name: str, kind: str, pattern: str, words: str, comma: bool = False) -> Validation:
    return Validation(name, kind, pattern, words, comma)


def _number_dp(n: int, comma: bool) -> Validation:
    sep = "," if comma else r"\."
    example = "12" + ("," if comma else ".") + "5678"[:n]
    decimals = "1 decimal" if n == 1 else f"{n} decimals"
    how = ", with a comma" if comma else ""
    name = f"number_{n}dp" + ("_comma_decimal" if comma else "")
    return _v(name, "number", rf"-?\d+{sep}\d{{{n}}}",
              f"a number with {decimals}{how} (such as {example})", comma)


_VALIDATION_LIST: tuple[Validation, ...] = (
    *(_v(f"date_{o}", "date", _DATE, "a date (YYYY-MM-DD)") for o in ("ymd", "mdy", "dmy")),
    *(_v(f"datetime_{o}", "datetime", rf"{_DATE} {_HOUR}:{_MIN_SEC}",
         "a date and time (YYYY-MM-DD HH:MM)") for o in ("ymd", "mdy", "dmy")),
    *(_v(f"datetime_seconds_{o}", "datetime_seconds",
         rf"{_DATE} {_HOUR}:{_MIN_SEC}:{_MIN_SEC}",
         "a date and time with seconds (YYYY-MM-DD HH:MM:SS)") for o in ("ymd", "mdy", "dmy")),
    _v("time", "time", rf"{_HOUR}:{_MIN_SEC}", "a time of day (HH:MM)"),
    _v("time_hh_mm_ss", "time_hh_mm_ss", rf"{_HOUR}:{_MIN_SEC}:{_MIN_SEC}",
       "a time of day with seconds (HH:MM:SS)"),
    _v("time_mm_ss", "time_mm_ss", rf"{_MIN_SEC}:{_MIN_SEC}",
       "minutes and seconds (MM:SS)"),
    _v("integer", "integer", r"[-+]?\d+", "a whole number"),
    _v("number", "number", r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?",
       "a number (such as 12 or 12.5)"),
    *(_number_dp(n, False) for n in (1, 2, 3, 4)),
    _v("number_comma_decimal", "number", r"[-+]?[0-9]*,?[0-9]+(?:[eE][-+]?[0-9]+)?",
       "a number, with a comma for decimals (such as 12 or 12,5)", True),
    *(_number_dp(n, True) for n in (1, 2, 3, 4)),
    # REDCap's e-mail pattern, with top-level domains longer than 4 letters (.health)
    _v("email", "text", r"[_a-z0-9'-]+(?:\.[_a-z0-9'-]+)*@[a-z0-9-]+(?:\.[a-z0-9-]+)*"
       r"\.[a-z]{2,63}", "an e-mail address (such as name@example.org)"),
    _v("phone", "text", r"(?:\(?(?:[2-9]1[02-9]|[2-9][02-8]1|[2-9][02-8][02-9])\)?)\s*"
       r"(?:[.-]\s*)?(?:[2-9]1[02-9]|[2-9][02-9]1|[2-9][02-9]{2})\s*(?:[.-]\s*)?[0-9]{4}"
       r"(?:\s*(?:#|x\.?|ext\.?|extension)\s*\d+)?",
       "a U.S. phone number (such as 615-322-2222)"),
    _v("phone_australia", "text", r"(?:\(0[2-8]\)|0[2-8])\s*\d{4}\s*\d{4}",
       "an Australian phone number (such as 02 9999 9999)"),
    _v("phone_uk", "text", r"(?:(?:(?:\+44|0044)\s?\d{4}|\(?0\d{4}\)?)\s?\d{3}\s?\d{3}|"
       r"(?:(?:\+44|0044)\s?\d{3}|\(?0\d{3}\)?)\s?\d{3}\s?\d{4}|(?:(?:\+44|0044)\s?\d{2}|"
       r"\(?0\d{2}\)?)\s?\d{4}\s?\d{4})(?:\s?#(?:\d{4}|\d{3}))?",
       "a U.K. phone number (such as 020 7946 0000)"),
    _v("zipcode", "text", r"\d{5}(?:-\d{4})?", "a U.S. zip code (such as 37212)"),
    _v("postalcode_australia", "text", r"\d{4}", "an Australian postcode (4 digits)"),
    _v("postalcode_canada", "text",
       r"[ABCEGHJKLMNPRSTVXYabceghjklmnprstvxy]\d[A-Za-z]\s*\d[A-Za-z]\d",
       "a Canadian postal code (such as K1A 0B1)"),
    _v("postalcode_french", "text", r"(?:0?[1-9]|[1-8][0-9]|9[0-8])[0-9]{3}",
       "a French postcode (5 digits)"),
    _v("postalcode_germany", "text", r"(?:0[1-9]|[1-9]\d)\d{3}",
       "a German postcode (5 digits)"),
    _v("postalcode_uk", "text", r"(?:[A-Z]{1,2}\d{1,2}|[A-Z]{1,2}\d[A-Z]) \d[ABD-HJLNP-Z]{2}",
       "a U.K. postcode (such as SW1A 1AA)"),
    _v("alpha_only", "text", r"[A-Za-z]+", "letters only"),
    _v("ssn", "text", r"\d{3}-\d{2}-\d{4}", "a U.S. social security number (123-45-6789)"),
    _v("mrn_10d", "text", r"\d{10}", "a medical record number of 10 digits"),
    _v("mrn_generic", "text", r"[A-Za-z0-9_-]+", "a medical record number (letters, digits, "
       "- and _)"),
    _v("vmrn", "text", r"[0-9]{4,9}", "a medical record number of 4 to 9 digits"),
)
#: REDCap's text validations by name, the legacy names (date, int, float, ...) included.
VALIDATIONS: dict[str, Validation] = {v.name: v for v in _VALIDATION_LIST}
VALIDATIONS.update({"date": VALIDATIONS["date_ymd"], "int": VALIDATIONS["integer"],
                    "float": VALIDATIONS["number"], "datetime": VALIDATIONS["datetime_ymd"],
                    "datetime_seconds": VALIDATIONS["datetime_seconds_ymd"]})
#: REDCap's date validations (and the legacy name "date"); exports are always Y-M-D.
DATE_VALIDATIONS = frozenset(n for n, v in VALIDATIONS.items() if v.kind == "date")
_TIME_KINDS = ("time", "time_hh_mm_ss", "time_mm_ss")
_DTYPE = {"date": "datetime64[ns]", "datetime": "datetime64[ns]",
          "datetime_seconds": "datetime64[ns]", "time": "string",
          "time_hh_mm_ss": "string", "time_mm_ss": "string",
          "integer": "Int64", "number": "Float64", "text": "string"}
_IMPLICIT_CHOICES = {
    "yesno": {"1": "Yes", "0": "No"},
    "truefalse": {"1": "True", "0": "False"},
}
_BOOL_MAP = {"1": True, "0": False}
_SLIDER = Validation("slider", "integer", r"\d+", "a whole number from the slider")
_CALC = Validation("calc", "number", r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?",
                   "a number")
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _PATTERNS:
        _PATTERNS[pattern] = re.compile(pattern, re.IGNORECASE if "a-z" in pattern else 0)
    return _PATTERNS[pattern]


@dataclass(frozen=True)
class FieldType:
    """How one REDCap field becomes a typed column.

    `dtype` is the pandas dtype string, `parse` the vectorised parser, `reason` one
    sentence saying which part of the dictionary decided it, `expected` the plain words
    for a value of this field ("a date (YYYY-MM-DD)"), `kind` the kind of value
    (`Validation.kind`, or `boolean`, `choice`, `checkbox`, `file`, `free text`).
    """

    dtype: str
    parse: Parser
    reason: str
    expected: str = "text"
    kind: str = "text"


def _blank(raw: pd.Series) -> pd.Series:
    """Raw column as an object column of str with REDCap's "" (and None/NaN) as NaN.

    Stays on numpy object arrays (no per-value string methods) so a 250,000-row
    column takes milliseconds; a non-str value (an int or float from a CSV reader)
    becomes the text REDCap would have sent.
    """
    values = raw.to_numpy(dtype=object, copy=True)
    empty = pd.isna(values)
    present = ~empty
    empty[present] = values[present] == ""
    if pd.api.types.infer_dtype(values[~empty], skipna=True) not in ("string", "empty"):
        values[~empty] = [_to_text(v) for v in values[~empty]]  # rare: not REDCap's JSON
    values[empty] = np.nan
    return pd.Series(values, index=raw.index, dtype=object)


def _to_text(value: object) -> str:
    """A value a CSV reader typed back to REDCap's text: 1.0 -> "1", 12 -> "12"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _distinct(raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(blanked column, codes per row (-1 empty), distinct non-empty texts stripped)."""
    s = _blank(raw)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    texts = np.array([str(u).strip() for u in uniques], dtype=object)
    return s, codes, texts


def _matches(validation: Validation, texts: np.ndarray) -> np.ndarray:
    full = validation.regex.fullmatch
    return np.fromiter((full(t) is not None for t in texts), dtype=bool, count=len(texts))


def _spread(codes: np.ndarray, per_unique: np.ndarray, fill: Any) -> np.ndarray:
    """Per-row values from per-distinct-text values (`fill` where the row is empty)."""
    out = np.empty(len(codes), dtype=per_unique.dtype)
    empty = codes < 0
    out[~empty] = per_unique[codes[~empty]]
    out[empty] = fill
    return out


def read_texts(validation: Validation, texts: Sequence[str] | np.ndarray) -> tuple[
        np.ndarray, np.ndarray]:
    """Distinct stored texts -> (values in the column's type, accepted by REDCap).

    The one reading of a validated value: dates as datetime64 (calendar-checked),
    times as zero-padded text ("09:05", "09:05:30", "05:30": they compare and sort as
    times, and Great Expectations compares them too), numbers as float64 (a comma
    decimal read as a point), other text verbatim. A refused value is NaT/NaN/None.
    """
    texts = np.asarray(texts, dtype=object)
    ok = _matches(validation, texts)
    kind = validation.kind
    if kind in ("date", "datetime", "datetime_seconds"):
        fmt = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%d %H:%M",
               "datetime_seconds": "%Y-%m-%d %H:%M:%S"}[kind]
        wanted = texts.copy()
        wanted[~ok] = None
        stamps: pd.Series = pd.to_datetime(pd.Series(wanted, dtype=object), format=fmt,
                                           errors="coerce")
        values = stamps.to_numpy("datetime64[ns]")
        return values, ok & ~np.isnat(values)
    if kind in _TIME_KINDS:
        values = np.full(len(texts), None, dtype=object)
        for i in np.flatnonzero(ok):
            values[i] = ":".join(p.zfill(2) for p in str(texts[i]).split(":"))
        return values, ok
    if kind in ("integer", "number"):
        plain = np.array([str(t).replace(",", ".") if validation.comma else t
                          for t in texts], dtype=object)
        plain[~ok] = None
        numbers: pd.Series = pd.to_numeric(pd.Series(plain, dtype=object), errors="coerce")
        values = numbers.to_numpy("float64", na_value=np.nan)
        ok &= np.isfinite(values)
        return np.where(ok, values, np.nan), ok
    return texts, ok


def _validated_parser(validation: Validation) -> Parser:
    dtype = _DTYPE[validation.kind]

    def parse(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
        s, codes, texts = _distinct(raw)
        values, ok = read_texts(validation, texts)
        bad = pd.Series(_spread(codes, ~ok, False), index=raw.index)
        if validation.kind == "text":
            return s.mask(bad).astype("string"), bad
        fill = (np.nan if values.dtype.kind == "f" else None if values.dtype == object
                else values.dtype.type("NaT"))
        typed = pd.Series(_spread(codes, values, fill), index=raw.index)
        if dtype == "Int64":
            return typed.astype("Float64").astype("Int64"), bad
        return typed.astype(dtype), bad  # type: ignore[call-overload]

    return parse


def _parse_bool(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    values = _blank(raw).to_numpy(dtype=object)
    yes, no = values == "1", values == "0"
    present = ~pd.isna(values)
    out = pd.array(yes, dtype="boolean")
    out[~(yes | no)] = pd.NA
    return pd.Series(out, index=raw.index), pd.Series(present & ~(yes | no), index=raw.index)


def _parse_string(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    s = _blank(raw)
    return s.astype("string"), pd.Series(False, index=raw.index)


def _label_parser(mapping: Mapping[str, str]) -> Parser:
    """Code -> label; a code outside the choices is kept verbatim (a rule flags it)."""

    def parse(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
        s = _blank(raw)
        labels = s.map(dict(mapping)).to_numpy(dtype=object)
        out = np.where(pd.isna(labels), s.to_numpy(dtype=object), labels)
        return (pd.Series(out, index=raw.index, dtype="object").astype("string"),
                pd.Series(False, index=raw.index))

    return parse


def parse_choices(text: str) -> dict[str, str]:
    """REDCap's choice string to {code: label}: "1, Yes | 0, No" -> {"1": "Yes", "0": "No"}.

    Only the first comma separates code from label, so labels may hold commas. Older
    dictionaries separate choices with "\\n" instead of "|".
    """
    out: dict[str, str] = {}
    for part in re.split(r"\||\\n", text or ""):
        part = part.strip()
        if not part:
            continue
        code, sep, label = part.partition(",")
        out[code.strip()] = label.strip() if sep else code.strip()
    return out


def choices(row: Mapping[str, str]) -> dict[str, str]:
    """The {code: label} choices of a dictionary row, the implicit ones of yesno and
    truefalse included; {} for a field without choices (text, notes, calc, slider)."""
    ftype = row.get("field_type", "")
    if ftype in _IMPLICIT_CHOICES:
        return dict(_IMPLICIT_CHOICES[ftype])
    if ftype in ("radio", "dropdown", "checkbox"):
        return parse_choices(row.get("select_choices_or_calculations", ""))
    return {}


def checkbox_columns(row: Mapping[str, str]) -> list[str]:
    """Export columns of a checkbox field, `<field>___<code>` in choice order.

    REDCap lower-cases the code and turns characters other than [0-9a-z_] into "_"
    (a negative code "-1" becomes "_1"); the sandbox's codes are plain digits.
    """
    if row.get("field_type") != "checkbox":
        return []
    name = row["field_name"]
    return [f"{name}___{checkbox_code(code)}" for code in choices(row)]


def checkbox_code(code: str) -> str:
    """A checkbox choice code as REDCap writes it in the export column name."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in code.lower())


def export_columns(metadata: Sequence[Mapping[str, str]]) -> list[str]:
    """Data columns of a flat export in dictionary order: checkboxes expanded and
    `<form>_complete` after each form's last field (the id field first)."""
    cols: list[str] = []
    forms: list[str] = []
    for row in metadata:
        form = row["form_name"]
        if form not in forms:
            if forms:
                cols.append(f"{forms[-1]}_complete")
            forms.append(form)
        if row["field_type"] == "descriptive":
            continue
        cols.extend(checkbox_columns(row) or [row["field_name"]])
    if forms:
        cols.append(f"{forms[-1]}_complete")
    return cols


def _validation_name(row: Mapping[str, str]) -> str:
    return (row.get("text_validation_type_or_show_slider_number") or "").strip().lower()


def validation_of(row: Mapping[str, str]) -> Validation | None:
    """The validation a dictionary row's values must pass, or None (free text, choices).

    Text fields: their text validation (None without one, or for a validation this
    REDCap-independent reader does not know, e.g. a site's custom one); slider: a whole
    number; calc: a number.
    """
    ftype = row.get("field_type", "")
    if ftype == "text":
        return VALIDATIONS.get(_validation_name(row))
    if ftype == "slider":
        return _SLIDER
    if ftype == "calc":
        return _CALC
    return None


def expected_words(row: Mapping[str, str]) -> str:
    """What a value of this field should be, in a coordinator's words."""
    return field_type(row).expected


def field_type(row: Mapping[str, str]) -> FieldType:
    """The dtype, parser, reason and plain words for one REDCap data-dictionary row.

    Checkbox fields are typed per export column (`<field>___<code>`): the FieldType
    returned for them applies to each of those columns.
    """
    ftype = row.get("field_type", "")
    name = _validation_name(row)
    if ftype == "text":
        validation = VALIDATIONS.get(name)
        if validation is None:
            why = (f"validation {name} is not one REDCap ships: text" if name
                   else "text without validation")
            return FieldType("string", _parse_string, why, "text", "free text")
        return FieldType(_DTYPE[validation.kind], _validated_parser(validation),
                         f"validation is {name}", validation.words, validation.kind)
    if ftype in ("yesno", "truefalse"):
        words = "Yes (1) or No (0)" if ftype == "yesno" else "True (1) or False (0)"
        return FieldType("boolean", _parse_bool, f"field type is {ftype} (1/0)", words,
                         "boolean")
    if ftype in ("radio", "dropdown"):
        return FieldType("string", _label_parser(choices(row)),
                         f"field type is {ftype}: choice label, unknown codes kept verbatim",
                         "one of the choices", "choice")
    if ftype == "checkbox":
        return FieldType("boolean", _parse_bool,
                         "field type is checkbox: one 0/1 column per choice",
                         "ticked (1) or not (0)", "checkbox")
    if ftype == "calc":
        return FieldType("Float64", _validated_parser(_CALC), "field type is calc (a number)",
                         _CALC.words, "number")
    if ftype == "slider":
        return FieldType("Int64", _validated_parser(_SLIDER), "field type is slider (0-100)",
                         _SLIDER.words, "integer")
    if ftype == "file":
        return FieldType("string", _parse_string, "field type is file: the file's name",
                         "an uploaded file", "file")
    return FieldType("string", _parse_string, f"field type is {ftype or 'unknown'}: text",
                     "text", "free text")


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
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
