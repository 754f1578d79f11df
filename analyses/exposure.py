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

    # The index day is the earliest start (of any of the patient's exposure rows) that an
    # interval of every group covers: all (patient, start) x (patient's rows) at once.
    n_groups = len(spec.groups)
    cand = trt[["patient_id", "s"]].drop_duplicates()
    pairs = cand.merge(trt[["patient_id", "group", "s", "e"]].rename(columns={"s": "s_row"}),
                       on="patient_id")
    covered = pairs[(pairs["s_row"] <= pairs["s"]) & (pairs["s"] <= pairs["e"])]
    n_cov = covered.groupby(["patient_id", "s"])["group"].nunique()
    first = n_cov[n_cov == n_groups].reset_index().groupby("patient_id")["s"].min()
    first = first.sort_index()
    before = int((first < 0).sum())
    days = pd.Series(np.where(first.to_numpy(float) < 0, 0.0, first.to_numpy(float)),
                     index=pd.Index([str(p) for p in first.index]), dtype=float,
                     name="index_day")
    return ExposureDays(days, no_start, int(bad.sum()), before)
