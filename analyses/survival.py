"""Cox models stratified by matched set, and Kaplan-Meier curves.

Estimator: the conditional (stratified) Cox partial likelihood with one covariate,
`exposed`, one stratum per matched set, ties by Efron's method. It assumes
proportional hazards within sets and non-informative censoring; each set has its own
baseline hazard, so the comparison is within sets (Cox, JRSS-B 1972;34:187-220;
Efron, JASA 1977;72:557-65). Reference fit: lifelines `CoxPHFitter(strata=["set_id"])`.

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
        return "no matched rows"
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
    """The covariate and, per distinct event time of each stratum, (risk set, deaths)."""

    x: np.ndarray
    events: list[tuple[np.ndarray, np.ndarray]]


def _prepare(time: np.ndarray, event: np.ndarray, x: np.ndarray, strata: np.ndarray
             ) -> _Prep:
    events = []
    s_codes, s_inv = np.unique(np.asarray(strata).astype(str), return_inverse=True)
    order = np.argsort(s_inv, kind="stable")
    bounds = np.searchsorted(s_inv[order], np.arange(len(s_codes) + 1))
    for s in range(len(s_codes)):
        idx = order[bounds[s]:bounds[s + 1]]
        t, d = time[idx], event[idx].astype(bool)
        for u in np.unique(t[d]):
            events.append((idx[t >= u], idx[(t == u) & d]))
    return _Prep(np.asarray(x, float), events)


def _efron(prep: _Prep, beta: float) -> tuple[float, float, float]:
    ll = score = info = 0.0
    for risk, dead in prep.events:
        xr, xd = prep.x[risk], prep.x[dead]
        wr, wd = np.exp(beta * xr), np.exp(beta * xd)
        s0, s1, s2 = wr.sum(), (wr * xr).sum(), (wr * xr * xr).sum()
        d0, d1, d2 = wd.sum(), (wd * xd).sum(), (wd * xd * xd).sum()
        m = len(dead)
        ll += beta * xd.sum()
        score += xd.sum()
        for k in range(m):
            f = k / m
            a0, a1, a2 = s0 - f * d0, s1 - f * d1, s2 - f * d2
            ll -= math.log(a0)
            score -= a1 / a0
            info += a2 / a0 - (a1 / a0) ** 2
    return ll, score, info


def _score_residuals(prep: _Prep, beta: float, n: int) -> np.ndarray:
    u = np.zeros(n)
    for risk, dead in prep.events:
        xr, xd = prep.x[risk], prep.x[dead]
        wr, wd = np.exp(beta * xr), np.exp(beta * xd)
        s0, s1 = wr.sum(), (wr * xr).sum()
        d0, d1 = wd.sum(), (wd * xd).sum()
        m = len(dead)
        in_dead = np.isin(risk, dead)
        for k in range(m):
            f = k / m
            a0, a1 = s0 - f * d0, s1 - f * d1
            xbar = a1 / a0
            c = np.where(in_dead, 1 - f, 1.0)
            u[risk] -= wr * c * (xr - xbar) / a0
            u[dead] += (xd - xbar) / m
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
