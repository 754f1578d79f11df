"""Proportional hazards: Schoenfeld residuals and the Grambsch-Therneau test.

For the matched-set Cox model (one covariate, one stratum per set, Efron ties), each
event's Schoenfeld residual is its covariate minus the risk-weighted mean of its set's
risk set at that time (averaged over the Efron terms of a tie). Scaled residuals,
beta + d Var(beta) r, estimate beta(t); a slope over time means the hazard ratio
changes with time. The test (Grambsch & Therneau, Biometrika 1994;81:515-26) correlates
them with g(t) = 1 - KM(t) (the "km" transform of R's `cox.zph` before 3.0 and of
lifelines' `proportional_hazard_test`, which it is checked against):
T = d Var(beta) (sum (g_i - mean g) r_i)^2 / sum (g_i - mean g)^2, chi-square on 1 df.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analyses.setfit import _sums, set_pairs

__all__ = ["PHTest", "schoenfeld_test"]


@dataclass(frozen=True)
class PHTest:
    """The test and the scaled residuals (for the plot): time, scaled residual."""

    statistic: float | None
    p: float | None
    times: tuple[float, ...]
    scaled: tuple[float, ...]
    transform: str = "km"
    message: str = ""


def _km_at(time: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Product-limit estimate over all rows at the given times (right-continuous)."""
    order = np.unique(time[event.astype(bool)])
    n = np.array([(time >= u).sum() for u in order], float)
    d = np.array([((time == u) & event.astype(bool)).sum() for u in order], float)
    surv = np.cumprod(1 - d / n)
    k = np.searchsorted(order, at, "right")
    return np.concatenate([[1.0], surv])[k]


def schoenfeld_test(rows: pd.DataFrame, beta: float | None, se: float | None) -> PHTest:
    """The test for the matched rows (set_id, time, event, exposed) at the fitted beta."""
    if beta is None or se is None:
        return PHTest(None, None, (), (), message="no hazard ratio to test")
    rows = rows.sort_values(["set_id"], kind="stable")
    sid = rows["set_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    time = rows["time"].to_numpy(float)
    event = rows["event"].to_numpy(int)
    x = rows["exposed"].to_numpy(float)
    p = set_pairs(time, event, x, starts, np.zeros(len(starts), np.int64), 1)
    s0, s1, _, d0, d1, _, _ = _sums(p, np.array([beta]), np.ones(len(p.risk_i)))
    g, f = p.term_g, p.term_f
    xbar = np.bincount(g, (s1[g] - f * d1[g]) / (s0[g] - f * d0[g]), len(p.m)) / np.maximum(
        p.m, 1)
    resid = x[p.dead_i] - xbar[p.dead_g]
    t = time[p.dead_i]
    d = len(resid)
    if d < 3:
        return PHTest(None, None, (), (), message="too few events to test")
    gt = 1 - _km_at(time, event, t)
    gc = gt - gt.mean()
    denom = float((gc ** 2).sum())
    if denom <= 0:
        return PHTest(None, None, (), (), message="all events at one time: no test")
    var = se ** 2
    stat = float(d * var * (gc @ resid) ** 2 / denom)
    order = np.argsort(t, kind="stable")
    scaled = beta + d * var * resid
    return PHTest(stat, float(stats.chi2.sf(stat, 1)), tuple(float(v) for v in t[order]),
                  tuple(float(v) for v in scaled[order]))
