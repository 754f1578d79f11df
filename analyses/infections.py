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


#: Bands of days since the index day for the time-varying rate model.
BANDS = (0, 30, 90, 180, 365)


@dataclass(frozen=True)
class InfectionDetail:
    """Infections by distinct patient and a rate model whose rate varies over time.

    `patients`: per arm, distinct patients and those with >= 1 infection in follow-up
    (a control matched twice counts once; a patient who is a control and later exposed
    counts in each arm). `per_protocol`: the same per-arm table and model with each
    control's follow-up cut on the day it starts the exposure (infections after that
    are the exposure's, not the control's); the main ("as matched") counts keep them
    with the control, as the headline's estimand does. `rate_ratio` etc.: Poisson
    model with a rate per band of days since the index day (`BANDS`) and one rate ratio
    for the exposure, cluster-robust by patient.
    """

    patients: pd.DataFrame
    rate_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    band_rates: tuple[float, ...]
    pp_patients: pd.DataFrame
    pp_rate_ratio: float | None
    pp_ci_low: float | None
    pp_ci_high: float | None
    method: str
    message: str = ""


def _days_of(rows: pd.DataFrame, infections: pd.DataFrame, date_col: str,
             origin: pd.Series) -> pd.DataFrame:
    inf = infections.loc[infections[date_col].notna() & infections["patient_id"].isin(
        rows["patient_id"]), ["patient_id", date_col]]
    day = (pd.to_datetime(inf[date_col]) - pd.to_datetime(inf["patient_id"].map(origin))
           ).dt.days.astype(float)
    return pd.DataFrame({"patient_id": inf["patient_id"].to_numpy(), "day": day.to_numpy()})


def _bands(rows: pd.DataFrame, inf: pd.DataFrame) -> pd.DataFrame:
    """One record per (row, band): exposed, patient, person-years, infections in it."""
    m = rows[["patient_id", "index_day", "time"]].reset_index().merge(inf, on="patient_id")
    rel = m["day"] - m["index_day"]
    inside = (rel > 0) & (rel <= m["time"])
    out = []
    for b, (lo, hi) in enumerate(zip(BANDS[:-1], BANDS[1:], strict=True)):
        years = (np.clip(rows["time"].to_numpy(float), lo, hi) - lo) / 365.25
        hit = inside & (rel > lo) & (rel <= hi)
        n = hit.groupby(m["index"]).sum().reindex(rows.index, fill_value=0).to_numpy(float)
        out.append(pd.DataFrame({"band": b, "exposed": rows["exposed"].to_numpy(int),
                                 "patient_id": rows["patient_id"].to_numpy(), "py": years,
                                 "n": n}))
    return pd.concat(out, ignore_index=True)


def _per_patient(rows: pd.DataFrame, counts: np.ndarray) -> pd.DataFrame:
    d = pd.DataFrame({"arm": np.where(rows["exposed"].to_numpy(int) == 1, "exposed",
                                      "control"),
                      "patient_id": rows["patient_id"].to_numpy(), "n": counts})
    per = d.groupby(["arm", "patient_id"])["n"].sum().reset_index()
    tab = per.groupby("arm").agg(patients=("patient_id", "size"),
                                 with_infection=("n", lambda s: int((s > 0).sum())))
    tab = tab.reindex(["exposed", "control"]).fillna(0).astype(int)
    tab["pct_with_infection"] = np.where(tab["patients"] > 0,
                                         100 * tab["with_infection"] / tab["patients"].clip(
                                             lower=1), np.nan)
    return tab


def _rate_model(bands: pd.DataFrame) -> tuple[float | None, float | None, float | None,
                                               float | None, tuple[float, ...], str]:
    b = bands[bands["py"] > 0]
    if b.empty or b["exposed"].nunique() < 2:
        return None, None, None, None, (), "patient-time in only one arm"
    by_arm = b.groupby("exposed")["n"].sum()
    if by_arm.get(0, 0) == 0 or by_arm.get(1, 0) == 0:
        return None, None, None, None, (), "no infections in one arm"
    import statsmodels.api as sm

    used = sorted(b["band"].unique())
    x = np.column_stack([(b["band"] == k).to_numpy(float) for k in used]
                        + [b["exposed"].to_numpy(float)])
    _, groups = np.unique(b["patient_id"].astype(str), return_inverse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GLM(b["n"].to_numpy(float), x, family=sm.families.Poisson(),
                     offset=np.log(b["py"].to_numpy(float))).fit(
            cov_type="cluster", cov_kwds={"groups": groups})
    beta, se = float(fit.params[-1]), float(fit.bse[-1])
    if not np.isfinite(se) or abs(beta) > 15:
        return None, None, None, None, (), "the rate model did not converge"
    rates = tuple(100 * math.exp(float(v)) for v in fit.params[:-1])
    return (math.exp(beta), math.exp(beta - 1.959964 * se), math.exp(beta + 1.959964 * se),
            float(fit.pvalues[-1]), rates, "")


def infection_detail(rows: pd.DataFrame, infections: pd.DataFrame, date_col: str,
                     origin: pd.Series) -> InfectionDetail:
    """Per-patient counts, as matched and per protocol, and the time-varying rate model."""
    inf = _days_of(rows, infections, date_col, origin)
    counts = count_infections(rows, infections, date_col, origin)
    rr, lo, hi, p, rates, why = _rate_model(_bands(rows, inf))
    cut = rows.copy()
    cross = (cut["exposed"] == 0) & cut["crossover_day"].notna() & (
        cut["crossover_day"] < cut["time"])
    cut.loc[cross, "time"] = cut.loc[cross, "crossover_day"]
    pp_counts = count_infections(cut, infections, date_col, origin)
    prr, plo, phi, _, _, pwhy = _rate_model(_bands(cut, inf))
    method = ("Poisson regression with a rate per band of days since the index day "
              f"({', '.join(f'{a}-{b}' for a, b in zip(BANDS[:-1], BANDS[1:], strict=True))})"
              " and one rate ratio exposed / control, offset log(patient-years), "
              "cluster-robust variance by patient")
    msg = "; ".join(m for m in (why and f"as matched: {why}",
                                pwhy and f"per protocol: {pwhy}") if m)
    return InfectionDetail(_per_patient(rows, counts), rr, lo, hi, p, rates,
                           _per_patient(cut, pp_counts), prr, plo, phi, method, msg)
