"""Reference implementations the analyses are checked against (slow, plain, obvious).

`candidates_by_scan`: the matching's eligibility as it was written before planning was
made near-linear (issue #14): one pass over every patient for each exposed patient.
The near-linear `plan_matching` must give the same candidates, in the same order, so
the draws (and the matched rows) are the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyses.cohort import Cohort
from analyses.study import StudySpec


def _codes(values: pd.Series) -> np.ndarray:
    codes, _ = pd.factorize(values.astype(object).where(values.notna(), np.nan),
                            use_na_sentinel=True)
    return codes


def candidates_by_scan(cohort: Cohort, spec: StudySpec) -> tuple[list[int], list[np.ndarray]]:
    """(exposed row positions in set order, candidate row positions per set)."""
    tab = cohort.table.sort_index()
    pids = tab.index.to_numpy()
    end = tab["end_day"].to_numpy(float)
    exp_day = tab["exposure_day"].to_numpy(float)
    entry = tab["entry_day"].to_numpy(float)
    baseline_exact = [v for v in spec.matching_exact if spec.variable(v).kind == "baseline"]
    timedep_exact = [v for v in spec.matching_exact if spec.variable(v).kind != "baseline"]
    codes = {v: _codes(tab[v]) for v in baseline_exact}
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
    not_exposed_by = np.where(np.isnan(exp_day), np.inf, exp_day)
    inside = np.zeros(len(pids), bool)
    for e in order:
        t = exp_day[e]
        if not (end[e] > t and entry[e] <= t):
            continue
        ok = (end > t) & (not_exposed_by > t) & (entry <= t)
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
    return exposed, candidates
