"""Infections after the index day, compared between arms.

Counted per matched row (a control reused in two sets counts in both, as in the
survival analysis): infections dated strictly after the set's index day and no later
than the end of that row's follow-up (`index_day < day <= index_day + time`).

Comparison: rate ratio exposed vs control from a Poisson regression of each row's
count on `exposed` with offset log(patient-years), with a cluster-robust (sandwich)
variance by patient, which also absorbs over-dispersion (a patient's infections are
not independent) and the reuse of controls. Assumes a constant rate within a row's
follow-up. Reference: Zeger & Liang, Biometrics 1986;42:121-30; Cameron & Trivedi,
Regression Analysis of Count Data, 2nd ed. 2013, ch. 3. The share with >= 1 infection
is descriptive.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyses.errors import StudyDataError

__all__ = ["InfectionResult", "compare_infections", "count_infections"]


@dataclass(frozen=True)
class InfectionResult:
    """Per-arm table and the rate ratio (None with a `message` when not estimable).

    `table` rows: arm; columns rows, with_infection, pct_with_infection, infections,
    patient_years, rate_per_100py.
    """

    table: pd.DataFrame
    rate_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    method: str
    message: str = ""

    def summary(self) -> pd.DataFrame:
        """The per-arm table."""
        return self.table


def count_infections(rows: pd.DataFrame, infections: pd.DataFrame, date_col: str,
                     origin: pd.Series) -> np.ndarray:
    """Infections per matched row within its follow-up (see module docstring)."""
    if date_col not in infections.columns:
        raise StudyDataError(f"infections frame lacks column {date_col!r} named by the study")
    inf = infections.loc[infections[date_col].notna() & infections["patient_id"].isin(
        rows["patient_id"]), ["patient_id", date_col]]
    day = (pd.to_datetime(inf[date_col]) - pd.to_datetime(inf["patient_id"].map(origin))
           ).dt.days.astype(float)
    inf = pd.DataFrame({"patient_id": inf["patient_id"].to_numpy(), "day": day.to_numpy()})
    m = rows[["patient_id", "index_day", "time"]].reset_index().merge(inf, on="patient_id")
    inside = (m["day"] > m["index_day"]) & (m["day"] <= m["index_day"] + m["time"])
    counts = inside.groupby(m["index"]).sum()
    return counts.reindex(rows.index, fill_value=0).to_numpy(int)


def compare_infections(rows: pd.DataFrame, counts: np.ndarray) -> InfectionResult:
    """Per-arm counts and rates, and the Poisson rate ratio with cluster-robust CI."""
    df = pd.DataFrame({"exposed": rows["exposed"].to_numpy(int), "n": counts,
                       "py": rows["time"].to_numpy(float) / 365.25,
                       "patient_id": rows["patient_id"].to_numpy()})
    table = []
    for arm, code in (("exposed", 1), ("control", 0)):
        sub = df[df["exposed"] == code]
        py = float(sub["py"].sum())
        table.append({"arm": arm, "rows": len(sub), "with_infection": int((sub["n"] > 0).sum()),
                      "pct_with_infection": 100 * float((sub["n"] > 0).mean()) if len(sub)
                      else math.nan,
                      "infections": int(sub["n"].sum()), "patient_years": py,
                      "rate_per_100py": 100 * float(sub["n"].sum()) / py if py else math.nan})
    tab = pd.DataFrame(table).set_index("arm")
    method = ("Poisson regression, offset log(patient-years), cluster-robust variance by "
              "patient; rate ratio exposed / control")
    df = df[df["py"] > 0]
    why = ""
    if tab.loc["exposed", "infections"] == 0 or tab.loc["control", "infections"] == 0:
        why = "no infections in one arm: the rate ratio is not estimable"
    if df["exposed"].nunique() < 2:
        why = "patient-time in only one arm: the rate ratio is not estimable"
    if why:
        return InfectionResult(tab, None, None, None, None, method, why)
    import statsmodels.api as sm

    _, groups = np.unique(df["patient_id"].astype(str), return_inverse=True)
    x = sm.add_constant(df["exposed"].to_numpy(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GLM(df["n"].to_numpy(float), x, family=sm.families.Poisson(),
                     offset=np.log(df["py"].to_numpy(float))).fit(
            cov_type="cluster", cov_kwds={"groups": groups})
    b, se = float(fit.params[1]), float(fit.bse[1])
    return InfectionResult(tab, math.exp(b), math.exp(b - 1.959964 * se),
                           math.exp(b + 1.959964 * se), float(fit.pvalues[1]), method)
