"""A REDCap column read into its type: `field_type(row)` gives the dtype and the parser.

A parser takes a whole column of raw strings and returns the typed column plus the mask
of non-empty values REDCap's own validation would refuse; values are converted once
per distinct text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from registry.fieldtypes.choices import choices
from registry.fieldtypes.validations import (
    CALC,
    SLIDER,
    VALIDATIONS,
    Validation,
    validation_name,
)

__all__ = ["FieldType", "Parser", "blank_cells", "choice_labels", "expected_words", "field_type",
           "read_texts"]

#: A parser: column of raw strings -> (typed column, mask of refused non-empty values).
Parser = Callable[[pd.Series], tuple[pd.Series, pd.Series]]
_TIME_KINDS = ("time", "time_hh_mm_ss", "time_mm_ss")
_DTYPE = {"date": "datetime64[ns]", "datetime": "datetime64[ns]",
          "datetime_seconds": "datetime64[ns]", "time": "string",
          "time_hh_mm_ss": "string", "time_mm_ss": "string",
          "integer": "Int64", "number": "Float64", "text": "string"}

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
    """Raw column as an object column of str with REDCap's "" (and None/NaN) as NaN."""
    return pd.Series(_blank_values(raw), index=raw.index, dtype=object)


def _blank_values(raw: pd.Series) -> np.ndarray:
    """`_blank`'s values as a numpy object array.

    Stays on numpy object arrays (no per-value string methods) so a 250,000-row
    column takes milliseconds; a non-str value (an int or float from a CSV reader)
    becomes the text REDCap would have sent.
    """
    values = raw.to_numpy(dtype=object, copy=True)
    empty = blank_cells(values)
    if pd.api.types.infer_dtype(values[~empty], skipna=True) not in ("string", "empty"):
        values[~empty] = [_to_text(v) for v in values[~empty]]  # rare: not REDCap's JSON
    values[empty] = np.nan
    return values


def blank_cells(values: np.ndarray) -> np.ndarray:
    """Which cells of an object array REDCap would call empty: "" or missing."""
    empty = pd.isna(values)
    present = ~empty
    empty[present] = values[present] == ""
    return empty


def _to_text(value: object) -> str:
    """A value a CSV reader typed back to REDCap's text: 1.0 -> "1", 12 -> "12"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _distinct(raw: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(blanked values, codes per row (-1 empty), distinct non-empty texts stripped)."""
    values = _blank_values(raw)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.array([str(u).strip() for u in uniques], dtype=object)
    return values, codes, texts


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


@functools.lru_cache(maxsize=1024)
def _validated_parser(validation: Validation) -> Parser:
    """The parser of one validation; the same object for the same validation, so a
    caller may parse every column sharing it in one call (`registry.tidy`)."""
    dtype = _DTYPE[validation.kind]

    def parse(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
        blanked, codes, texts = _distinct(raw)
        values, ok = read_texts(validation, texts)
        unreadable = _spread(codes, ~ok, False)
        bad = pd.Series(unreadable, index=raw.index)
        if validation.kind == "text":
            kept = blanked.copy()
            kept[unreadable] = np.nan
            return pd.Series(kept, index=raw.index, dtype=object).astype("string"), bad
        fill = (np.nan if values.dtype.kind == "f" else None if values.dtype == object
                else values.dtype.type("NaT"))
        typed = pd.Series(_spread(codes, values, fill), index=raw.index)
        if dtype == "Int64":
            return typed.astype("Float64").astype("Int64"), bad
        if typed.dtype == dtype:  # float64, datetime64[ns]: already the column's type
            return typed, bad
        return typed.astype(dtype), bad  # type: ignore[call-overload]

    return parse


def _parse_bool(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    values = _blank_values(raw)
    yes, no = values == "1", values == "0"
    present = ~pd.isna(values)
    out = pd.array(yes, dtype="boolean")
    out[~(yes | no)] = pd.NA
    return pd.Series(out, index=raw.index), pd.Series(present & ~(yes | no), index=raw.index)


def _parse_string(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    s = _blank(raw)
    return s.astype("string"), pd.Series(False, index=raw.index)


def _label_parser(mapping: Mapping[str, str]) -> Parser:
    """Code -> label; a code outside the choices is kept verbatim (a rule flags it):
    `choice_labels` on one column."""

    def parse(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
        cells = raw.to_numpy(dtype=object).reshape(-1, 1)
        out = choice_labels(cells, [mapping])[:, 0]
        return (pd.Series(out, index=raw.index, dtype="object").astype("string"),
                pd.Series(False, index=raw.index))

    return parse


def choice_labels(cells: np.ndarray, mappings: Sequence[Mapping[str, str]]) -> np.ndarray:
    """Columns of radio/dropdown codes -> their labels, all columns in one pass.

    `cells` is an (n, k) object array of raw values, `mappings[j]` the choices of column
    j. The same reading as `field_type(row).parse` for such a field (a blank is NaN, a
    code outside its choices is kept verbatim), for k columns of k different choice
    lists at once: each distinct (column, value) pair is looked up once, so a project
    whose every choice field has its own list pays no per-column call.
    """
    n, k = cells.shape
    values = _blank_values(pd.Series(cells.ravel(order="F"), dtype=object))
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    out = np.full(n * k, np.nan, dtype=object)
    present = codes >= 0
    if present.any():
        column = np.repeat(np.arange(k), n)[present]
        pairs, inverse = np.unique(column * len(uniques) + codes[present],
                                   return_inverse=True)
        labels = np.empty(len(pairs), dtype=object)
        for i, (j, code) in enumerate(zip(pairs // len(uniques), pairs % len(uniques),
                                          strict=True)):
            text = uniques[code]
            labels[i] = mappings[j].get(text, text)
        out[present] = labels[inverse.ravel()]
    return out.reshape((n, k), order="F")


def expected_words(row: Mapping[str, str]) -> str:
    """What a value of this field should be, in a coordinator's words."""
    return field_type(row).expected


def field_type(row: Mapping[str, str]) -> FieldType:
    """The dtype, parser, reason and plain words for one REDCap data-dictionary row.

    Checkbox fields are typed per export column (`<field>___<code>`): the FieldType
    returned for them applies to each of those columns.
    """
    ftype = row.get("field_type", "")
    name = validation_name(row)
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
        return FieldType("Float64", _validated_parser(CALC), "field type is calc (a number)",
                         CALC.words, "number")
    if ftype == "slider":
        return FieldType("Int64", _validated_parser(SLIDER), "field type is slider (0-100)",
                         SLIDER.words, "integer")
    if ftype == "file":
        return FieldType("string", _parse_string, "field type is file: the file's name",
                         "an uploaded file", "file")
    return FieldType("string", _parse_string, f"field type is {ftype or 'unknown'}: text",
                     "text", "free text")
