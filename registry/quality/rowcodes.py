"""Rows as small integers: the grouping `prepare` needs, without pandas' groupby or sorts.

`prepare` asks "which rows are equal on these columns" (duplicate instances, a patient's
rows) many times over frames of ~10^5 rows. Sorting or grouping on text columns costs a
hash and a string comparison per row each time; here every column is factorized once
(equal values, and missing values, share a code), the codes of several columns are
folded into one integer per row, and everything after that is integer arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["first_of_group", "first_per_group", "group_codes", "neighbours", "text_codes"]


def group_codes(columns: Sequence[pd.Series]) -> np.ndarray:
    """One int64 per row, equal for two rows iff they are equal in every column.

    Missing values (NA, NaN, NaT) are equal to each other and to nothing else, as in a
    groupby with `dropna=False`. Codes are numbered in order of first appearance.
    Columns of numbers and dates are folded in first (cheap to factorize, and they tell
    most rows apart); a row alone in its group already is left out of the columns after
    that, so the text columns are hashed only for the rows that may still be equal.
    """
    n = len(columns[0]) if columns else 0
    out = np.arange(n, 2 * n, dtype=np.int64)  # alone in its group: a code of its own
    rows = np.arange(n)  # the rows that may still share their group
    key = np.zeros(n, dtype=np.int64)
    for column in sorted(columns, key=_is_text):
        array = column.array
        if isinstance(array, pd.arrays.NumpyExtensionArray):  # text, objects
            # the ndarray itself (its to_numpy scans every value for NA first), whose
            # factorize knows pd.NA as missing as the StringArray's does
            array = np.asarray(array)
        values = array if len(rows) == n else array[rows]
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        # key < len(rows) and codes + 1 <= len(uniques): the product stays far inside
        # int64, and factorizing it again keeps the next key below len(rows)
        key = pd.factorize(key * (len(uniques) + 1) + (codes + 1))[0].astype(np.int64)
        shared = np.bincount(key)[key] > 1
        if not shared.all():
            rows, key = rows[shared], pd.factorize(key[shared])[0].astype(np.int64)
        if len(rows) == 0:
            break
    out[rows] = key
    return pd.factorize(out)[0].astype(np.int64)


def _is_text(column: pd.Series) -> bool:
    return column.dtype == object or isinstance(column.dtype, pd.StringDtype)


def first_of_group(codes: np.ndarray) -> np.ndarray:
    """For each position, the position of the first row with the same code.

    `codes` must be numbered in order of first appearance (as `group_codes` and
    `pd.factorize` give them): code k first appears where the running maximum reaches
    k, so one pass finds every group's first row.
    """
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    running = np.maximum.accumulate(codes)
    new = np.empty(len(codes), dtype=bool)
    new[0] = True
    new[1:] = running[1:] > running[:-1]
    return np.flatnonzero(new)[codes]


def first_per_group(codes: np.ndarray, keep: np.ndarray, groups: int) -> np.ndarray:
    """Per group 0..groups-1, the position of its first row where `keep` holds (-1: none).

    Rows whose code is negative belong to no group (a row without a patient_id).
    """
    rows = np.flatnonzero(keep & (codes >= 0))
    found, first = np.unique(codes[rows], return_index=True)  # first occurrences
    out = np.full(groups, -1, dtype=np.int64)
    out[found] = rows[first]
    return out


def neighbours(groups: np.ndarray, *keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's previous and next row (positions, -1: none) within its group.

    The rows of a group are ordered by `keys` (each ascending, missing values last,
    ties in row order), as `sort_values(keys, kind="stable")` and a `groupby(...).shift`
    order them. A row with a negative group (no patient_id) has no neighbours, as a
    groupby leaves out missing keys. The order between groups does not matter here,
    so the groups are integer codes rather than the text they stand for.
    """
    n = len(groups)
    ranks = [_rank(key) for key in reversed(keys)]
    order = np.lexsort((np.arange(n), *ranks, groups))  # the last key sorts first
    in_order = groups[order]
    same = (in_order[1:] == in_order[:-1]) & (in_order[1:] >= 0)
    previous, following = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    previous[order[1:]] = np.where(same, order[:-1], -1)
    following[order[:-1]] = np.where(same, order[1:], -1)
    return previous, following


def _rank(key: pd.Series) -> np.ndarray:
    """The values' ranks (equal values, equal ranks), a missing value after all others."""
    codes, _ = pd.factorize(key, sort=True)
    return np.where(codes < 0, codes.max(initial=-1) + 1, codes)


def text_codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """A text column's (StringDtype: str or NA) codes and distinct values, NA coded -1;
    None for any other column. Factorized as the ndarray behind it: a StringArray's own
    factorize first copies and scans it for NA, twice the time."""
    if isinstance(column.dtype, pd.StringDtype) and isinstance(
            column.array, pd.arrays.NumpyExtensionArray):
        return pd.factorize(np.asarray(column.array))
    return None
