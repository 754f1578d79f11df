"""Table 1: baseline characteristics by arm with standardised mean differences (SMD).

Over the matched rows (a reused control counts once per set, as in the analysis).
Continuous: mean (SD), median [IQR], SMD = (m1 - m0) / sqrt((s1^2 + s0^2) / 2).
Binary (boolean): n (%), SMD = (p1 - p0) / sqrt((p1(1-p1) + p0(1-p0)) / 2).
Categorical (text labels): one row per level, each with the binary SMD of that level;
given the variable's allowed levels (`levels`, the data dictionary's choices, passed in
by the registry side), the levels come in that order and a value outside them (a code
the dictionary does not have, kept verbatim by `registry.tidy` so a rule can flag it)
counts as missing, not as a level of its own (the data-quality checks flag it).
Missing values are counted per arm and left out of the summaries. |SMD| < 0.1 is the
usual mark of balance. Reference: Austin, Stat Med 2009;28:3083-107.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["BalanceTable", "balance_table"]


@dataclass(frozen=True)
class BalanceTable:
    """Rows: variable, level ("" unless categorical), kind, exposed, control (text), smd,
    missing_exposed, missing_control (no value, or one outside the allowed levels)."""

    table: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """The table itself."""
        return self.table


def _smd_cont(a: pd.Series, b: pd.Series) -> float:
    s = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2) if len(a) > 1 and len(b) > 1 else 0
    return float((a.mean() - b.mean()) / s) if s > 0 else (0.0 if a.mean() == b.mean()
                                                           else math.nan)


def _smd_prop(p1: float, p0: float) -> float:
    s = math.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
    return (p1 - p0) / s if s > 0 else (0.0 if p1 == p0 else math.nan)


def _pct(s: pd.Series) -> str:
    return f"{int(s.sum()):,} ({100 * s.mean():.0f}%)" if len(s) else "-"


def balance_table(rows: pd.DataFrame, variables: tuple[str, ...],
                  levels: Mapping[str, Sequence[str]] | None = None) -> BalanceTable:
    """Table 1 for `variables` (columns of the matched rows) by `exposed`; `levels`:
    variable -> its allowed levels in order (module docstring), for categorical ones."""
    levels = levels or {}
    e, c = rows[rows["exposed"] == 1], rows[rows["exposed"] == 0]
    out: list[dict[str, object]] = [{
        "variable": "n", "level": "", "kind": "count", "exposed": str(len(e)),
        "control": str(len(c)), "smd": math.nan, "missing_exposed": 0, "missing_control": 0}]
    for var in variables:
        col = rows[var]
        a, b = e[var].dropna(), c[var].dropna()
        ok = _categorical(col) and var in levels
        allowed = [str(v) for v in levels.get(var, ())] if ok else []
        bad_a = int((~a.astype(str).isin(allowed)).sum()) if ok else 0
        bad_b = int((~b.astype(str).isin(allowed)).sum()) if ok else 0
        if ok:
            a, b = a[a.astype(str).isin(allowed)], b[b.astype(str).isin(allowed)]
        miss = {"missing_exposed": int(e[var].isna().sum()) + bad_a,
                "missing_control": int(c[var].isna().sum()) + bad_b}
        if _binary(col):
            a, b = a.astype(bool), b.astype(bool)
            out.append({"variable": var, "level": "", "kind": "binary", "exposed": _pct(a),
                        "control": _pct(b), "smd": _smd_prop(float(a.mean()) if len(a) else 0,
                                                             float(b.mean()) if len(b) else 0),
                        **miss})
            continue
        if not _categorical(col):
            a, b = a.astype(float), b.astype(float)
            out.append({"variable": var, "level": "", "kind": "continuous",
                        "exposed": _describe(a), "control": _describe(b),
                        "smd": _smd_cont(a, b), **miss})
            continue
        present = set(a.astype(str)) | set(b.astype(str))
        order = ([v for v in allowed if v in present] if ok
                 else sorted(col.dropna().astype(str).unique()))
        for i, level in enumerate(order):
            la, lb = a.astype(str) == level, b.astype(str) == level
            out.append({"variable": var, "level": level, "kind": "categorical",
                        "exposed": _pct(la), "control": _pct(lb),
                        "smd": _smd_prop(float(la.mean()) if len(la) else 0,
                                         float(lb.mean()) if len(lb) else 0),
                        **(miss if i == 0 else {k: 0 for k in miss})})
        if not order and (miss["missing_exposed"] or miss["missing_control"]):
            out.append({"variable": var, "level": "", "kind": "categorical", "exposed": "-",
                        "control": "-", "smd": math.nan, **miss})
    return BalanceTable(pd.DataFrame(out))


def _binary(col: pd.Series) -> bool:
    return bool(pd.api.types.is_bool_dtype(col) or set(col.dropna().unique()) <= {True, False})


def _categorical(col: pd.Series) -> bool:
    """Text labels (not boolean, not numeric): one row per level."""
    return not _binary(col) and not pd.api.types.is_numeric_dtype(col)


def _describe(s: pd.Series) -> str:
    if not len(s):
        return "-"
    q = np.percentile(s, [25, 50, 75])
    sd = s.std(ddof=1) if len(s) > 1 else 0.0
    return f"{s.mean():.1f} ({sd:.1f}); {q[1]:.0f} [{q[0]:.0f}-{q[2]:.0f}]"
