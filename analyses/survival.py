"""Cox models stratified by matched set, and Kaplan-Meier curves.

Estimator: the conditional (stratified) Cox partial likelihood with one covariate,
`exposed`, one stratum per matched set, ties by Efron's method. It assumes
proportional hazards within sets and non-informative censoring; each set has its own
baseline hazard, so the comparison is within sets (Cox, JRSS-B 1972;34:187-220;
Efron, JASA 1977;72:557-65). Reference fit: lifelines `CoxPHFitter(strata=["set_id"])`,
run through `analyses.lifelines_strata.fit_stratified` (lifelines' own fit without its
per-stratum pandas overhead: the same coefficient and SE bit for bit, ~50x faster).

Two variances are reported: model-based (inverse information) and clustered robust
(Lin & Wei, JASA 1989;84:1074-8; sandwich over patients, with Efron-weighted score
residuals as in R's `coxph`, Therneau & Grambsch 2000, sec. 7.2), because a patient can be a
control in several sets and later exposed in its own, so rows are not independent.
`cox_fast` is an own implementation of the same likelihood (numpy, Newton-Raphson),
checked against lifelines and statsmodels `PHReg` to 1e-6 in tests; it is used where
hundreds of refits are needed (seed spread, simulations).

Kaplan-Meier: product-limit estimate by arm over the matched rows (a reused control
counts once per set), Greenwood log(-log) 95 % bands, numbers at risk at fixed days.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from analyses.lifelines_strata import fit_stratified
from analyses.setfit import group_moments

__all__ = ["CoxFit", "CoxResult", "KMResult", "cox", "cox_fast", "kaplan_meier"]

Variance = Literal["robust", "model"]
_Z = float(stats.norm.ppf(0.975))
#: lifelines stops by default when the log-likelihood changes by < 1e-9 relative (R's
#: rule), which leaves ~1e-5 in log HR; tighter, so implementations agree to 1e-6.
_TIGHT = {"precision": 1e-12, "r_precision": 1e-14}


@dataclass(frozen=True)
class CoxFit:
    """Log hazard ratio with model-based and robust variances (NaN when not estimable)."""

    beta: float
    se_model: float
    se_robust: float
    converged: bool


@dataclass(frozen=True)
class CoxResult:
    """One analysis: counts, the primary HR / CI / p, and both variances' intervals.

    `hr`, `ci_low`, `ci_high`, `p` are None when the HR cannot be estimated; `message`
    then says why.
    """

    name: str
    n_sets: int
    n_exposed: int
    n_controls: int
    events: int
    events_exposed: int
    events_controls: int
    variance: str
    ties: str
    hr: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    model_ci: tuple[float, float] | None
    model_p: float | None
    robust_ci: tuple[float, float] | None
    robust_p: float | None
    se_model: float | None
    se_robust: float | None
    message: str = ""

    def summary(self) -> pd.DataFrame:
        """One tidy row."""
        return pd.DataFrame([asdict(self)])


def _wald(beta: float, se: float) -> tuple[tuple[float, float], float]:
    ci = (math.exp(beta - _Z * se), math.exp(beta + _Z * se))
    return ci, float(2 * stats.norm.sf(abs(beta / se)))


def _not_estimable(df: pd.DataFrame) -> str:
    if df.empty:
        return "no matched set has both an exposed patient and a control"
    span = df.groupby("set_id")["exposed"].agg(["min", "max"])
    informative = span[(span["min"] == 0) & (span["max"] == 1)].index
    sub = df[df["set_id"].isin(informative)]
    if sub.empty:
        return "no matched set has both an exposed patient and a control"
    ev = sub.groupby("exposed")["event"].sum()
    if int(ev.sum()) == 0:
        return "no events in sets with a control: the hazard ratio is not estimable"
    if int(ev.get(1, 0)) == 0:
        return "no events among exposed patients: the hazard ratio is 0, not estimable"
    if int(ev.get(0, 0)) == 0:
        return "no events among controls: the hazard ratio is infinite, not estimable"
    return ""


def cox(df: pd.DataFrame, name: str, variance: Variance = "model",
        engine: Literal["lifelines", "fast"] = "lifelines") -> CoxResult:
    """Stratified Cox of `time`, `event` on `exposed`, strata `set_id`, clusters `patient_id`.

    `engine="lifelines"` fits with lifelines (Efron ties); `"fast"` with `cox_fast`.
    """
    counts: dict[str, Any] = dict(
        name=name, n_sets=int(df["set_id"].nunique()) if len(df) else 0,
        n_exposed=int((df["exposed"] == 1).sum()), n_controls=int((df["exposed"] == 0).sum()),
        events=int(df["event"].sum()), events_exposed=int(df.loc[df["exposed"] == 1,
                                                                  "event"].sum()),
        events_controls=int(df.loc[df["exposed"] == 0, "event"].sum()),
        variance=variance, ties="efron")
    why = _not_estimable(df)
    fit = None
    if not why:
        fit = _lifelines(df) if engine == "lifelines" else cox_fast(
            df["time"].to_numpy(float), df["event"].to_numpy(int), df["exposed"].to_numpy(float),
            df["set_id"].to_numpy(), df["patient_id"].to_numpy())
        if not fit.converged or abs(fit.beta) > 15 or not np.isfinite(fit.se_model):
            why = "the Cox fit did not converge (monotone likelihood: too few events)"
    if why or fit is None:
        return CoxResult(**counts, hr=None, ci_low=None, ci_high=None, p=None, model_ci=None,
                         model_p=None, robust_ci=None, robust_p=None, se_model=None,
                         se_robust=None, message=why)
    mci, mp = _wald(fit.beta, fit.se_model)
    rci, rp = _wald(fit.beta, fit.se_robust)
    ci, p = (rci, rp) if variance == "robust" else (mci, mp)
    return CoxResult(**counts, hr=math.exp(fit.beta), ci_low=ci[0], ci_high=ci[1], p=p,
                     model_ci=mci, model_p=mp, robust_ci=rci, robust_p=rp,
                     se_model=fit.se_model, se_robust=fit.se_robust)


def _lifelines(df: pd.DataFrame) -> CoxFit:
    """lifelines for the log HR and model SE; the robust SE from Efron score residuals.

    lifelines' own sandwich (`cluster_col`) builds score residuals without the Efron
    tie correction (its code says "doesn't handle ties") and, with tied times, depends
    on row order; with integer days ties are common, so the sandwich is computed here
    (it equals lifelines' exactly when there are no ties; tested).
    """
    from lifelines.exceptions import ConvergenceWarning

    data = df[["time", "event", "exposed", "set_id"]].astype(
        {"time": float, "event": int, "exposed": float})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        beta, se = fit_stratified(data, "time", "event", "set_id", _TIGHT)
    prep = _prepare(data["time"].to_numpy(float), data["event"].to_numpy(int),
                    data["exposed"].to_numpy(float), data["set_id"].to_numpy())
    _, _, info = _efron(prep, beta)
    return CoxFit(beta, se, _robust_se(prep, beta, info, df["patient_id"].to_numpy()), True)


def _robust_se(prep: _Prep, beta: float, info: float, cluster: np.ndarray) -> float:
    resid = _score_residuals(prep, beta, len(prep.x))
    _, inv = np.unique(np.asarray(cluster).astype(str), return_inverse=True)
    per_cluster = np.bincount(inv, weights=resid)
    return math.sqrt(float(per_cluster @ per_cluster)) / info


def cox_fast(time: np.ndarray, event: np.ndarray, x: np.ndarray, strata: np.ndarray,
             cluster: np.ndarray, tol: float = 1e-10, max_iter: int = 50) -> CoxFit:
    """Own stratified Efron partial likelihood for one covariate (Newton-Raphson).

    Robust variance: I^-1 (sum over clusters of summed score residuals squared) I^-1,
    with Efron-weighted score residuals (as R's `coxph(..., cluster=)`).
    """
    prep = _prepare(time, event, x, strata)
    beta, conv = 0.0, False
    ll, score, info = _efron(prep, beta)
    for _ in range(max_iter):
        if info <= 0:
            break
        step = score / info
        new = beta + step
        ll_new, s_new, i_new = _efron(prep, new)
        while ll_new < ll - 1e-12 and abs(step) > 1e-12:
            step /= 2
            new = beta + step
            ll_new, s_new, i_new = _efron(prep, new)
        beta, ll, score, info = new, ll_new, s_new, i_new
        if abs(step) < tol:
            conv = True
            break
    if info <= 0:
        return CoxFit(beta, math.nan, math.nan, False)
    return CoxFit(beta, 1 / math.sqrt(info), _robust_se(prep, beta, info, cluster), conv)


@dataclass(frozen=True)
class _Prep:
    """The covariate and, per distinct event time of each stratum ("group" g), its risk
    set and deaths, flattened: pairs (`risk_g`, `risk_i`) list every row at risk in group
    g (in row order), `dead_i` every death (grouped by g, `dead_g`); `m[g]` deaths in g.
    Every sum over a risk set or a tie is then one `bincount` over all groups at once;
    the number of pairs is the sum of the strata's sizes over their event times, small
    for matched sets (a few rows each)."""

    x: np.ndarray
    risk_g: np.ndarray
    risk_i: np.ndarray
    risk_dead: np.ndarray      # the pair's row dies at the group's time
    dead_g: np.ndarray
    dead_i: np.ndarray
    m: np.ndarray
    term_g: np.ndarray         # Efron terms: group of each, k / m for each
    term_f: np.ndarray


def _prepare(time: np.ndarray, event: np.ndarray, x: np.ndarray, strata: np.ndarray
             ) -> _Prep:
    time = np.asarray(time, float)
    d = np.asarray(event).astype(bool)
    s_codes, s_inv = np.unique(np.asarray(strata).astype(str), return_inverse=True)
    s_inv = s_inv.reshape(-1)
    order = np.argsort(s_inv, kind="stable")
    bounds = np.searchsorted(s_inv[order], np.arange(len(s_codes) + 1))
    # groups: distinct (stratum, event time), by stratum then time
    ev = np.flatnonzero(d)
    if ev.size:
        keys = np.unique(np.stack([s_inv[ev], time[ev]], axis=1), axis=0)
    else:
        keys = np.zeros((0, 2))
    g_s, g_u = keys[:, 0].astype(int), keys[:, 1]
    n_g = len(g_s)
    # risk pairs: every row of the group's stratum (row order), kept if time >= u
    size = (bounds[1:] - bounds[:-1])[g_s]
    pair_g = np.repeat(np.arange(n_g), size)
    offset = np.arange(pair_g.size) - np.repeat(np.cumsum(size) - size, size)
    pair_i = order[np.repeat(bounds[:-1][g_s], size) + offset]
    at_risk = time[pair_i] >= g_u[pair_g]
    risk_g, risk_i = pair_g[at_risk], pair_i[at_risk]
    risk_dead = (time[risk_i] == g_u[risk_g]) & d[risk_i]
    dead_g, dead_i = risk_g[risk_dead], risk_i[risk_dead]
    m = np.bincount(dead_g, minlength=n_g)
    term_g = np.repeat(np.arange(n_g), m)
    term_f = (np.arange(term_g.size) - np.repeat(np.cumsum(m) - m, m)) / m[term_g] if (
        term_g.size) else np.zeros(0)
    return _Prep(np.asarray(x, float), risk_g, risk_i, risk_dead, dead_g, dead_i, m,
                 term_g, term_f)


def _sums(prep: _Prep, beta: float) -> tuple[np.ndarray, ...]:
    """Per group: s0, s1, s2 over the risk set, d0, d1, d2 over the deaths; weights."""
    n_g = len(prep.m)
    xr, xd = prep.x[prep.risk_i], prep.x[prep.dead_i]
    wr, wd = np.exp(beta * xr), np.exp(beta * xd)
    return (*group_moments(n_g, prep.risk_g, prep.dead_g, xr, xd, wr, wd), wr)


def _efron(prep: _Prep, beta: float) -> tuple[float, float, float]:
    s0, s1, s2, d0, d1, d2, _ = _sums(prep, beta)
    g, f = prep.term_g, prep.term_f
    a0, a1, a2 = s0[g] - f * d0[g], s1[g] - f * d1[g], s2[g] - f * d2[g]
    xd_sum = float(prep.x[prep.dead_i].sum())
    ll = beta * xd_sum - float(np.log(a0).sum())
    score = xd_sum - float((a1 / a0).sum())
    info = float((a2 / a0 - (a1 / a0) ** 2).sum())
    return ll, score, info


def _score_residuals(prep: _Prep, beta: float, n: int) -> np.ndarray:
    s0, s1, _, d0, d1, _, wr = _sums(prep, beta)
    g, f = prep.term_g, prep.term_f
    n_g = len(prep.m)
    a0, a1 = s0[g] - f * d0[g], s1[g] - f * d1[g]
    xbar = a1 / a0
    # per group, over its Efron terms k: sum 1/a0, f/a0, xbar/a0, f xbar/a0, xbar
    inv_a = np.bincount(g, 1 / a0, n_g)
    f_a = np.bincount(g, f / a0, n_g)
    xb_a = np.bincount(g, xbar / a0, n_g)
    fxb_a = np.bincount(g, f * xbar / a0, n_g)
    xb = np.bincount(g, xbar, n_g)
    # a risk row's weight in term k is 1, or 1 - k/m if it dies at that time
    rg, xr = prep.risk_g, prep.x[prep.risk_i]
    dead = prep.risk_dead
    w_inv = inv_a[rg] - np.where(dead, f_a[rg], 0.0)
    w_xb = xb_a[rg] - np.where(dead, fxb_a[rg], 0.0)
    u = -np.bincount(prep.risk_i, wr * (xr * w_inv - w_xb), n)
    dg = prep.dead_g
    u += np.bincount(prep.dead_i, prep.x[prep.dead_i] - xb[dg] / prep.m[dg], n)
    return u


@dataclass(frozen=True)
class KMResult:
    """Kaplan-Meier steps and numbers at risk, by arm ("exposed" / "control").

    `steps`: arm, time, survival, ci_low, ci_high, at_risk, events, censored (one row per
    distinct time, starting at 0). `at_risk`: arm, time, n (at risk at the start of day).
    """

    name: str
    steps: pd.DataFrame
    at_risk: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """Numbers at risk, one column per day, one row per arm."""
        return self.at_risk.pivot(index="arm", columns="time", values="n")


def kaplan_meier(df: pd.DataFrame, name: str, times: tuple[int, ...]) -> KMResult:
    """Product-limit curves by arm (lifelines `KaplanMeierFitter`, log(-log) Greenwood CI)."""
    from lifelines import KaplanMeierFitter

    steps, risk = [], []
    for arm, code in (("exposed", 1), ("control", 0)):
        sub = df[df["exposed"] == code]
        for t in times:
            risk.append({"arm": arm, "time": t, "n": int((sub["time"] >= t).sum())})
        if sub.empty:
            continue
        km = KaplanMeierFitter().fit(sub["time"].astype(float), sub["event"].astype(int))
        ci = km.confidence_interval_survival_function_
        et = km.event_table
        steps.append(pd.DataFrame({
            "arm": arm, "time": km.survival_function_.index.to_numpy(float),
            "survival": km.survival_function_.iloc[:, 0].to_numpy(float),
            "ci_low": ci.iloc[:, 0].to_numpy(float), "ci_high": ci.iloc[:, 1].to_numpy(float),
            "at_risk": et["at_risk"].to_numpy(int), "events": et["observed"].to_numpy(int),
            "censored": et["censored"].to_numpy(int)}))
    cols = ["arm", "time", "survival", "ci_low", "ci_high", "at_risk", "events", "censored"]
    out = pd.concat(steps, ignore_index=True) if steps else pd.DataFrame(columns=cols)
    return KMResult(name, out[cols], pd.DataFrame(risk, columns=["arm", "time", "n"]))
