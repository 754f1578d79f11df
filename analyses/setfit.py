"""The stratified Cox model of many matchings at once: one fit per draw, in one pass.

The headline combines M re-drawn matchings (`analyses.combine`); fitting them one by
one costs a Python round per draw. Here the M draws are stacked (rows grouped by set,
sets grouped by draw) and every draw's Newton-Raphson runs at once: the sums over risk
sets and Efron terms are `bincount`s over all the draws' sets, each draw with its own
coefficient. The likelihood is exactly `survival.cox_fast`'s (Efron ties, one stratum
per matched set, one covariate), per draw; tested equal to it to 1e-10.

Optional: `entry` (a row is at risk at u when `entry < u <= time`) and weights per
(risk set, row) pair, which is how the per-protocol analysis gives each control its
inverse-probability-of-censoring weight at each event time of its set (stabilised weights
near 1: the weighted information is then close to valid; see analyses/perprotocol.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["SetFit", "SetPairs", "fit_sets", "group_moments", "set_pairs"]


@dataclass(frozen=True)
class SetPairs:
    """Risk-set pairs of stacked matched sets (see `survival._Prep`), plus draws.

    Groups g are the distinct event times of each set; `risk_g`/`risk_i` list every row
    at risk in g, `dead_g`/`dead_i` every death; `g_draw` the draw of each group.
    """

    x: np.ndarray
    risk_g: np.ndarray
    risk_i: np.ndarray
    risk_dead: np.ndarray
    dead_g: np.ndarray
    dead_i: np.ndarray
    m: np.ndarray
    term_g: np.ndarray
    term_f: np.ndarray
    g_draw: np.ndarray
    g_time: np.ndarray
    row_draw: np.ndarray
    n_draws: int


def set_pairs(time: np.ndarray, event: np.ndarray, x: np.ndarray, set_start: np.ndarray,
              set_draw: np.ndarray, n_draws: int, entry: np.ndarray | None = None
              ) -> SetPairs:
    """Pairs for rows grouped by set: set s is rows `set_start[s]:set_start[s + 1]`."""
    time = np.asarray(time, float)
    d = np.asarray(event).astype(bool)
    n = len(time)
    bounds = np.append(np.asarray(set_start, np.int64), n)
    sizes = np.diff(bounds)
    row_set = np.repeat(np.arange(len(sizes)), sizes)
    ev = np.flatnonzero(d)
    ev = ev[np.lexsort((time[ev], row_set[ev]))]
    first = np.ones(len(ev), bool)
    first[1:] = (row_set[ev][1:] != row_set[ev][:-1]) | (time[ev][1:] != time[ev][:-1])
    g_s, g_u = row_set[ev][first].astype(np.int64), time[ev][first]
    n_g = len(g_s)
    size = sizes[g_s]
    pair_g = np.repeat(np.arange(n_g), size)
    offset = np.arange(pair_g.size) - np.repeat(np.cumsum(size) - size, size)
    pair_i = np.repeat(bounds[:-1][g_s], size) + offset
    at_risk = time[pair_i] >= g_u[pair_g]
    if entry is not None:
        at_risk &= np.asarray(entry, float)[pair_i] < g_u[pair_g]
    risk_g, risk_i = pair_g[at_risk], pair_i[at_risk]
    risk_dead = (time[risk_i] == g_u[risk_g]) & d[risk_i]
    dead_g, dead_i = risk_g[risk_dead], risk_i[risk_dead]
    m = np.bincount(dead_g, minlength=n_g)
    term_g = np.repeat(np.arange(n_g), m)
    term_f = ((np.arange(term_g.size) - np.repeat(np.cumsum(m) - m, m)) / m[term_g]
              if term_g.size else np.zeros(0))
    set_draw = np.asarray(set_draw, np.int64)
    return SetPairs(np.asarray(x, float), risk_g, risk_i, risk_dead, dead_g, dead_i, m,
                    term_g, term_f, set_draw[g_s], g_u, set_draw[row_set], n_draws)


@dataclass(frozen=True)
class SetFit:
    """Per draw: log HR, model and robust SEs (NaN where not estimable), converged."""

    beta: np.ndarray
    se_model: np.ndarray
    se_robust: np.ndarray
    ok: np.ndarray


def group_moments(n_g: int, risk_g: np.ndarray, dead_g: np.ndarray, xr: np.ndarray,
                  xd: np.ndarray, wr: np.ndarray, wd: np.ndarray) -> tuple[np.ndarray, ...]:
    """The Cox partial likelihood's sums per tie group: s0, s1, s2 of the weights times
    x^0, x^1, x^2 over the risk set (pairs `risk_g`, `xr`, `wr`), d0, d1, d2 over the
    deaths (`dead_g`, `xd`, `wd`)."""
    return (np.bincount(risk_g, wr, n_g), np.bincount(risk_g, wr * xr, n_g),
            np.bincount(risk_g, wr * xr * xr, n_g), np.bincount(dead_g, wd, n_g),
            np.bincount(dead_g, wd * xd, n_g), np.bincount(dead_g, wd * xd * xd, n_g))


def _sums(p: SetPairs, beta: np.ndarray, pw: np.ndarray) -> tuple[np.ndarray, ...]:
    n_g = len(p.m)
    xr, xd = p.x[p.risk_i], p.x[p.dead_i]
    wr = pw * np.exp(beta[p.g_draw[p.risk_g]] * xr)
    wd = wr[p.risk_dead]
    return (*group_moments(n_g, p.risk_g, p.dead_g, xr, xd, wr, wd), wr)


def _efron(p: SetPairs, beta: np.ndarray, pw: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per draw: log-likelihood, score, information."""
    s0, s1, s2, d0, d1, d2, _ = _sums(p, beta, pw)
    g, f = p.term_g, p.term_f
    a0, a1, a2 = s0[g] - f * d0[g], s1[g] - f * d1[g], s2[g] - f * d2[g]
    dw = pw[p.risk_dead]
    wbar = np.bincount(p.dead_g, dw, len(p.m)) / np.maximum(p.m, 1)
    c = wbar[g]
    gd = p.g_draw[g]
    k = p.n_draws
    xd = p.x[p.dead_i]
    ddraw = p.g_draw[p.dead_g]
    ll = (np.bincount(ddraw, dw * xd, k) * beta
          - np.bincount(gd, c * np.log(a0), k))
    score = np.bincount(ddraw, dw * xd, k) - np.bincount(gd, c * a1 / a0, k)
    info = np.bincount(gd, c * (a2 / a0 - (a1 / a0) ** 2), k)
    return ll, score, info


def _residuals(p: SetPairs, beta: np.ndarray, pw: np.ndarray) -> np.ndarray:
    """Efron-weighted score residual of every row (as `survival._score_residuals`)."""
    s0, s1, _, d0, d1, _, wr = _sums(p, beta, pw)
    g, f = p.term_g, p.term_f
    n_g = len(p.m)
    a0, a1 = s0[g] - f * d0[g], s1[g] - f * d1[g]
    xbar = a1 / a0
    wbar = (np.bincount(p.dead_g, pw[p.risk_dead], n_g) / np.maximum(p.m, 1))[g]
    inv_a = np.bincount(g, wbar / a0, n_g)
    f_a = np.bincount(g, wbar * f / a0, n_g)
    xb_a = np.bincount(g, wbar * xbar / a0, n_g)
    fxb_a = np.bincount(g, wbar * f * xbar / a0, n_g)
    xb = np.bincount(g, xbar, n_g)
    rg, xr = p.risk_g, p.x[p.risk_i]
    dead = p.risk_dead
    w_inv = inv_a[rg] - np.where(dead, f_a[rg], 0.0)
    w_xb = xb_a[rg] - np.where(dead, fxb_a[rg], 0.0)
    n = len(p.x)
    u = -np.bincount(p.risk_i, wr * (xr * w_inv - w_xb), n)
    dg = p.dead_g
    u += np.bincount(p.dead_i, pw[dead] * (p.x[p.dead_i] - xb[dg] / p.m[dg]), n)
    return u


def fit_sets(p: SetPairs, cluster: np.ndarray, estimable: np.ndarray | None = None,
             pair_weights: np.ndarray | Callable[[], np.ndarray] | None = None,
             tol: float = 1e-10, max_iter: int = 60) -> SetFit:
    """Newton-Raphson of every draw at once; `cluster`: per row, the patient (integer).

    `estimable`: draws to fit (others NaN); a draw whose coefficient runs off (|log HR|
    > 15, a monotone likelihood) or does not converge is NaN too.
    """
    k = p.n_draws
    pw = (np.ones(len(p.risk_i)) if pair_weights is None
          else np.asarray(pair_weights() if callable(pair_weights) else pair_weights, float))
    live = np.ones(k, bool) if estimable is None else np.asarray(estimable, bool).copy()
    beta = np.zeros(k)
    ll, score, info = _efron(p, beta, pw)
    conv = np.zeros(k, bool)
    for _ in range(max_iter):
        todo = live & ~conv & (info > 0)
        if not todo.any():
            break
        step = np.where(todo, score / np.where(info > 0, info, 1.0), 0.0)
        new = beta + step
        ll_new, s_new, i_new = _efron(p, new, pw)
        for _ in range(40):
            worse = todo & (ll_new < ll - 1e-9 * (1 + np.abs(ll))) & (np.abs(step) > 1e-12)
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
            new = beta + step
            ll_new, s_new, i_new = _efron(p, new, pw)
        beta = np.where(todo, new, beta)
        ll = np.where(todo, ll_new, ll)
        score = np.where(todo, s_new, score)
        info = np.where(todo, i_new, info)
        conv |= todo & (np.abs(step) < tol)
        live &= np.abs(beta) <= 15
    ok = live & conv & (info > 0)
    se_model = np.where(ok, 1 / np.sqrt(np.where(info > 0, info, 1.0)), np.nan)
    resid = _residuals(p, np.where(ok, beta, 0.0), pw)
    cluster = np.asarray(cluster, np.int64)
    width = int(cluster.max(initial=0)) + 1       # (draw, patient) -> one slot
    per = np.bincount(p.row_draw * width + cluster, resid, k * width)
    meat = (per * per).reshape(k, width).sum(axis=1)
    se_robust = np.where(ok, np.sqrt(meat) / np.where(info > 0, info, 1.0), np.nan)
    return SetFit(np.where(ok, beta, np.nan), se_model, se_robust, ok)
