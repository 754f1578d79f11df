"""Risk-set (incidence-density) matching of exposed patients to controls.

For each exposed patient, in order of index day t (ties by patient_id), draw up to
`ratio` controls at random among patients who at time t since the origin are
- alive, transplant-free and still followed: `end_day > t`;
- not yet exposed: `exposure_day` missing or `> t` (they may be exposed later and then
  form their own set, and serve as controls before that);
- equal to the exposed patient on every exact-matching variable, time-dependent ones
  (e.g. ICU at the index day) evaluated at t; a missing value matches nothing.
The exposed patient must itself be followed past t (`end_day > t`), else it is left
out and counted. Sets short of `ratio` controls are kept and counted. A control may
serve in several sets unless the study sets `reuse_controls = false`.

Follow-up of every member starts at the set's index day and is capped at the horizon:
`time = min(end_day - t, horizon)`, `event = event and end_day - t <= horizon`.

Assumptions: no unmeasured confounding beyond the exact-matching variables and the
time since origin; reference: Langholz & Goldstein, Stat Sci 1996;11:35-53 (risk-set
sampling); Lu, Biometrics 2005;61:721-8 (time-dependent / risk-set matching).
Seeded with numpy's `default_rng(seed)`; the result depends only on the cohort's
content and the seed, not on row order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyses.cohort import Cohort
from analyses.study import StudySpec

__all__ = ["MatchPlan", "MatchResult", "match", "plan_matching"]


@dataclass(frozen=True)
class MatchResult:
    """Matched sets as one row per member, plus counts for the cohort flow.

    `rows` columns: set_id, patient_id, record_id, site, exposed (0/1), index_day,
    time, event (0/1), crossover_day (days from the set's index day to the control's
    own exposure, NaN if none), then every declared variable evaluated at index_day.
    """

    rows: pd.DataFrame
    n_sets: int
    n_short: int          # sets with fewer than `ratio` controls (including none)
    n_without_control: int
    exposed_after_end: int
    ratio: int

    def summary(self) -> str:
        """One line: sets, controls, sets short of the ratio."""
        n_ctrl = int((self.rows["exposed"] == 0).sum())
        return (f"{self.n_sets} matched sets, {n_ctrl} control rows "
                f"({self.rows.loc[self.rows['exposed'] == 0, 'patient_id'].nunique()} distinct), "
                f"{self.n_short} set(s) with fewer than {self.ratio} controls "
                f"({self.n_without_control} with none)")


def _codes(values: pd.Series) -> np.ndarray:
    codes, _ = pd.factorize(values.astype(object).where(values.notna(), np.nan),
                            use_na_sentinel=True)
    return codes


@dataclass(frozen=True)
class MatchPlan:
    """What does not depend on the seed: exposed patients in order and their candidates.

    `candidates[j]` are the row positions eligible for set j before the draw (and before
    leaving out already-used controls when controls are not reused).
    """

    pids: np.ndarray
    end: np.ndarray
    exp_day: np.ndarray
    event: np.ndarray
    exposed: tuple[int, ...]
    candidates: tuple[np.ndarray, ...]
    exposed_after_end: int
    record_id: np.ndarray | None = None   # by row position, as `pids`
    site: np.ndarray | None = None


def plan_matching(cohort: Cohort, spec: StudySpec) -> MatchPlan:
    """Eligibility of every candidate for every exposed patient (see module docstring)."""
    tab = cohort.table.sort_index()
    pids = tab.index.to_numpy()
    end = tab["end_day"].to_numpy(float)
    exp_day = tab["exposure_day"].to_numpy(float)
    baseline_exact = [v for v in spec.matching_exact if spec.variable(v).kind == "baseline"]
    timedep_exact = [v for v in spec.matching_exact if spec.variable(v).kind != "baseline"]
    codes = {v: _codes(tab[v]) for v in baseline_exact}
    # interval variables as (row position, start, stop) arrays: evaluated at each index
    # day with numpy (as `Cohort.value_at`, without a pandas pass per exposed patient)
    intervals = {}
    for v in timedep_exact:
        iv = cohort.intervals[v]
        pos = tab.index.get_indexer(pd.Index(iv["patient_id"]))
        keep = pos >= 0
        intervals[v] = (pos[keep], iv["start"].to_numpy(float)[keep],
                        iv["stop"].to_numpy(float)[keep])
    exposed_idx = np.flatnonzero(~np.isnan(exp_day))
    order = exposed_idx[np.lexsort((pids[exposed_idx], exp_day[exposed_idx]))]
    exposed, candidates = [], []
    after_end = 0
    not_exposed_by = np.where(np.isnan(exp_day), np.inf, exp_day)
    inside = np.zeros(len(pids), bool)
    for e in order:
        t = exp_day[e]
        if not end[e] > t:
            after_end += 1
            continue
        ok = (end > t) & (not_exposed_by > t)
        ok[e] = False
        for v in baseline_exact:
            c = codes[v]
            ok &= (c == c[e]) & (c[e] >= 0)
        for v in timedep_exact:
            pos, start, stop = intervals[v]
            inside[:] = False
            inside[pos[(start <= t) & (t <= stop)]] = True
            ok &= inside == inside[e]
        exposed.append(int(e))
        candidates.append(np.flatnonzero(ok))
    return MatchPlan(pids, end, exp_day, tab["event"].to_numpy(bool), tuple(exposed),
                     tuple(candidates), after_end, tab["record_id"].to_numpy(object),
                     tab["site"].to_numpy(object))


def match(cohort: Cohort, spec: StudySpec, seed: int, plan: MatchPlan | None = None,
          variables: bool = True) -> MatchResult:
    """Draw the matched sets (see the module docstring for the rules).

    `plan` (from `plan_matching`) saves recomputing eligibility when only the seed
    changes; `variables=False` leaves out the variable columns (faster, for refits).
    """
    p = plan_matching(cohort, spec) if plan is None else plan
    rng = np.random.default_rng(seed)
    used = np.zeros(len(p.pids), bool)
    horizon = float(spec.horizon_days)
    # the draws, in set order (the only sequential part); rows are built at once after
    chosen_l: list[np.ndarray] = []
    sizes = np.empty(len(p.exposed), int)
    n_short = n_none = 0
    ratio, reuse, choice = spec.ratio, spec.reuse_controls, rng.choice
    for j, cand in enumerate(p.candidates):
        if not reuse:
            cand = cand[~used[cand]]
        k = min(ratio, cand.size)
        chosen = np.sort(choice(cand, size=k, replace=False)) if k else cand[:0]
        if not reuse:
            used[chosen] = True
        n_short += k < ratio
        n_none += k == 0
        chosen_l.append(chosen)
        sizes[j] = k + 1
    n_sets = len(p.exposed)
    starts = np.cumsum(sizes) - sizes
    members = np.empty(int(sizes.sum()), int)
    members[starts] = np.asarray(p.exposed, int)
    is_control = np.ones(len(members), bool)
    is_control[starts] = False
    members[is_control] = np.concatenate(chosen_l) if chosen_l else np.zeros(0, int)
    is_exposed = np.zeros(len(members), int)
    is_exposed[starts] = 1
    t_rows = np.repeat(p.exp_day[np.asarray(p.exposed, int)], sizes)
    dt = p.end[members] - t_rows
    crossover = p.exp_day[members] - t_rows
    crossover[starts] = np.nan
    rows = pd.DataFrame({
        "set_id": np.repeat(np.arange(1, n_sets + 1), sizes),
        "patient_id": p.pids[members], "exposed": is_exposed, "index_day": t_rows,
        "time": np.minimum(dt, horizon),
        "event": (p.event[members] & (dt <= horizon)).astype(int),
        "crossover_day": crossover,
    }).astype({"set_id": int, "patient_id": object, "exposed": int, "index_day": float,
               "time": float, "event": int, "crossover_day": float})
    if p.record_id is not None and p.site is not None:
        rows.insert(2, "record_id", pd.Series(p.record_id[members], dtype=object))
        rows.insert(3, "site", pd.Series(p.site[members], dtype=object))
    else:
        rows.insert(2, "record_id",
                    rows["patient_id"].map(cohort.table["record_id"]).astype(object))
        rows.insert(3, "site", rows["patient_id"].map(cohort.table["site"]).astype(object))
    if variables:
        rows = _attach_variables(rows, cohort, spec)
    return MatchResult(rows, n_sets, n_short, n_none, p.exposed_after_end, spec.ratio)


def _attach_variables(rows: pd.DataFrame, cohort: Cohort, spec: StudySpec) -> pd.DataFrame:
    tab = cohort.table
    for v in spec.variables:
        if v.kind == "baseline":
            rows[v.name] = rows["patient_id"].map(tab[v.name]).to_numpy()
        else:
            iv = cohort.intervals[v.name]
            merged = rows[["patient_id", "index_day"]].reset_index().merge(
                iv, on="patient_id", how="left")
            hit = (merged["start"] <= merged["index_day"]) & (
                merged["index_day"] <= merged["stop"])
            rows[v.name] = hit.groupby(merged["index"]).any().reindex(
                rows.index, fill_value=False).to_numpy(bool)
    return rows
