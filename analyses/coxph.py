"""Cox models on counting-process data with large strata: `(entry, stop]` rows.

Used where the risk sets are the whole cohort rather than matched sets of three: the
full-cohort analysis with exposure as a time-varying covariate, and the model of the
hazard of starting the exposure that gives the per-protocol analysis its inverse-
probability-of-censoring weights. Rows are at risk at time u when `entry < u <= stop`
(delayed entry and time-varying covariates, as R's `Surv(start, stop, event)`); ties
by Efron's method; optional case weights (then the log-likelihood is the weighted one
of R's `coxph(weights=)`). Risk-set sums come from sorted cumulative sums, O(n log n)
whatever the number of event times.

Checked against statsmodels `PHReg(entry=, strata=, ties="efron")` and lifelines
`CoxPHFitter(entry_col=, weights_col=, strata=)` to 1e-6 (tests/analyses/test_coxph.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CountingFit", "fit_counting"]


@dataclass(frozen=True)
class CountingFit:
    """Coefficients, their model-based covariance, and the baseline cumulative hazard.

    `base_times[s]`, `base_cumhaz[s]`: per stratum code s, the event times and the
    (Efron) cumulative baseline hazard just after each of them.
    """

    beta: np.ndarray
    cov: np.ndarray
    loglik: float
    converged: bool
    n_events: int
    base_times: dict[int, np.ndarray]
    base_cumhaz: dict[int, np.ndarray]

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def cumhaz(self, stratum: np.ndarray, day: np.ndarray, before: bool = False
               ) -> np.ndarray:
        """Baseline cumulative hazard of each row's stratum at `day` (`before`: just
        before it, i.e. events on that day not yet counted)."""
        out = np.zeros(len(day))
        for s in np.unique(stratum):
            sel = stratum == s
            times = self.base_times.get(int(s))
            if times is None or not len(times):
                continue
            k = np.searchsorted(times, day[sel], "left" if before else "right")
            ch = np.concatenate([[0.0], self.base_cumhaz[int(s)]])
            out[sel] = ch[k]
        return out


@dataclass(frozen=True)
class _Groups:
    """Event-time groups (stratum, time) and where their risk sets start in the sorts."""

    g_stratum: np.ndarray
    g_time: np.ndarray
    q_stop: np.ndarray        # position in the stop order of the first row with stop >= u
    end_stop: np.ndarray      # end of the stratum in that order
    q_entry: np.ndarray       # position in the entry order of the first row with entry >= u
    end_entry: np.ndarray
    order_stop: np.ndarray
    order_entry: np.ndarray
    dead: np.ndarray          # rows that die, grouped by g
    dead_g: np.ndarray
    m: np.ndarray
    term_g: np.ndarray
    term_f: np.ndarray


def _groups(entry: np.ndarray, stop: np.ndarray, event: np.ndarray, strata: np.ndarray
            ) -> _Groups:
    scale = float(max(np.abs(stop).max(initial=0), np.abs(entry).max(initial=0)) * 2 + 2)
    key_stop = strata * scale + stop
    key_entry = strata * scale + entry
    order_stop = np.argsort(key_stop, kind="stable")
    order_entry = np.argsort(key_entry, kind="stable")
    ks, ke = key_stop[order_stop], key_entry[order_entry]
    dead = np.flatnonzero(event)
    keys = np.unique(key_stop[dead])
    dead_g = np.searchsorted(keys, key_stop[dead])
    first_dead = np.zeros(len(keys), np.int64)
    first_dead[dead_g[::-1]] = dead[::-1]          # the stratum and time of each group
    g_stratum, g_time = strata[first_dead], stop[first_dead]
    s_hi = g_stratum * scale + scale / 2
    order = np.argsort(dead_g, kind="stable")
    dead, dead_g = dead[order], dead_g[order]
    m = np.bincount(dead_g, minlength=len(keys))
    term_g = np.repeat(np.arange(len(keys)), m)
    term_f = ((np.arange(term_g.size) - np.repeat(np.cumsum(m) - m, m)) / m[term_g]
              if term_g.size else np.zeros(0))
    return _Groups(g_stratum, g_time, np.searchsorted(ks, keys, "left"),
                   np.searchsorted(ks, s_hi, "left"), np.searchsorted(ke, keys, "left"),
                   np.searchsorted(ke, s_hi, "left"), order_stop, order_entry, dead, dead_g,
                   m, term_g, term_f)


def _suffix(values: np.ndarray, order: np.ndarray, q: np.ndarray, end: np.ndarray
            ) -> np.ndarray:
    """Sum of `values` over sorted positions [q, end) for each group."""
    c = np.concatenate([np.zeros((1,) + values.shape[1:]), np.cumsum(values[order], axis=0)])
    return c[end] - c[q]


def _terms(gr: _Groups, x: np.ndarray, w: np.ndarray, beta: np.ndarray
           ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """log-likelihood, score, information, and per group the Efron terms' a0 and weight."""
    v = w * np.exp(x @ beta)
    vx = v[:, None] * x
    vxx = vx[:, :, None] * x[:, None, :]
    s0 = _suffix(v, gr.order_stop, gr.q_stop, gr.end_stop) - _suffix(
        v, gr.order_entry, gr.q_entry, gr.end_entry)
    s1 = _suffix(vx, gr.order_stop, gr.q_stop, gr.end_stop) - _suffix(
        vx, gr.order_entry, gr.q_entry, gr.end_entry)
    s2 = _suffix(vxx, gr.order_stop, gr.q_stop, gr.end_stop) - _suffix(
        vxx, gr.order_entry, gr.q_entry, gr.end_entry)
    n_g = len(gr.m)
    d = gr.dead
    p = x.shape[1]
    d0 = np.bincount(gr.dead_g, v[d], n_g)
    d1 = np.stack([np.bincount(gr.dead_g, vx[d, j], n_g) for j in range(p)], axis=1)
    d2 = np.stack([np.stack([np.bincount(gr.dead_g, vxx[d, j, k], n_g) for k in range(p)],
                            axis=1) for j in range(p)], axis=1)
    wbar = np.bincount(gr.dead_g, w[d], n_g) / np.maximum(gr.m, 1)
    g, f = gr.term_g, gr.term_f
    a0 = s0[g] - f * d0[g]
    a1 = s1[g] - f[:, None] * d1[g]
    a2 = s2[g] - f[:, None, None] * d2[g]
    c = wbar[g]
    ll = float((w[d] * (x[d] @ beta)).sum() - (c * np.log(a0)).sum())
    score = (w[d][:, None] * x[d]).sum(axis=0) - (c[:, None] * a1 / a0[:, None]).sum(axis=0)
    xbar = a1 / a0[:, None]
    info = (c[:, None, None] * (a2 / a0[:, None, None]
                                - xbar[:, :, None] * xbar[:, None, :])).sum(axis=0)
    return ll, score, info, a0, c


def fit_counting(entry: np.ndarray, stop: np.ndarray, event: np.ndarray, x: np.ndarray,
                 strata: np.ndarray | None = None, weights: np.ndarray | None = None,
                 tol: float = 1e-10, max_iter: int = 50) -> CountingFit:
    """Stratified Cox partial likelihood (Efron ties) of `(entry, stop]` rows on `x`.

    `x`: (n, p) covariates; `strata`: integer codes (None: one stratum); `weights`:
    case weights (None: 1). Newton-Raphson with step halving from beta = 0.
    """
    entry = np.asarray(entry, float)
    stop = np.asarray(stop, float)
    event = np.asarray(event).astype(bool)
    x = np.asarray(x, float).reshape(len(stop), -1)
    strata = (np.zeros(len(stop), np.int64) if strata is None
              else np.asarray(strata, np.int64))
    w = np.ones(len(stop)) if weights is None else np.asarray(weights, float)
    gr = _groups(entry, stop, event, strata)
    p = x.shape[1]
    beta = np.zeros(p)
    ll, score, info, a0, c = _terms(gr, x, w, beta)
    converged = False
    for _ in range(max_iter):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            break
        new = beta + step
        ll_new, s_new, i_new, a0_new, c_new = _terms(gr, x, w, new)
        halvings = 0
        while ll_new < ll - 1e-9 * (1 + abs(ll)) and halvings < 30:
            step /= 2
            new = beta + step
            ll_new, s_new, i_new, a0_new, c_new = _terms(gr, x, w, new)
            halvings += 1
        beta, ll, score, info, a0, c = new, ll_new, s_new, i_new, a0_new, c_new
        if float(np.abs(step).max(initial=0)) < tol:
            converged = True
            break
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full((p, p), math.nan)
    # Efron baseline hazard: each term of a tied group adds (mean death weight) / a0
    inc = np.bincount(gr.term_g, c / a0, len(gr.m))
    base_t: dict[int, np.ndarray] = {}
    base_h: dict[int, np.ndarray] = {}
    for s in np.unique(gr.g_stratum):
        sel = gr.g_stratum == s
        base_t[int(s)] = gr.g_time[sel]
        base_h[int(s)] = np.cumsum(inc[sel])
    return CountingFit(beta, cov, ll, converged, int(event.sum()), base_t, base_h)
