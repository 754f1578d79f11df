"""Per-protocol analysis (controls censored at crossover, with inverse-probability-of-
censoring weights) and the full cohort with exposure as a time-varying covariate.

Estimands. The matched design's headline contrasts "start the exposure now" with "do
not start now": a control who starts later stays a control (as randomised, in the
target-trial sense). The per-protocol analysis contrasts "start now" with "never start
within the horizon": a control is censored on the day it starts. That censoring is
informative (starting depends on an ICU admission, which also raises the risk of
death), so each control is weighted at each event time by 1 / P(still unexposed | its
time-varying ICU status), from a Cox model of the hazard of starting on the time
since the origin, stratified by the baseline matching variables, with the time-
dependent matching variables as covariates; weights are stabilised by the same model
without covariates (Robins & Finkelstein, Biometrics 2000;56:779-88; Cole & Hernan,
Am J Epidemiol 2008;168:656-64). Over the draws the fits are combined as the headline's
are; the primary CI uses the weighted model-based variance: in study-size simulations
the robust (sandwich) one, combined over draws, covered 67 % (benchmarks/RESULTS.md).

The full-cohort analysis uses every eligible patient, without sampling: time since the
origin, at risk from entry; exposure switches on the index day and is followed for the
horizon (then censored); strata are the matching variables at their value on each day,
in exposed and unexposed time alike (a patient admitted to an ICU after its index day
moves to the ICU stratum, as an unexposed patient does). Counting-process Cox
(`analyses.coxph`), Efron ties. Its estimand is the hazard ratio of current exposure
given the current values of the matching variables; that is the exposure's effect only
if the exposure does not change them (an ICU admission the drug prevents would be a
mediator, and adjusting for it would hide that part of the effect).

Why not freeze the time-dependent variables at the index day for exposed time, as the
matched sets do: then an exposed patient admitted to an ICU later (at a higher risk of
the outcome) is compared with unexposed patients who, once admitted, have moved to the
other stratum. That asymmetry biased the HR by +0.10 (HR 1.11 for a true 1.0);
at current values the bias is gone (benchmarks/analyses_fullcohort_sim.py, RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyses.candidates import presence_records
from analyses.cohort import Cohort
from analyses.combine import Combined, combine_draws
from analyses.coxph import CountingFit, fit_counting
from analyses.draws import Stack
from analyses.headline import _reasons, counts
from analyses.matching import MatchPlan, matching_keys
from analyses.results import Counts
from analyses.setfit import SetFit, fit_sets, set_pairs
from analyses.study import StudySpec

__all__ = ["CohortTV", "PerProtocol", "full_cohort", "per_protocol"]


def _stratum(codes: np.ndarray) -> np.ndarray:
    """One integer per distinct row of codes (all >= 0)."""
    out = np.zeros(len(codes), np.int64)
    for col in codes.T:
        out = out * (int(col.max(initial=0)) + 1) + col
    return out


@dataclass(frozen=True)
class _StartModel:
    """The hazard of starting the exposure, with and without the covariates."""

    full: CountingFit
    marginal: CountingFit
    piece_row: np.ndarray
    piece_lo: np.ndarray
    piece_hi: np.ndarray
    piece_z: np.ndarray
    row_stratum: np.ndarray


def _start_model(cohort: Cohort, spec: StudySpec, plan: MatchPlan) -> _StartModel | None:
    codes, intervals = matching_keys(cohort.table.reindex(plan.pids), cohort, spec)
    entry = cohort.table.reindex(plan.pids)["entry_day"].to_numpy(float)
    exp_day = plan.exp_day
    started = ~np.isnan(exp_day) & (exp_day < plan.end)
    stop = np.where(started, exp_day, plan.end)
    rows, lo, hi, z = presence_records(entry, stop, codes, intervals)
    z = z[:, codes.shape[1]:].astype(float)
    if not len(rows):
        return None
    stratum_of_row = np.full(len(plan.pids), -1, np.int64)
    ok = np.all(codes >= 0, axis=1)
    stratum_of_row[ok] = _stratum(codes[ok])
    ev = started[rows] & (hi == stop[rows])
    st = stratum_of_row[rows]
    if not ev.any():
        return None
    x = z if z.shape[1] else np.zeros((len(rows), 1))
    full = fit_counting(lo, hi, ev, x, st)
    marginal = fit_counting(lo, hi, ev, np.zeros((len(rows), 1)), st)
    return _StartModel(full, marginal, rows, lo, hi, z, stratum_of_row)


def _cumhaz(model: _StartModel, fit: CountingFit, coef: np.ndarray, member: np.ndarray,
            day: np.ndarray, before: bool) -> np.ndarray:
    """Each member's cumulative hazard of starting up to `day` (just before it if
    `before`), summed over its pieces of constant covariates."""
    order = np.argsort(model.piece_row, kind="stable")
    prow = model.piece_row[order]
    first = np.searchsorted(prow, np.arange(len(model.row_stratum) + 1))
    n_p = (first[1:] - first[:-1])[member]
    q = np.repeat(np.arange(len(member)), n_p)
    off = np.arange(len(q)) - np.repeat(np.cumsum(n_p) - n_p, n_p)
    idx = order[first[:-1][member][q] + off]
    lo, hi = model.piece_lo[idx], model.piece_hi[idx]
    st = model.row_stratum[model.piece_row[idx]]
    s = day[q]
    top = np.minimum(s, hi)
    h_top = np.where(s <= hi, fit.cumhaz(st, s, before=before), fit.cumhaz(st, hi))
    h_lo = fit.cumhaz(st, lo)
    risk = np.exp(model.piece_z[idx] @ coef) if len(coef) else np.ones(len(idx))
    part = np.where(top > lo, risk * (h_top - h_lo), 0.0)
    return np.bincount(q, part, len(member))


@dataclass(frozen=True)
class PerProtocol:
    """The per-protocol fits over the draws and the weights' summary."""

    fit: SetFit
    combined: Combined
    counts: Counts
    weight_mean: float
    weight_max: float
    start_log_hr: tuple[float, ...]     # covariates of the model of starting
    start_names: tuple[str, ...]
    message: str = ""


def per_protocol(stack: Stack, cohort: Cohort, spec: StudySpec, plan: MatchPlan
                 ) -> PerProtocol:
    """Controls censored at crossover and weighted (see the module docstring)."""
    cross = (stack.exposed == 0) & ~np.isnan(stack.crossover) & (stack.crossover < stack.time)
    time = np.where(cross, stack.crossover, stack.time)
    event = np.where(cross, 0, stack.event)
    model = _start_model(cohort, spec, plan)
    view = Stack(stack.n_draws, stack.set_start, stack.set_draw, stack.set_index,
                 stack.member, stack.exposed, stack.index_day, time, event, stack.crossover)
    reasons = _reasons(view)
    pairs = set_pairs(time, event, stack.exposed, stack.set_start, stack.set_draw,
                      stack.n_draws)
    weights = np.ones(len(pairs.risk_i))
    names = tuple(v for v in spec.matching_exact if spec.variable(v).kind != "baseline")
    coef: np.ndarray = np.zeros(0)
    msg = ""
    if model is None:
        msg = "no patient started the exposure under observation: weights are 1"
    else:
        ctrl = stack.exposed[pairs.risk_i] == 0
        i = pairs.risk_i[ctrl]
        m, t = stack.member[i], stack.index_day[i]
        u = t + pairs.g_time[pairs.risk_g[ctrl]]
        coef = model.full.beta[:len(names)] if names else np.zeros(0)
        den = (_cumhaz(model, model.full, coef, m, u, True)
               - _cumhaz(model, model.full, coef, m, t, False))
        num = (_cumhaz(model, model.marginal, np.zeros(len(coef)), m, u, True)
               - _cumhaz(model, model.marginal, np.zeros(len(coef)), m, t, False))
        weights[ctrl] = np.exp(den - num)
    fit = fit_sets(pairs, stack.member, estimable=np.array([r == "" for r in reasons]),
                   pair_weights=weights)
    ctrl_w = weights[stack.exposed[pairs.risk_i] == 0]
    return PerProtocol(fit, combine_draws(fit.beta, fit.se_model, fit.se_robust, reasons),
                       counts(view), float(ctrl_w.mean()) if len(ctrl_w) else 1.0,
                       float(ctrl_w.max()) if len(ctrl_w) else 1.0,
                       tuple(float(b) for b in coef), names, msg)


@dataclass(frozen=True)
class CohortTV:
    """The full-cohort time-varying analysis: log HR, SE, counts, rows used."""

    beta: float | None
    se: float | None
    n_patients: int
    n_exposed: int
    events: int
    events_exposed: int
    message: str = ""
    data: pd.DataFrame | None = None    # the counting-process rows (for checks)


def full_cohort(cohort: Cohort, spec: StudySpec, plan: MatchPlan) -> CohortTV:
    """Every eligible patient, exposure as a time-varying covariate (module docstring)."""
    codes, intervals = matching_keys(cohort.table.reindex(plan.pids), cohort, spec)
    entry = cohort.table.reindex(plan.pids)["entry_day"].to_numpy(float)
    horizon = float(spec.horizon_days)
    exp_day = plan.exp_day
    exposed = ~np.isnan(exp_day) & (exp_day < plan.end) & (exp_day >= entry)
    prevalent = ~np.isnan(exp_day) & (exp_day < entry)
    ok = np.all(codes >= 0, axis=1) & ~prevalent
    # unexposed time: (entry, min(end, exposure day)], pieces by the changing variables
    u_stop = np.where(exposed, exp_day, plan.end)
    lo_all = np.where(ok, entry, np.inf)
    rows, lo, hi, z = presence_records(lo_all, u_stop, codes, intervals)
    ev_u = plan.event[rows] & (hi == plan.end[rows]) & ~exposed[rows]
    # exposed time: (index day, min(end, index day + horizon)], pieces by the changing
    # variables as for unexposed time (module docstring: why not frozen at the index day)
    e_ok = exposed & ok
    e_lo = np.where(e_ok, exp_day, np.inf)
    e_stop = np.where(e_ok, np.minimum(plan.end, exp_day + horizon), -np.inf)
    e_rows, e_from, e_hi, ze = presence_records(e_lo, e_stop, codes, intervals)
    ev_e = (plan.event[e_rows] & (e_hi == plan.end[e_rows])
            & (plan.end[e_rows] <= exp_day[e_rows] + horizon))
    keys = np.concatenate([z, ze], axis=0)
    strata = _stratum(keys) if keys.shape[1] else np.zeros(len(keys), np.int64)
    data = pd.DataFrame({
        "row": np.concatenate([rows, e_rows]), "entry": np.concatenate([lo, e_from]),
        "stop": np.concatenate([hi, e_hi]),
        "event": np.concatenate([ev_u, ev_e]).astype(int),
        "exposed": np.concatenate([np.zeros(len(rows)), np.ones(len(e_rows))]),
        "stratum": strata})
    data = data[data["stop"] > data["entry"]]
    n_exp_ev = int(data.loc[data["exposed"] == 1, "event"].sum())
    n_ev = int(data["event"].sum())
    base = dict(n_patients=int(data["row"].nunique()), n_exposed=int(e_ok.sum()), events=n_ev,
                events_exposed=n_exp_ev, data=data)
    if n_exp_ev == 0 or n_ev == n_exp_ev:
        why = ("no events in exposed person-time" if n_exp_ev == 0
               else "no events in unexposed person-time")
        return CohortTV(None, None, message=f"{why}: the hazard ratio is not estimable",
                        **base)  # type: ignore[arg-type]
    fit = fit_counting(data["entry"].to_numpy(), data["stop"].to_numpy(),
                       data["event"].to_numpy(), data[["exposed"]].to_numpy(),
                       data["stratum"].to_numpy())
    beta, se = float(fit.beta[0]), float(fit.se[0])
    if not fit.converged or abs(beta) > 15 or not np.isfinite(se):
        return CohortTV(None, None, message="the Cox fit did not converge",
                        **base)  # type: ignore[arg-type]
    return CohortTV(beta, se, **base)  # type: ignore[arg-type]
