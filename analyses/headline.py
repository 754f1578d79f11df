"""The analyses over M re-drawn matchings: the headline, its subgroups, and the others.

`Draws.make(...)` draws the matchings (as many as the wanted Monte-Carlo precision
needs, between `min_draws` and `max_draws`), keeps the sets that have a control (a set
without one adds nothing to the conditional likelihood and is not counted), and fits
each draw's stratified Cox model at once (`analyses.setfit`). Subgroups take the same
draws' rows; the interaction between two subgroups is their per-draw difference,
combined the same way; Kaplan-Meier estimates are combined on the log(-log) scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyses.cohort import Cohort
from analyses.combine import Combined, combine_draws
from analyses.draws import Stack, draw_stack, patient_keys
from analyses.matching import MatchPlan
from analyses.results import Counts
from analyses.setfit import SetFit, fit_sets, set_pairs
from analyses.study import StudySpec

__all__ = ["DrawFit", "Draws", "km_over_draws", "row_values"]


@dataclass(frozen=True)
class DrawFit:
    """Per-draw fits of one analysis, their combination, and its counts."""

    fit: SetFit
    combined: Combined
    counts: Counts
    reasons: tuple[str, ...]


def _reasons(stack: Stack) -> list[str]:
    """Per draw, why its HR cannot be estimated ("" if it can), as `survival.cox` says."""
    k = stack.n_draws
    d = stack.row_draw
    ev_e = np.bincount(d, stack.event * stack.exposed, k)
    ev_c = np.bincount(d, stack.event * (1 - stack.exposed), k)
    rows = np.bincount(d, minlength=k)
    out = []
    for n, e, c in zip(rows, ev_e, ev_c, strict=True):
        if n == 0:
            out.append("no matched set has both an exposed patient and a control")
        elif e + c == 0:
            out.append("no events in sets with a control: the hazard ratio is not estimable")
        elif e == 0:
            out.append("no events among exposed patients: the hazard ratio is 0, not "
                       "estimable")
        elif c == 0:
            out.append("no events among controls: the hazard ratio is infinite, not "
                       "estimable")
        else:
            out.append("")
    return out


def fit_stack(stack: Stack, pair_weights: np.ndarray | None = None,
              time: np.ndarray | None = None, event: np.ndarray | None = None) -> DrawFit:
    """Fit every draw of `stack` (optionally other times/events and pair weights)."""
    t = stack.time if time is None else time
    e = stack.event if event is None else event
    view = Stack(stack.n_draws, stack.set_start, stack.set_draw, stack.set_index,
                 stack.member, stack.exposed, stack.index_day, t, e, stack.crossover)
    reasons = _reasons(view)
    pairs = set_pairs(t, e, stack.exposed, stack.set_start, stack.set_draw, stack.n_draws)
    fit = fit_sets(pairs, stack.member, estimable=np.array([r == "" for r in reasons]),
                   pair_weights=pair_weights)
    return DrawFit(fit, combine_draws(fit.beta, fit.se_model, fit.se_robust, reasons),
                   counts(view), tuple(reasons))


def counts(stack: Stack) -> Counts:
    """Sets, exposed, controls and events: per draw, then their mean over draws."""
    k = max(stack.n_draws, 1)
    d = stack.row_draw
    ctrl = stack.exposed == 0
    width = int(stack.member.max(initial=0)) + 1
    distinct = np.flatnonzero(np.bincount(d[ctrl] * width + stack.member[ctrl],
                                          minlength=k * width))
    sets_per_draw = np.bincount(stack.set_draw, minlength=k)
    return Counts(
        n_sets=int(round(float(sets_per_draw.mean()))) if len(sets_per_draw) else 0,
        n_exposed=int(round(float(stack.exposed.sum()) / k)),
        n_controls=float(ctrl.sum()) / k, distinct_controls=len(distinct) / k,
        events=float(stack.event.sum()) / k,
        events_exposed=float((stack.event * stack.exposed).sum()) / k,
        events_controls=float((stack.event * ctrl).sum()) / k)


@dataclass(frozen=True)
class Draws:
    """The draws of one cohort's matching, sets without a control left out."""

    stack: Stack
    plan: MatchPlan
    n_draws: int
    headline: DrawFit

    @classmethod
    def make(cls, plan: MatchPlan, spec: StudySpec, *, seed: int, min_draws: int,
             max_draws: int, mc_se: float, n_draws: int | None = None) -> Draws:
        """Draw until the headline's Monte-Carlo SE is `mc_se` (or `max_draws`), or
        exactly `n_draws` (e.g. the clean analysis's number, for the all-records one)."""
        if not spec.reuse_controls:
            n = n_draws or min(max_draws, max(min_draws, 200))
            stack = _informative(_sequential(plan, spec, seed, n))
            return cls(stack, plan, n, fit_stack(stack))
        keys = patient_keys(plan.pids[np.asarray(plan.exposed, np.int64)])
        horizon = float(spec.horizon_days)
        if n_draws is None:
            pilot = min(min_draws, max_draws)
            stack = _informative(draw_stack(plan, spec.ratio, horizon, seed, 0, pilot, keys))
            fit = fit_stack(stack)
            sd = fit.combined.draw_sd
            n_draws = pilot if sd is None else int(min(max_draws, max(
                pilot, math.ceil((sd / mc_se) ** 2))))
            if n_draws == pilot:
                return cls(stack, plan, pilot, fit)
        stack = _informative(draw_stack(plan, spec.ratio, horizon, seed, 0, n_draws, keys))
        return cls(stack, plan, n_draws, fit_stack(stack))


def _sequential(plan: MatchPlan, spec: StudySpec, seed: int, n: int) -> Stack:
    """Draws one by one with `matching.match` (controls not reused: each draw's sets
    depend on the earlier sets' picks); draw m uses the seed (seed, m)."""
    from analyses.matching import match

    parts = []
    for m in range(n):
        sub = int(np.random.SeedSequence([seed, m]).generate_state(1)[0])
        rows = match(None, spec, sub, plan, variables=False).rows  # type: ignore[arg-type]
        parts.append(rows)
    pos = {pid: i for i, pid in enumerate(plan.pids)}
    import pandas as pd

    allr = pd.concat([r.assign(draw=i) for i, r in enumerate(parts)], ignore_index=True)
    block = allr["draw"].to_numpy() * (len(plan.exposed) + 1) + allr["set_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    return Stack(n, starts, allr["draw"].to_numpy()[starts],
                 allr["set_id"].to_numpy()[starts] - 1,
                 allr["patient_id"].map(pos).to_numpy(np.int64),
                 allr["exposed"].to_numpy(np.int64), allr["index_day"].to_numpy(float),
                 allr["time"].to_numpy(float), allr["event"].to_numpy(np.int64),
                 allr["crossover_day"].to_numpy(float))


def _informative(stack: Stack) -> Stack:
    sizes = np.diff(np.append(stack.set_start, len(stack.member)))
    return stack.subset(np.repeat(sizes > 1, sizes))


def row_values(stack: Stack, cohort: Cohort, spec: StudySpec, plan: MatchPlan,
               name: str) -> np.ndarray:
    """Variable `name` for every stacked row (time-dependent ones at the set's index
    day), as the matched rows' columns are; "index_day" is the set's index day."""
    if name == "index_day":
        return stack.index_day
    v = spec.variable(name)
    tab = cohort.table.reindex(plan.pids)
    if v.kind == "baseline":
        return tab[v.name].to_numpy(object)[stack.member]
    from analyses.candidates import in_intervals

    iv = cohort.intervals[v.name]
    pos = tab.index.get_indexer(pd.Index(iv["patient_id"]))
    keep = pos >= 0
    return in_intervals(stack.member, stack.index_day, pos[keep],
                        iv["start"].to_numpy(float)[keep], iv["stop"].to_numpy(float)[keep],
                        len(tab))


def subgroup_mask(stack: Stack, cohort: Cohort, spec: StudySpec, plan: MatchPlan,
                  flt: Mapping[str, object]) -> np.ndarray:
    """Rows whose variables equal the filter (a missing value equals nothing)."""
    keep = np.ones(len(stack.member), bool)
    for col, val in flt.items():
        values = row_values(stack, cohort, spec, plan, col)
        keep &= np.array([x is not None and x is not np.nan and not _isna(x) and x == val
                          for x in values], bool) if values.dtype == object else (
            values == val)
    return keep


def _isna(x: object) -> bool:
    try:
        return bool(x != x) or x is None or str(x) == "<NA>"
    except (TypeError, ValueError):
        return True


@dataclass(frozen=True)
class KMOverDraws:
    """Kaplan-Meier by arm combined over draws, on a daily grid 0..horizon.

    `survival`, `ci_low`, `ci_high`, `at_risk` are (2, horizon + 1): row 0 exposed,
    row 1 controls; `at_risk` is the mean over draws at the start of each day.
    """

    days: np.ndarray
    survival: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray


def km_over_draws(stack: Stack, horizon: int) -> KMOverDraws:
    """Per draw and arm the product-limit estimate and its Greenwood variance on each
    day; combined: the mean survival over draws, with the mean Greenwood variance (one
    draw's) and a log(-log) CI. Not the multiple-outputation subtraction of the HR
    (mean variance - (1 - 1/M) x variance over draws): for the controls it removed
    nearly all the variance (at 100x a 95 % CI of 75.0-75.0 % on day 90 for 5,220
    control rows) and no simulation checks its coverage; one draw's variance is
    conservative. The exposed arm is the same in every draw, so both agree there."""
    k, h = stack.n_draws, int(horizon)
    day = np.clip(np.rint(stack.time).astype(np.int64), 0, h)
    arm = 1 - stack.exposed
    d = stack.row_draw
    slot = (d * 2 + arm) * (h + 1) + day
    size = k * 2 * (h + 1)
    ev = np.bincount(slot, stack.event, size).reshape(k, 2, h + 1)
    out = np.bincount(slot, minlength=size).reshape(k, 2, h + 1)
    at_risk = np.flip(np.cumsum(np.flip(out, 2), 2), 2).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, ev / at_risk, 0.0)
        surv = np.cumprod(1 - hazard, axis=2)
        gw = np.cumsum(np.where(at_risk > ev, ev / (at_risk * (at_risk - ev)), 0.0), axis=2)
        s_bar = surv.mean(axis=0)
        within = (surv ** 2 * gw).mean(axis=0)
        v = within
        inside = (s_bar > 0) & (s_bar < 1)
        log_s = np.log(np.where(inside, s_bar, 0.5))
        theta = np.log(-log_s)
        se = np.sqrt(v) / (np.where(inside, s_bar, 0.5) * np.abs(log_s))
        lo = np.where(inside, np.exp(-np.exp(theta + 1.959964 * se)), s_bar)
        hi = np.where(inside, np.exp(-np.exp(theta - 1.959964 * se)), s_bar)
    return KMOverDraws(np.arange(h + 1), s_bar, lo, hi, at_risk.mean(axis=0),
                       ev.sum(axis=2).mean(axis=0))
