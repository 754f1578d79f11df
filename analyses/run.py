"""One entry point: `run_study(spec, frames, excluded, seed) -> StudyResult`.

Pure: tidy frames in, a frozen result out; the registry side writes `<study>.json`
(`StudyResult.to_json`), `<study>-matched.csv` (`StudyResult.matched`) and the report.

Analyses, in `<study>.json` order: the main one (records without blocking flags, the
study's exact matching, stratified Cox), one per subgroup (rows of the main matched
data whose columns equal the filter), then two sensitivity analyses resting on other
data: all records including flagged ones (matched again with the same seed), and
controls censored on the day they start the exposure themselves. Beside them: KM
curves per analysis, Table 1, infections, and the spread of the HR over re-drawn
matchings (`seed_repeats` seeds), because which controls the draw picks moves the HR
at this cohort size.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from analyses.balance import BalanceTable, balance_table
from analyses.cohort import Cohort, build_cohort, get_frame
from analyses.errors import StudyDataError
from analyses.infections import InfectionResult, compare_infections, count_infections
from analyses.matching import MatchPlan, MatchResult, match, plan_matching
from analyses.study import StudySpec
from analyses.survival import CoxResult, KMResult, cox, kaplan_meier

__all__ = ["Analysis", "SeedSpread", "StudyResult", "censor_at_crossover", "run_study"]

#: Why the primary CI uses the variance it does (benchmarks/RESULTS.md, "analyses").
VARIANCE_RATIONALE = {
    "model": ("Primary CI: model-based (inverse information). On the synthetic generator, "
              "in study-size cohorts (234 patients, ~27 sets of 1 exposed + 2 controls) it "
              "covered the true HR in 97 % of 300 replicates against 90 % for the clustered "
              "robust CI, and 94 % against 89 % with 116 sets: in strata this small the "
              "sandwich is biased downwards (benchmarks/RESULTS.md). The robust CI is shown "
              "beside it."),
    "robust": ("Primary CI: clustered (robust, by patient) variance, chosen by the study file "
               "because controls are reused across sets; in study-size simulations it "
               "under-covered (90 %), so read it beside the model-based CI."),
}
CROSSOVER_BASIS = "controls censored on the day they start the exposure themselves"
ALL_RECORDS_BASIS = "all records, including those with blocking flags"


@dataclass(frozen=True)
class Analysis:
    """One Cox analysis with its KM curves; `filter` None means other data (`basis`)."""

    name: str
    filter: dict[str, Any] | None
    basis: str
    cox: CoxResult
    km: KMResult

    def summary(self) -> pd.DataFrame:
        """The Cox row with the analysis's filter / basis."""
        out = self.cox.summary()
        out["filter"] = pd.Series([self.filter], dtype=object)
        out["basis"] = self.basis
        return out

    def to_json(self) -> dict[str, Any]:
        """The analysis as in `<study>.json`."""
        c = self.cox
        out: dict[str, Any] = {
            "name": self.name, "filter": self.filter, "n_sets": c.n_sets,
            "n_exposed": c.n_exposed, "n_controls": c.n_controls, "events": c.events,
            "hr": c.hr, "ci_low": c.ci_low, "ci_high": c.ci_high, "p": c.p}
        if self.filter is None:
            out["basis"] = self.basis
        return out


@dataclass(frozen=True)
class SeedSpread:
    """HR over `n` re-drawn matchings (seeds seed+1 ... seed+n), beside the main HR."""

    n: int
    hrs: tuple[float, ...]
    median: float
    low: float              # 2.5th percentile
    high: float             # 97.5th percentile
    sd_log_hr: float
    se_model_main: float    # the main analysis's model-based SE of log HR
    not_estimable: int

    def summary(self) -> str:
        """One sentence for a PI."""
        return (f"Over {self.n} re-drawn matchings the HR ranged {self.low:.2f}-{self.high:.2f} "
                f"(2.5th-97.5th percentile, median {self.median:.2f}); the SD of log HR due "
                f"to the draw is {self.sd_log_hr:.2f}, "
                f"{self.sd_log_hr / self.se_model_main:.0%} of the model's own SE.")


@dataclass(frozen=True)
class StudyResult:
    """Everything a run gives; frames are read-only by convention.

    `analyses`: main, subgroups, sensitivity (see module docstring).
    `matched`: `<study>-matched.csv` rows (set_id, record_id, site, exposed, index_day,
    time, event, then the matching and subgroup columns).
    `match`: the full matching (with patient_id, crossover_day, every variable).
    `flow`: patient counts registry -> eligible -> exposed -> matched.
    """

    study: str
    seed: int
    analyses: tuple[Analysis, ...]
    matched: pd.DataFrame
    match: MatchResult
    balance: BalanceTable
    infections: InfectionResult | None
    seed_spread: SeedSpread | None
    flow: dict[str, int]
    notes: tuple[str, ...] = field(default=())

    @property
    def main(self) -> Analysis:
        """The main analysis."""
        return self.analyses[0]

    def to_json(self, snapshot: str | int | None = None,
                run_id: str | int | None = None) -> dict[str, Any]:
        """`<study>.json` as specified in DESIGN.md."""
        return {"study": self.study, "snapshot": snapshot, "run_id": run_id,
                "analyses": [a.to_json() for a in self.analyses]}

    def summary(self) -> pd.DataFrame:
        """One row per analysis: counts, HR, CIs (primary, model, robust), p, message."""
        rows = []
        for a in self.analyses:
            c = a.cox
            rows.append({"analysis": a.name, "basis": a.basis, "n_sets": c.n_sets,
                         "n_exposed": c.n_exposed, "n_controls": c.n_controls,
                         "events": c.events, "hr": c.hr, "ci_low": c.ci_low,
                         "ci_high": c.ci_high, "p": c.p, "model_ci": c.model_ci,
                         "robust_ci": c.robust_ci, "message": c.message})
        return pd.DataFrame(rows)


def censor_at_crossover(rows: pd.DataFrame) -> pd.DataFrame:
    """Censor each control on the day it starts the exposure (if within its follow-up)."""
    out = rows.copy()
    cross = (out["exposed"] == 0) & out["crossover_day"].notna() & (
        out["crossover_day"] < out["time"])
    out.loc[cross, "time"] = out.loc[cross, "crossover_day"]
    out.loc[cross, "event"] = 0
    return out


def _subset(rows: pd.DataFrame, flt: dict[str, Any]) -> pd.DataFrame:
    keep = np.ones(len(rows), bool)
    for col, val in flt.items():
        keep &= (rows[col] == val).fillna(False).to_numpy(bool)
    return rows[keep]


def run_study(spec: StudySpec, frames: Any, excluded: Collection[str] = frozenset(),
              seed: int = 0, seed_repeats: int | None = None,
              engine: Literal["lifelines", "fast"] = "lifelines") -> StudyResult:
    """Run the whole study on tidy `frames` (mapping or object with the frame attributes).

    `excluded`: patient_ids with flags of the study's `exclude_severities` (the registry
    side computes them); the main analysis leaves them out, a sensitivity analysis
    keeps them. `seed_repeats` overrides the study's (0 = skip the seed spread).
    Raises `StudyDataError` when the data cannot give a main analysis at all.
    """
    cohort = build_cohort(spec, frames, excluded)
    if cohort.flow["exposed"] == 0:
        labels = " + ".join("/".join(g) for g in spec.exposure.groups)
        raise StudyDataError(
            f"study {spec.name!r}: no exposed patient ({labels} taken at once) among "
            f"{cohort.flow['eligible']} eligible patients; nothing to match — check the "
            f"treatments frame and the study's exposure labels")
    plan = plan_matching(cohort, spec)      # seed-independent: reused by the seed spread
    m = match(cohort, spec, seed, plan)
    rows = m.rows
    analyses = [_analysis(spec, "main", {}, "records without blocking flags", rows, engine)]
    for sg in spec.subgroups:
        analyses.append(_analysis(spec, sg.name, sg.filter, "", _subset(rows, sg.filter),
                                  engine))
    if cohort.flow["excluded_flags"] == 0:
        # nothing was excluded: the same cohort and seed give the same matching and fits
        analyses.append(Analysis("all records", None, ALL_RECORDS_BASIS,
                                 replace(analyses[0].cox, name="all records"),
                                 replace(analyses[0].km, name="all records")))
    else:
        everyone = build_cohort(spec, frames, frozenset())
        m_all = match(everyone, spec, seed)
        analyses.append(_analysis(spec, "all records", None, ALL_RECORDS_BASIS, m_all.rows,
                                  engine))
    analyses.append(_analysis(spec, "censor at crossover", None, CROSSOVER_BASIS,
                              censor_at_crossover(rows), engine))

    n_rep = spec.seed_repeats if seed_repeats is None else seed_repeats
    spread = _seed_spread(cohort, spec, seed, n_rep, analyses[0].cox,
                          plan) if n_rep else None
    infections = None
    if spec.infections is not None:
        inf_frame = get_frame(frames, spec.infections.frame, spec.infections.event)
        if spec.infections.severities:
            sev = spec.infections.severity_column
            if sev not in inf_frame.columns:
                raise StudyDataError(f"infections frame lacks column {sev!r} named by the "
                                     f"study's [infections] severity_column")
            inf_frame = inf_frame[inf_frame[sev].isin(spec.infections.severities)]
        counts = count_infections(rows, inf_frame, spec.infections.date,
                                  cohort.table["origin"])
        infections = compare_infections(rows, counts)
    flow = {**cohort.flow, "exposed_after_end": m.exposed_after_end, "sets": m.n_sets,
            "sets_short": m.n_short, "sets_without_control": m.n_without_control,
            "control_rows": int((rows["exposed"] == 0).sum()),
            "distinct_controls": int(rows.loc[rows["exposed"] == 0, "patient_id"].nunique()),
            "controls_later_exposed": int(rows["crossover_day"].notna().sum())}
    return StudyResult(
        study=spec.name, seed=seed, analyses=tuple(analyses), matched=_csv_rows(rows, spec),
        match=m, balance=balance_table(rows, spec.balance), infections=infections,
        seed_spread=spread, flow=flow, notes=_notes(spec, cohort, m, analyses, spread))


def _analysis(spec: StudySpec, name: str, flt: dict[str, Any] | None, basis: str,
              rows: pd.DataFrame, engine: Literal["lifelines", "fast"]) -> Analysis:
    return Analysis(name, flt, basis, cox(rows, name, spec.variance, engine),
                    kaplan_meier(rows, name, spec.km_times))


def _csv_rows(rows: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    extra = list(dict.fromkeys([*spec.matching_exact,
                                *(c for sg in spec.subgroups for c in sg.filter)]))
    out = rows[["set_id", "record_id", "site", "exposed", "index_day", "time", "event",
                *extra]].copy()
    return out.astype({"set_id": int, "exposed": int, "index_day": int, "time": int,
                       "event": int})


def _seed_spread(cohort: Cohort, spec: StudySpec, seed: int, n: int,
                 main: CoxResult, plan: MatchPlan) -> SeedSpread | None:
    if main.se_model is None:
        return None
    hrs, bad = [], 0
    for s in range(seed + 1, seed + 1 + n):
        c = cox(match(cohort, spec, s, plan, variables=False).rows, "seed", spec.variance,
                "fast")
        if c.hr is None:
            bad += 1
        else:
            hrs.append(c.hr)
    if not hrs:
        return None
    logs = np.log(hrs)
    return SeedSpread(n, tuple(hrs), float(np.median(hrs)),
                      float(np.percentile(hrs, 2.5)), float(np.percentile(hrs, 97.5)),
                      float(np.std(logs, ddof=1)) if len(hrs) > 1 else 0.0,
                      main.se_model, bad)


def _notes(spec: StudySpec, cohort: Cohort, m: MatchResult, analyses: list[Analysis],
           spread: SeedSpread | None) -> tuple[str, ...]:
    notes = list(cohort.notes)
    notes.append(m.summary() + ".")
    if m.n_short:
        notes.append(f"{m.n_short} exposed patient(s) found fewer than {spec.ratio} eligible "
                     f"controls; their sets are kept ({m.n_without_control} with no control "
                     f"at all, which add nothing to the conditional Cox model).")
    if m.exposed_after_end:
        notes.append(f"{m.exposed_after_end} exposed patient(s) started the exposure on or "
                     f"after their last day of follow-up and were left out.")
    notes.append(VARIANCE_RATIONALE[spec.variance])
    notes.extend(f"{a.name}: {a.cox.message}" for a in analyses if a.cox.message)
    if spread is not None:
        notes.append(spread.summary())
    if not math.isfinite(float(m.rows["time"].sum())):
        notes.append("some follow-up times are not finite; check the outcome dates")
    return tuple(notes)
