"""The vectorised rule engine: `run_rules(frames, rules) -> outcomes`, without GX.

Every rule is a Great Expectations expectation (type + kwargs, GX's own vocabulary and
semantics, row conditions included), so suites stay GX-readable; this engine evaluates
them with numpy on whole columns, in families: every rule of one type on one frame in one
pass over columns converted once per frame (REDCap's "" and pandas' NA as missing, dates
as datetime64, booleans as 0/1). It gives the same failing rows and checked rows as
`registry.quality.gx_adapter.run_rules` (GX) for every type, which the tests check on
generated frames; it runs in milliseconds where GX has a fixed cost of seconds (about
10 ms per expectation), which is what makes a 5,000-field dictionary checkable nightly.

Kwargs are checked against each type's known keys (`registry.quality.suites.KWARGS`)
when a suite loads, so a typo stops the run as GX's own validation would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from registry.quality.columns import FrameColumns
from registry.quality.gx_adapter import Outcome, columns_of
from registry.quality.rowcodes import text_codes
from registry.quality.suites import Rule

__all__ = ["run_rules"]

# --- columns as plain arrays ------------------------------------------------------


class _Column:
    """One frame column converted once: values, missing mask and kind. A text column
    (StringDtype) is factorized: missing (NA or "") and set membership are read off its
    distinct values; the values (None where missing) written out only when compared."""

    __slots__ = ("_codes", "_values", "kind", "missing")

    def __init__(self, series: pd.Series) -> None:
        dtype = series.dtype
        self._codes: tuple[np.ndarray, np.ndarray] | None = None
        factorized = text_codes(series)
        if factorized is not None:
            # str or NA only: NA is code -1, "" one of the distinct values
            self.kind = "object"
            codes, uniques = factorized
            uniques = np.asarray(uniques, dtype=object)
            self._codes = (codes, uniques)
            blank = np.append(uniques == "", True)  # code -1: the last entry
            self.missing = blank[codes]
            self._values = None
            return
        if pd.api.types.is_datetime64_any_dtype(dtype):
            self.kind = "datetime"
            self._values = series.to_numpy("datetime64[ns]")
            self.missing = np.isnat(self.values)
        elif pd.api.types.is_timedelta64_dtype(dtype):
            self.kind = "timedelta"
            self._values = series.to_numpy("timedelta64[ns]")
            self.missing = np.isnat(self.values)
        elif isinstance(dtype, pd.BooleanDtype) or pd.api.types.is_bool_dtype(dtype):
            self.kind = "bool"  # as 1.0 / 0.0, NaN missing
            self._values = series.to_numpy("float64", na_value=np.nan)
            self.missing = np.isnan(self.values)
        elif pd.api.types.is_numeric_dtype(dtype):
            self.kind = "number"
            self._values = series.to_numpy("float64", na_value=np.nan)
            self.missing = np.isnan(self.values)
        else:
            self.kind = "object"
            array = series.array
            # text: the values themselves, copied (to_numpy would scan for NA first, and
            # the missing mask below scans again)
            values = (np.array(array, dtype=object, copy=True)
                      if isinstance(array, pd.arrays.NumpyExtensionArray)
                      else series.to_numpy(dtype=object, copy=True))
            missing = pd.isna(values)
            present = ~missing
            missing[present] = values[present] == ""
            values[missing] = None
            self._values = values
            self.missing = missing

    @property
    def values(self) -> np.ndarray:
        """The values as an ndarray (text: objects, None where missing)."""
        if self._values is None:
            assert self._codes is not None
            codes, uniques = self._codes
            table = np.full(len(uniques) + 1, None, dtype=object)  # code -1: the last
            table[:-1] = uniques
            table[:-1][uniques == ""] = None
            self._values = table[codes]
        return self._values

    def member(self, value_set: Sequence[Any]) -> np.ndarray | None:
        """Per row, whether its text is in `value_set` (a factorized column), else None."""
        if self._codes is None:
            return None
        codes, uniques = self._codes
        hit = pd.Series(uniques, dtype=object).isin(list(value_set)).to_numpy(bool)
        return np.append(hit, False)[codes]

    def as_number(self) -> np.ndarray:
        """Numbers, or the datetime/timedelta nanoseconds, as float (NaN missing)."""
        if self.kind in ("number", "bool"):
            return self.values
        if self.kind in ("datetime", "timedelta"):
            out = self.values.astype("int64").astype("float64")
            out[self.missing] = np.nan
            return out
        out = np.full(len(self.missing), np.nan)
        ok = ~self.missing
        out[ok] = pd.to_numeric(pd.Series(self.values[ok], dtype=object),
                                errors="coerce").to_numpy("float64", na_value=np.nan)
        return out

    def bound(self, value: Any) -> Any:
        """A kwarg value in this column's type (ISO date text for a date column, ...)."""
        if value is None:
            return None
        if self.kind == "bool" and isinstance(value, bool | int | float):
            return float(value)
        if self.kind == "datetime":
            return np.datetime64(pd.Timestamp(value), "ns")
        if self.kind == "timedelta":
            return np.timedelta64(pd.Timedelta(value), "ns")
        return value


class _Frame:
    """A frame's columns converted on first use."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.series = FrameColumns(frame)
        self.n = len(frame)
        self._cols: dict[str, _Column] = {}

    def __getitem__(self, name: str) -> _Column:
        if name not in self._cols:
            self._cols[name] = _Column(self.series[name])
        return self._cols[name]


# --- row conditions (GX's condition objects) ---------------------------------------

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
    ">": np.greater, ">=": np.greater_equal,
}


def _condition(cond: Mapping[str, Any], data: _Frame) -> np.ndarray:
    """Rows where a GX row condition holds (missing values never satisfy a comparison)."""
    kind = cond.get("type")
    if kind in ("and", "or"):
        parts = [_condition(c, data) for c in cond.get("conditions", [])]
        if not parts:
            return np.ones(data.n, bool)
        return np.logical_and.reduce(parts) if kind == "and" else np.logical_or.reduce(parts)
    column = data[str(cond["column"]["name"])]
    if kind == "nullity":
        return column.missing if cond.get("is_null", True) else ~column.missing
    op, param = cond["operator"], cond.get("parameter")
    present = ~column.missing
    out = np.zeros(data.n, bool)
    values = column.values[present]
    if op in ("IN", "NOT_IN"):
        hit = _set_member(column, list(param or []))[present]
        out[present] = hit if op == "IN" else ~hit
        return out
    if column.kind in ("datetime", "timedelta", "bool"):
        param = column.bound(param)
    out[present] = np.asarray(_OPS[op](values, param), dtype=bool)
    return out


# --- the expectation types ---------------------------------------------------------


def _set_member(col: _Column, value_set: Sequence[Any]) -> np.ndarray:
    present = ~col.missing
    out = np.zeros(len(present), bool)
    if col.kind in ("bool", "number"):
        numbers = [float(v) for v in value_set if isinstance(v, bool | int | float)]
        out[present] = np.isin(col.values[present], numbers)
        return out
    if col.kind in ("datetime", "timedelta"):
        wanted = np.array([col.bound(v) for v in value_set],
                          dtype=col.values.dtype) if value_set else np.zeros(0, col.values.dtype)
        out[present] = np.isin(col.values[present], wanted)
        return out
    member = col.member(value_set)
    if member is not None:  # each distinct text looked up once
        return present & member
    values = pd.Series(col.values[present], dtype=object)
    out[present] = values.isin(list(value_set)).to_numpy(bool)
    return out


def _between(col: _Column, kw: Mapping[str, Any], values: np.ndarray | None = None) -> \
        np.ndarray:
    """Failing rows of a be_between on present values (lengths when `values` given)."""
    present = ~col.missing
    x = col.values if values is None else values
    lo = col.bound(kw.get("min_value")) if values is None else kw.get("min_value")
    hi = col.bound(kw.get("max_value")) if values is None else kw.get("max_value")
    if x.dtype.kind in "fmM" and all(_same_kind(x, v) for v in (lo, hi) if v is not None):
        # numbers or dates on the whole column (NaN and NaT compare False), no selection
        return present & ~_within(x, lo, hi, kw)
    bad = np.zeros(len(x), bool)
    bad[present] = ~_within(x[present], lo, hi, kw)
    return bad


def _within(x: np.ndarray, lo: Any, hi: Any, kw: Mapping[str, Any]) -> np.ndarray:
    """Which of `x` lie between the bounds (None: no bound), strict as `kw` says."""
    ok = np.ones(len(x), bool)
    with np.errstate(invalid="ignore"):
        if lo is not None:
            ok &= (x > lo) if kw.get("strict_min") else (x >= lo)
        if hi is not None:
            ok &= (x < hi) if kw.get("strict_max") else (x <= hi)
    return ok


def _same_kind(x: np.ndarray, bound: Any) -> bool:
    """Whether a bound compares with the column's values as it does with a selection of
    them (a number with numbers, a datetime64 / timedelta64 with dates / durations)."""
    if x.dtype.kind == "f":
        return isinstance(bound, int | float) and not isinstance(bound, bool)
    return isinstance(bound, np.datetime64 | np.timedelta64) and (
        np.dtype(bound.dtype).kind == x.dtype.kind)


def _regex(col: _Column, pattern: str) -> np.ndarray:
    present = ~col.missing
    out = np.zeros(len(present), bool)
    if present.any():
        values = pd.Series(col.values[present], dtype=object).astype(str)
        out[present] = values.str.contains(pattern, regex=True).to_numpy(bool)
    return out


def _domain_pair(a: _Column, b: _Column, how: str) -> np.ndarray:
    if how == "either_value_is_missing":
        return ~a.missing & ~b.missing
    if how == "both_values_are_missing":
        return ~(a.missing & b.missing)
    return np.ones(len(a.missing), bool)


def _domain_multi(cols: Sequence[_Column], how: str) -> np.ndarray:
    missing = np.column_stack([c.missing for c in cols])
    if how == "any_value_is_missing":
        return np.asarray(~missing.any(axis=1))
    if how == "all_values_are_missing":
        return np.asarray(~missing.all(axis=1))
    return np.ones(missing.shape[0], bool)


def _pair_values(a: _Column, b: _Column) -> tuple[np.ndarray, np.ndarray]:
    if a.kind == b.kind and a.kind in ("number", "datetime", "timedelta"):
        return a.values, b.values
    if {a.kind, b.kind} <= {"number", "bool"}:
        return a.as_number(), b.as_number()
    return a.values, b.values


def _greater(a: _Column, b: _Column, or_equal: bool) -> np.ndarray:
    x, y = _pair_values(a, b)
    both = ~a.missing & ~b.missing
    if x.dtype == y.dtype and x.dtype.kind in "fmM":
        # numbers or dates on whole columns (NaN and NaT compare False), no row selection
        with np.errstate(invalid="ignore"):
            return both & ((x >= y) if or_equal else (x > y))
    out = np.zeros(len(x), bool)
    with np.errstate(invalid="ignore"):
        out[both] = (x[both] >= y[both]) if or_equal else (x[both] > y[both])
    return out


def _equal(a: _Column, b: _Column) -> np.ndarray:
    x, y = _pair_values(a, b)
    both = ~a.missing & ~b.missing
    out = np.zeros(len(x), bool)
    out[both] = np.asarray(x[both] == y[both], dtype=bool)
    out |= a.missing & b.missing
    return out


def _hashable(col: _Column) -> pd.Series:
    if col.kind in ("datetime", "timedelta"):
        keys = col.values.astype("int64").astype(object)
        keys[col.missing] = None
        return pd.Series(keys, dtype=object)
    return pd.Series(col.values, dtype=object)


def _evaluate(rule: Rule, data: _Frame) -> tuple[np.ndarray, np.ndarray]:
    """(failing mask, checked mask before the row condition) of one rule."""
    kw = rule.kwargs
    t = rule.type
    everywhere = np.ones(data.n, bool)
    if "column" in kw:
        col = data[kw["column"]]
        present = ~col.missing
        if t == "expect_column_values_to_not_be_null":
            return col.missing.copy(), everywhere
        if t == "expect_column_values_to_be_null":
            return present.copy(), everywhere
        if t == "expect_column_values_to_be_in_set":
            return present & ~_set_member(col, kw["value_set"]), present
        if t == "expect_column_values_to_not_be_in_set":
            return _set_member(col, kw["value_set"]), present
        if t == "expect_column_values_to_be_between":
            return _between(col, kw), present
        if t == "expect_column_values_to_match_regex":
            return present & ~_regex(col, kw["regex"]), present
        if t == "expect_column_values_to_not_match_regex":
            return _regex(col, kw["regex"]), present
        if t == "expect_column_values_to_be_unique":
            values = _hashable(col)[present]
            dup = np.zeros(data.n, bool)
            dup[present] = values.duplicated(keep=False).to_numpy(bool)
            return dup, present
        if t == "expect_column_value_lengths_to_be_between":
            lengths = np.zeros(data.n)
            lengths[present] = [len(str(v)) for v in col.values[present]]
            return _between(col, kw, lengths), present
    if "column_A" in kw:
        a, b = data[kw["column_A"]], data[kw["column_B"]]
        domain = _domain_pair(a, b, kw.get("ignore_row_if", "both_values_are_missing"))
        if t == "expect_column_pair_values_a_to_be_greater_than_b":
            return domain & ~_greater(a, b, bool(kw.get("or_equal"))), domain
        if t == "expect_column_pair_values_to_be_equal":
            return domain & ~_equal(a, b), domain
        pairs = {tuple(p) for p in kw["value_pairs_set"]}
        hit = np.array([(x, y) in pairs for x, y in zip(a.values, b.values, strict=True)],
                       dtype=bool)
        return domain & ~hit, domain
    cols = [data[c] for c in kw["column_list"]]
    domain = _domain_multi(cols, kw.get("ignore_row_if", "all_values_are_missing"))
    if t == "expect_compound_columns_to_be_unique":
        keys = pd.DataFrame({i: _hashable(c) for i, c in enumerate(cols)})[domain]
        dup = np.zeros(data.n, bool)
        dup[domain] = keys.duplicated(keep=False).to_numpy(bool)
        return dup, domain
    if t == "expect_multicolumn_sum_to_equal":
        total = np.sum(np.column_stack([c.as_number() for c in cols]), axis=1)
        return domain & ~(total == kw["sum_total"]), domain
    if t == "expect_select_column_values_to_be_unique_within_record":
        keys = pd.DataFrame({i: _hashable(c) for i, c in enumerate(cols)})
        repeated = keys.nunique(axis=1, dropna=False).to_numpy() < len(cols)
        return domain & repeated, domain
    raise ValueError(f"the engine does not know {t}")


def run_rules(frames: Mapping[str, pd.DataFrame], rules: Sequence[Rule]) -> list[Outcome]:
    """Run every rule on its frame; one outcome per rule, errors included.

    A rule whose columns are absent gets an outcome with `error` set naming them; one
    that fails while evaluating gets the exception's first line; the others still run.
    Rules are evaluated grouped by frame (columns converted once per frame), so a family
    of rules on one frame shares the conversions.
    """
    outcomes: list[Outcome] = []
    by_frame: dict[str, list[Rule]] = {}
    for rule in rules:
        by_frame.setdefault(rule.frame, []).append(rule)
    empty = np.zeros(0, dtype=int)
    for name, frame_rules in by_frame.items():
        frame = frames.get(name)
        if frame is None:
            outcomes += [Outcome(r, empty, np.zeros(0, bool), f"no {name} frame")
                         for r in frame_rules]
            continue
        data = _Frame(frame)
        columns = set(frame.columns)
        conditions: dict[str, np.ndarray] = {}
        for rule in frame_rules:
            missing = [c for c in columns_of(rule) if c not in columns]
            if missing:
                outcomes.append(Outcome(rule, empty, np.zeros(len(frame), bool),
                                        f"column(s) {', '.join(missing)} not in {name}"))
                continue
            try:
                failing, checked = _evaluate(rule, data)
                cond = rule.kwargs.get("row_condition")
                if cond:
                    key = repr(cond)
                    if key not in conditions:
                        conditions[key] = _condition(cond, data)
                    checked = checked & conditions[key]
                    failing = failing & conditions[key]
            except Exception as exc:  # one bad rule never stops the others
                outcomes.append(Outcome(rule, empty, np.zeros(len(frame), bool),
                                        f"{type(exc).__name__}: {exc}".splitlines()[0]))
                continue
            outcomes.append(Outcome(rule, np.flatnonzero(failing & checked), checked))
    return outcomes
