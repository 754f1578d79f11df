"""Index days: the first day on which a drug of every exposure group is taken at once.

For the JAK-CNI study the groups are ["JAK inhibitor"] and ["Calcineurin inhibitor"]:
the index day is the first day a JAK inhibitor and a calcineurin inhibitor are both
being taken, counted in days from the time origin (diagnosis).

Interval rules (stated, because registries are untidy):
- a row without a start date cannot place the drug in time and is ignored (counted);
- a missing stop date, or `ongoing` = yes, means the drug runs to the end of follow-up;
- a stop before the start is ignored (counted); the quality flags should catch it;
- an overlap starting before the origin gives index day 0 (on the combination at
  diagnosis), counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyses.errors import StudyDataError
from analyses.study import ExposureSpec

__all__ = ["ExposureDays", "index_days"]


@dataclass(frozen=True)
class ExposureDays:
    """Index day per exposed patient and the counts of rows the rules set aside."""

    days: pd.Series  # patient_id -> index day (float, days from origin); exposed only
    rows_without_start: int
    rows_stop_before_start: int
    started_before_origin: int


def index_days(treatments: pd.DataFrame, spec: ExposureSpec,
               origin: pd.Series) -> ExposureDays:
    """Index day of every patient who ever takes all exposure groups at once.

    `origin` maps patient_id -> origin date (datetime64). Patients without an origin
    are skipped (the cohort counts them elsewhere).
    """
    cols = ["patient_id", spec.class_column, spec.start, spec.stop, spec.ongoing]
    missing = [c for c in cols if c not in treatments.columns]
    if missing:
        raise StudyDataError(f"treatments frame lacks column(s) {missing} named by the "
                             f"study's [exposure]; check the study file against the tidy frames")
    labels = {lab: gi for gi, grp in enumerate(spec.groups) for lab in grp}
    trt = treatments.loc[treatments[spec.class_column].isin(list(labels)), cols].copy()
    trt["group"] = trt[spec.class_column].map(labels).astype(int)
    trt = trt[trt["patient_id"].isin(origin.dropna().index)]
    no_start = int(trt[spec.start].isna().sum())
    trt = trt[trt[spec.start].notna()]
    o = pd.to_datetime(trt["patient_id"].map(origin))
    trt["s"] = (pd.to_datetime(trt[spec.start]) - o).dt.days.astype(float)
    stop = (pd.to_datetime(trt[spec.stop]) - o).dt.days.astype(float)
    ongoing = trt[spec.ongoing].fillna(False).astype(bool)
    trt["e"] = np.where(ongoing | stop.isna(), math.inf, stop)
    bad = trt["e"] < trt["s"]
    trt = trt[~bad]

    n_groups = len(spec.groups)
    out: dict[str, float] = {}
    before = 0
    for pid, rows in trt.groupby("patient_id", sort=True):
        if rows["group"].nunique() < n_groups:
            continue
        by_group = [rows.loc[rows["group"] == g, ["s", "e"]].to_numpy() for g in range(n_groups)]
        day = _first_common_day(by_group)
        if day is None:
            continue
        if day < 0:
            before += 1
            day = 0.0
        out[str(pid)] = day
    return ExposureDays(pd.Series(out, dtype=float, name="index_day"), no_start,
                        int(bad.sum()), before)


def _first_common_day(groups: list[np.ndarray]) -> float | None:
    """Earliest day covered by an interval of every group (it is always some start)."""
    starts = np.unique(np.concatenate([g[:, 0] for g in groups]))
    for day in starts:
        if all(bool(((g[:, 0] <= day) & (day <= g[:, 1])).any()) for g in groups):
            return float(day)
    return None
