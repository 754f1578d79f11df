"""Risk-set (incidence-density) matching of exposed patients to controls.

For each exposed patient, in order of index day t (ties by patient_id), draw up to
`ratio` controls at random among patients who at time t since the origin are
- under observation: entered the registry on or before t (`entry_day <= t`; day 0
  when the study declares no delayed entry);
- alive, transplant-free and still followed: `end_day > t`;
- not yet exposed: `exposure_day` missing or `> t` (they may be exposed later and then
  form their own set, and serve as controls before that);
- equal to the exposed patient on every exact-matching variable, time-dependent ones
  (e.g. ICU at the index day) evaluated at t; a missing value matches nothing.
The exposed patient must itself be followed past t (`end_day > t`) and have entered
by t (a patient exposed before entering the registry is a prevalent user, whose
early risk was never observed), else it is left out and counted. Sets short of
`ratio` controls are kept and counted. A control may serve in several sets unless the
study sets `reuse_controls = false`.

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

from analyses.candidates import CandidateIndex, in_intervals, presence_records
from analyses.cohort import Cohort
from analyses.study import StudySpec

__all__ = ["Intervals", "MatchPlan", "MatchResult", "match", "matching_keys", "plan_matching"]


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
    exposed_before_entry: int = 0   # exposed before their (delayed) entry: left out

    def summary(self) -> str:
        """One line: sets, controls, sets short of the ratio."""
        n_ctrl = int((self.rows["exposed"] == 0).sum())
        return (f"{self.n_sets} matched sets, {n_ctrl} control rows "
                f"({self.rows.loc[self.rows['exposed'] == 0, 'patient_id'].nunique()} distinct), "
                f"{self.n_short} set(s) with fewer than {self.ratio} controls "
                f"({self.n_without_control} with none)")


def _codes(values: pd.Series) -> np.ndarray:
    """Integer codes for exact matching; -1 for a missing value (matches nothing)."""
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes, np.int64)


#: A time-dependent matching variable's intervals: (row positions, starts, stops).
Intervals = tuple[np.ndarray, np.ndarray, np.ndarray]


def matching_keys(tab: pd.DataFrame, cohort: Cohort, spec: StudySpec
                  ) -> tuple[np.ndarray, list[Intervals]]:
    """The exact-matching keys of the rows of `tab` (cohort rows, in the caller's order):
    the baseline variables' integer codes (rows x variables, -1 = missing) and each
    time-dependent variable's intervals as row positions of `tab`."""
    base = [v for v in spec.matching_exact if spec.variable(v).kind == "baseline"]
    timedep = [v for v in spec.matching_exact if spec.variable(v).kind != "baseline"]
    codes = (np.stack([_codes(tab[v]) for v in base], axis=1) if base
             else np.zeros((len(tab), 0), np.int64))
    intervals = []
    for v in timedep:
        iv = cohort.intervals[v]
        pos = tab.index.get_indexer(pd.Index(iv["patient_id"]))
        keep = pos >= 0
        intervals.append((pos[keep], iv["start"].to_numpy(float)[keep],
                          iv["stop"].to_numpy(float)[keep]))
    return codes, intervals


@dataclass(frozen=True)
class MatchPlan:
    """What does not depend on the seed: exposed patients in order and their candidates.

    `exposed[j]` is the row position of set j's exposed patient; `n_candidates[j]` how
    many controls are eligible for it (before leaving out already-used controls when
    controls are not reused); `index` finds them (`analyses.candidates`).
    """

    pids: np.ndarray
    end: np.ndarray
    exp_day: np.ndarray
    event: np.ndarray
    exposed: tuple[int, ...]
    n_candidates: np.ndarray
    index: CandidateIndex
    exposed_after_end: int
    exposed_before_entry: int
    record_id: np.ndarray     # by row position, as `pids`
    site: np.ndarray

    @property
    def candidates(self) -> tuple[np.ndarray, ...]:
        """Every set's candidates as row positions in order (lists them: for tests)."""
        return tuple(self.index.candidates(j) for j in range(len(self.exposed)))


def plan_matching(cohort: Cohort, spec: StudySpec) -> MatchPlan:
    """Eligibility of every candidate for every exposed patient (see module docstring).

    Near-linear in patients: the candidates are presence records (`analyses.candidates`),
    counted per set with sorted days instead of a pass over all patients per set.
    """
    tab = cohort.table.sort_index()
    pids = tab.index.to_numpy()
    end = tab["end_day"].to_numpy(float)
    exp_day = tab["exposure_day"].to_numpy(float)
    entry = (tab["entry_day"].to_numpy(float) if "entry_day" in tab.columns
             else np.zeros(len(tab)))
    codes, intervals = matching_keys(tab, cohort, spec)
    not_exposed_by = np.where(np.isnan(exp_day), np.inf, exp_day)
    rec_rows, rec_lo, rec_hi, rec_vals = presence_records(
        entry, np.minimum(end, not_exposed_by), codes, intervals)

    exposed_idx = np.flatnonzero(~np.isnan(exp_day))
    order = exposed_idx[np.lexsort((pids[exposed_idx], exp_day[exposed_idx]))]
    t_all = exp_day[order]
    followed = end[order] > t_all
    entered = entry[order] <= t_all
    after_end = int((~followed).sum())
    before_entry = int((followed & ~entered).sum())
    sets = order[followed & entered]
    t = exp_day[sets]
    q_vals = [codes[sets]]
    for pos, start, stop in intervals:
        q_vals.append(in_intervals(sets, t, pos, start, stop, len(tab))[:, None]
                      .astype(np.int64))
    q = np.concatenate(q_vals, axis=1) if len(sets) else np.zeros((0, codes.shape[1]
                                                                     + len(intervals)))
    # one integer id per key, shared by records and sets; a missing code matches nothing
    both = np.concatenate([rec_vals, q.astype(np.int64)], axis=0) + 1   # >= 0 where used
    ids = np.zeros(len(both), np.int64)
    for col in both.T:            # mixed radix: one integer per distinct tuple of values
        ids = ids * (int(col.max(initial=0)) + 1) + col
    rec_key, q_key = ids[:len(rec_rows)], ids[len(rec_rows):].copy()
    if codes.shape[1]:
        q_key[np.any(codes[sets] < 0, axis=1)] = -1
    index = CandidateIndex(rec_rows, rec_lo, rec_hi, rec_key, t, q_key)
    return MatchPlan(pids, end, exp_day, tab["event"].to_numpy(bool),
                     tuple(int(e) for e in sets), index.counts, index, after_end,
                     before_entry, tab["record_id"].to_numpy(object),
                     tab["site"].to_numpy(object))


def match(cohort: Cohort, spec: StudySpec, seed: int, plan: MatchPlan | None = None,
          variables: bool = True) -> MatchResult:
    """Draw the matched sets (see the module docstring for the rules).

    `plan` (from `plan_matching`) saves recomputing eligibility when only the seed
    changes; `variables=False` leaves out the variable columns (faster, for refits).
    """
    p = plan_matching(cohort, spec) if plan is None else plan
    rng = np.random.default_rng(seed)
    horizon = float(spec.horizon_days)
    ratio, choice = spec.ratio, rng.choice
    n_sets = len(p.exposed)
    k_of = np.minimum(ratio, p.n_candidates).astype(int)
    if spec.reuse_controls:
        # the r-th candidate of a set, drawn as `choice(candidates, k)` would: the same
        # random stream, the same positions (candidates are in row order)
        ranks = [choice(int(n), size=int(k), replace=False) if k else np.zeros(0, int)
                 for n, k in zip(p.n_candidates, k_of, strict=True)]
        set_of = np.repeat(np.arange(n_sets), k_of)
        flat = np.concatenate(ranks).astype(np.int64) if ranks else np.zeros(0, np.int64)
        picked = p.index.select(set_of, flat) if len(flat) else flat
        chosen_l = np.split(picked, np.cumsum(k_of)[:-1]) if n_sets else []
        chosen_l = [np.sort(c) for c in chosen_l]
    else:
        used = np.zeros(len(p.pids), bool)
        chosen_l = []
        for j in range(n_sets):
            cand = p.index.candidates(j)
            cand = cand[~used[cand]]
            k = min(ratio, cand.size)
            k_of[j] = k
            chosen = np.sort(choice(cand, size=k, replace=False)) if k else cand[:0]
            used[chosen] = True
            chosen_l.append(chosen)
    return _assemble(p, cohort, spec, chosen_l, k_of, horizon, variables)


def _assemble(p: MatchPlan, cohort: Cohort, spec: StudySpec, chosen_l: list[np.ndarray],
              k_of: np.ndarray, horizon: float, variables: bool) -> MatchResult:
    """One row per member of every set, in set order (exposed first, then controls)."""
    n_sets = len(p.exposed)
    sizes = k_of + 1
    n_short = int((k_of < spec.ratio).sum())
    n_none = int((k_of == 0).sum())
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
    rows.insert(2, "record_id", pd.Series(p.record_id[members], dtype=object))
    rows.insert(3, "site", pd.Series(p.site[members], dtype=object))
    if variables:
        rows = _attach_variables(rows, cohort, spec)
    return MatchResult(rows, n_sets, n_short, n_none, p.exposed_after_end, spec.ratio,
                       p.exposed_before_entry)


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
