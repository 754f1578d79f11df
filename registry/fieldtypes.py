"""One function from a REDCap data-dictionary row to a pandas dtype, with the reason.

REDCap exports every value as a string; what a value *means* is in the data dictionary
(field type, text validation, choices). `field_type` reads one dictionary row and says
which pandas dtype its column gets, how to parse it and why ("validation is date_ymd"),
so the tidy frames and the dictionary-derived quality rules agree on every field.

The parsers are vectorised: they take a whole column of strings (REDCap's `""` or a
missing value meaning "empty") and return the typed column plus a mask of the non-empty
values that could not be read as that type (the conformance problems).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "DATE_VALIDATIONS",
    "FieldType",
    "Parser",
    "checkbox_columns",
    "choices",
    "export_columns",
    "field_type",
    "parse_choices",
]

#: A parser: column of raw strings -> (typed column, mask of unreadable non-empty values).
Parser = Callable[[pd.Series], tuple[pd.Series, pd.Series]]

#: REDCap's date validations (and the legacy name "date"); exports are always Y-M-D.
DATE_VALIDATIONS = frozenset({"date_ymd", "date_mdy", "date_dmy", "date"})
_DATETIME_VALIDATIONS = frozenset({
    "datetime_ymd", "datetime_mdy", "datetime_dmy",
    "datetime_seconds_ymd", "datetime_seconds_mdy", "datetime_seconds_dmy",
})
_INTEGER_VALIDATIONS = frozenset({"integer", "int"})
_NUMBER_VALIDATIONS = frozenset({"number", "float", "number_1dp", "number_2dp", "number_3dp",
                                 "number_4dp"})
_IMPLICIT_CHOICES = {
    "yesno": {"1": "Yes", "0": "No"},
    "truefalse": {"1": "True", "0": "False"},
}
_BOOL_MAP = {"1": True, "0": False}


@dataclass(frozen=True)
class FieldType:
    """How one REDCap field becomes a typed column.

    `dtype` is the pandas dtype string, `parse` the vectorised parser, `reason` one
    sentence saying which part of the dictionary decided it.
    """

    dtype: str
    parse: Parser
    reason: str


def _blank(raw: pd.Series) -> pd.Series:
    """Raw column as an object column of str with REDCap's "" (and None/NaN) as NaN.

    Stays on object arrays (no per-value string methods) so a 250,000-row column
    takes milliseconds; a non-str value (an int or float from a CSV reader) becomes the
    text REDCap would have sent.
    """
    s = raw.astype(object)
    empty = s.isna() | (s == "")
    if pd.api.types.infer_dtype(s[~empty], skipna=True) not in ("string", "empty"):
        s = s.where(empty, s[~empty].map(_to_text))  # rare path: not REDCap's JSON
    return s.mask(empty)


def _to_text(value: object) -> str:
    """A value a CSV reader typed back to REDCap's text: 1.0 -> "1", 12 -> "12"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _parse_date(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    s = _blank(raw)
    out = pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")
    return out.astype("datetime64[ns]"), s.notna() & out.isna()


def _parse_datetime(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    s = _blank(raw)
    out = pd.to_datetime(s, format="mixed", errors="coerce")
    return out.astype("datetime64[ns]"), s.notna() & out.isna()


def _numbers(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype("float64")


def _parse_integer(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    s = _blank(raw)
    num = _numbers(s)
    ok = num.notna() & np.isfinite(num) & (num == np.floor(num))
    out = num.where(ok).astype("Float64").astype("Int64")
    return out, s.notna() & ~ok


def _parse_number(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    s = _blank(raw)
    num = _numbers(s)
    ok = num.notna() & np.isfinite(num)
    return num.where(ok).astype("Float64"), s.notna() & ~ok


def _parse_bool(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    s = _blank(raw)
    out = s.map(_BOOL_MAP).astype("boolean")
    return out, s.notna() & out.isna()


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

    Only the first comma separates code from label, so labels may hold commas.
    """
    out: dict[str, str] = {}
    for part in (text or "").split("|"):
        part = part.strip()
        if not part:
            continue
        code, sep, label = part.partition(",")
        out[code.strip()] = label.strip() if sep else code.strip()
    return out


def choices(row: Mapping[str, str]) -> dict[str, str]:
    """The {code: label} choices of a dictionary row, the implicit ones of yesno and
    truefalse included; {} for a field without choices (text, notes, calc)."""
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
    return [f"{name}___{_checkbox_code(code)}" for code in choices(row)]


def _checkbox_code(code: str) -> str:
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


def field_type(row: Mapping[str, str]) -> FieldType:
    """The dtype, parser and reason for one REDCap data-dictionary row.

    Checkbox fields are typed per export column (`<field>___<code>`): the FieldType
    returned for them applies to each of those columns.
    """
    ftype = row.get("field_type", "")
    validation = (row.get("text_validation_type_or_show_slider_number") or "").strip()
    if ftype == "text":
        if validation in DATE_VALIDATIONS:
            return FieldType("datetime64[ns]", _parse_date, f"validation is {validation}")
        if validation in _DATETIME_VALIDATIONS:
            return FieldType("datetime64[ns]", _parse_datetime, f"validation is {validation}")
        if validation in _INTEGER_VALIDATIONS:
            return FieldType("Int64", _parse_integer, f"validation is {validation}")
        if validation in _NUMBER_VALIDATIONS:
            return FieldType("Float64", _parse_number, f"validation is {validation}")
        why = f"validation is {validation}" if validation else "text without validation"
        return FieldType("string", _parse_string, why)
    if ftype in ("yesno", "truefalse"):
        return FieldType("boolean", _parse_bool, f"field type is {ftype} (1/0)")
    if ftype in ("radio", "dropdown"):
        return FieldType("string", _label_parser(choices(row)),
                         f"field type is {ftype}: choice label, unknown codes kept verbatim")
    if ftype == "checkbox":
        return FieldType("boolean", _parse_bool,
                         "field type is checkbox: one 0/1 column per choice")
    if ftype == "calc":
        return FieldType("Float64", _parse_number, "field type is calc (a number)")
    if ftype == "slider":
        return FieldType("Int64", _parse_integer, "field type is slider (0-100)")
    return FieldType("string", _parse_string, f"field type is {ftype or 'unknown'}: text")

