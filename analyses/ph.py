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

from analyses.draws import Stack
from analyses.setfit import _sums, set_pairs

__all__ = ["PHOverDraws", "PHTest", "draw_scores", "ph_over_draws", "schoenfeld_test"]


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


@dataclass(frozen=True)
class PHOverDraws:
    """The Grambsch-Therneau test of the headline: combined over its first `n_draws`."""

    statistic: float | None
    p: float | None
    n_draws: int
    message: str = ""


def ph_over_draws(stack: Stack, beta: np.ndarray, se: np.ndarray, max_draws: int = 200
                  ) -> PHOverDraws:
    """The test for the headline, which averages M draws: per draw m its score U_m =
    sum (g_i - mean g) r_i and null variance V_m = sum (g_i - mean g)^2 / (d Var(beta))
    (T_m = U_m^2 / V_m is `schoenfeld_test`'s statistic on that draw's rows); combined
    as the log HR is (multiple outputation): U = mean U_m, V = mean V_m - (1 - 1/M) x
    var(U_m), T = U^2 / V on 1 df. Draws past `max_draws` add little (their spread is
    what V subtracts) and are left out; so are draws without a fit.
    Type-I error by simulation: benchmarks/analyses_ph_sim.py, RESULTS.md."""
    k = min(stack.n_draws, max_draws)
    if (np.isfinite(beta[:k]) & np.isfinite(se[:k])).sum() < 2:
        return PHOverDraws(None, None, 0, "fewer than two draws with a fit")
    u, v, use = draw_scores(stack, beta, se, k)
    m = int(use.sum())
    if m < 2:
        return PHOverDraws(None, None, m, "too few events to test")
    u, v = u[use], v[use]
    var = float(v.mean()) - (1 - 1 / m) * float(u.var(ddof=1))
    if var <= 0:
        return PHOverDraws(None, None, m, "the draws vary more than the test's variance "
                           "allows: no test")
    stat = float(u.mean() ** 2 / var)
    return PHOverDraws(stat, float(stats.chi2.sf(stat, 1)), m)


def draw_scores(stack: Stack, beta: np.ndarray, se: np.ndarray, k: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per draw m < k: U_m, V_m (`ph_over_draws`) and whether the draw has a test."""
    use = np.isfinite(beta[:k]) & np.isfinite(se[:k])
    sub = stack.subset(stack.row_draw < k)
    t = np.rint(sub.time).astype(np.int64)
    p = set_pairs(t.astype(float), sub.event, sub.exposed.astype(float), sub.set_start,
                  sub.set_draw, k)
    b = np.where(use, beta[:k], 0.0)
    s0, s1, _, d0, d1, _, _ = _sums(p, b, np.ones(len(p.risk_i)))
    g, f = p.term_g, p.term_f
    xbar = np.bincount(g, (s1[g] - f * d1[g]) / (s0[g] - f * d0[g]), len(p.m)) / np.maximum(
        p.m, 1)
    resid = p.x[p.dead_i] - xbar[p.dead_g]
    draw = p.g_draw[p.dead_g]
    # 1 - KM(t) of each draw's rows (all arms), right-continuous, on whole days
    h = int(t.max(initial=0)) + 1
    slot = sub.row_draw * h + t
    ev = np.bincount(slot, sub.event, k * h).reshape(k, h)
    out = np.bincount(slot, minlength=k * h).reshape(k, h)
    at_risk = np.flip(np.cumsum(np.flip(out, 1), 1), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1 - np.where(at_risk > 0, ev / at_risk, 0.0), axis=1)
    gt = 1 - surv[draw, t[p.dead_i]]
    n_d = np.bincount(draw, minlength=k).astype(float)
    gc = gt - (np.bincount(draw, gt, k) / np.maximum(n_d, 1))[draw]
    u = np.bincount(draw, gc * resid, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.bincount(draw, gc ** 2, k) / (n_d * se[:k] ** 2)
    use &= (n_d >= 3) & np.isfinite(v) & (v > 0)
    return u, v, use
