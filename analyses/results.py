"""What a study run gives: estimates, analyses, and `<study>.json` (schema in docs/).

An `Estimate` is one hazard ratio however it was reached: combined over M re-drawn
matchings (`method = "combined"`), from one draw (`"one draw"`, the paper's design), or
from the whole cohort (`"cohort"`). Every estimate carries both CIs (model-based and
robust), says which is primary, and when it cannot be estimated says why
(`not_estimable`), in the JSON as in the report. The per-protocol row also carries a
bootstrap SE (`analyses.ppboot`); when it has one, that CI is its primary one
(`variance = "bootstrap"`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from analyses.combine import Combined, wald
from analyses.survival import CoxResult

__all__ = ["SCHEMA", "Analysis", "Counts", "Estimate", "StudyResult"]

#: `<study>.json` schema id (docs/study-json.schema.json); bump on any change of shape.
SCHEMA = "registry-study/3"


@dataclass(frozen=True)
class Estimate:
    """A hazard ratio with both CIs; None fields and `not_estimable` when it cannot be."""

    method: Literal["combined", "one draw", "cohort"]
    variance: str                       # which CI is primary: model, robust or bootstrap
    log_hr: float | None
    se: float | None                    # model-based SE of log HR
    se_robust: float | None
    n_draws: int = 1
    mc_se: float | None = None          # Monte-Carlo SE of log HR (other master seed)
    draw_sd: float | None = None        # SD of log HR over the draws
    not_estimable: str = ""
    note: str = ""
    se_bootstrap: float | None = None   # patient-level bootstrap SE (per protocol)
    n_bootstrap: int = 0                # its replicates (0: no bootstrap)

    @property
    def hr(self) -> float | None:
        return None if self.log_hr is None else math.exp(self.log_hr)

    def _se(self, which: str | None) -> float | None:
        w = which or self.variance
        return {"model": self.se, "robust": self.se_robust,
                "bootstrap": self.se_bootstrap}[w]

    def ci(self, which: str | None = None) -> tuple[float, float] | None:
        se = self._se(which)
        if self.log_hr is None or se is None or not math.isfinite(se):
            return None
        return wald(self.log_hr, se)[0]

    def p(self, which: str | None = None) -> float | None:
        se = self._se(which)
        if self.log_hr is None or se is None or not math.isfinite(se) or se <= 0:
            return None
        return wald(self.log_hr, se)[1]

    @classmethod
    def from_combined(cls, c: Combined, variance: str) -> Estimate:
        return cls("combined", variance, c.log_hr, c.se, c.se_robust, c.n_draws, c.mc_se,
                   c.draw_sd,
                   "" if c.log_hr is not None else c.message,
                   c.message if c.log_hr is not None else "")

    @classmethod
    def from_cox(cls, c: CoxResult) -> Estimate:
        return cls("one draw", c.variance, None if c.hr is None else math.log(c.hr),
                   c.se_model, c.se_robust, not_estimable=c.message if c.hr is None else "")

    def to_json(self) -> dict[str, Any]:
        ci, mci, rci = self.ci(), self.ci("model"), self.ci("robust")
        return {
            "hr": self.hr, "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None,
            "p": self.p(), "variance": self.variance, "method": self.method,
            "log_hr": self.log_hr, "se": self.se, "se_robust": self.se_robust,
            "model_ci": list(mci) if mci else None, "model_p": self.p("model"),
            "robust_ci": list(rci) if rci else None, "robust_p": self.p("robust"),
            "n_draws": self.n_draws, "mc_se": self.mc_se, "draw_sd": self.draw_sd,
            "not_estimable": self.not_estimable or None, "note": self.note or None,
            **self._bootstrap_json(),
        }

    def _bootstrap_json(self) -> dict[str, Any]:
        if not self.n_bootstrap:
            return {}
        bci = self.ci("bootstrap")
        return {"se_bootstrap": self.se_bootstrap, "bootstrap_ci": list(bci) if bci else None,
                "bootstrap_p": self.p("bootstrap"), "n_bootstrap": self.n_bootstrap}


@dataclass(frozen=True)
class Counts:
    """Sets, patients and events behind an estimate (means over draws where they vary)."""

    n_sets: int
    n_exposed: int
    n_controls: float
    distinct_controls: float
    events: float
    events_exposed: float
    events_controls: float

    def to_json(self) -> dict[str, Any]:
        def num(x: float) -> float | int:
            return int(x) if float(x).is_integer() else round(float(x), 2)

        return {"n_sets": self.n_sets, "n_exposed": self.n_exposed,
                "n_controls": num(self.n_controls),
                "distinct_controls": num(self.distinct_controls), "events": num(self.events),
                "events_exposed": num(self.events_exposed),
                "events_controls": num(self.events_controls)}


@dataclass(frozen=True)
class Analysis:
    """One row of the results: what it estimates, on which data, and the estimate.

    `kind`: "headline" (analyses[0]), "subgroup" (rows of the headline's draws whose
    columns equal `filter`) or "sensitivity" (`filter` None, other data or another
    estimand: `basis` says which).
    """

    name: str
    kind: Literal["headline", "subgroup", "sensitivity"]
    filter: dict[str, Any] | None
    basis: str
    estimand: str
    estimate: Estimate
    counts: Counts

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "filter": self.filter,
                               "basis": self.basis, "estimand": self.estimand}
        out.update(self.counts.to_json())
        out.update(self.estimate.to_json())
        return out


def _num(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return None if not math.isfinite(x) else x


@dataclass(frozen=True)
class StudyResult:
    """Everything a run gives; frames are read-only by convention.

    `analyses`: headline, subgroups, sensitivity (see `analyses.run`). `matched`: the
    `<study>-matched.csv` rows of the paper's design draw (sets with a control); `match`
    the whole draw; `design_rows` its analysed rows (with patient_id, crossover_day and
    every variable). `km`: Kaplan-Meier of the design draw; `km_draws`: combined over
    the headline's draws (None without draws). `flow`: patient counts.
    """

    study: str
    seed: int
    analyses: tuple[Analysis, ...]
    matched: pd.DataFrame
    match: Any
    design_rows: pd.DataFrame
    balance: Any
    infections: Any
    infection_detail: Any
    km: Any
    km_draws: Any
    km_times: tuple[int, ...]
    draws: Any
    interaction: Any
    clean_vs_all: dict[str, Any] | None
    per_protocol: Any
    ph: Any
    flow: dict[str, int]
    words: dict[str, str]
    horizon: int
    ratio: int
    notes: tuple[str, ...] = field(default=())
    ph_draws: Any = None     # the PH test of the headline, combined over its draws

    @property
    def main(self) -> Analysis:
        """The headline analysis (analyses[0])."""
        return self.analyses[0]

    def analysis(self, name: str) -> Analysis:
        """The analysis called `name`."""
        return next(a for a in self.analyses if a.name == name)

    def summary(self) -> pd.DataFrame:
        """One row per analysis: counts, HR, CIs, p, method, why not estimable."""
        return pd.DataFrame([{"analysis": a.name, "kind": a.kind, "basis": a.basis,
                              **a.to_json()} for a in self.analyses]).drop(
            columns=["name", "filter"])

    def km_at(self) -> list[dict[str, Any]]:
        """KM estimates with 95 % CIs per arm at the study's days (headline's draws if
        any, else the design draw)."""
        out = []
        for i, arm in enumerate(("exposed", "control")):
            rows = []
            for t in self.km_times:
                if self.km_draws is not None:
                    k = self.km_draws
                    d = min(int(t), len(k.days) - 1)
                    rows.append({"day": int(t), "survival": _num(k.survival[i, d]),
                                 "ci_low": _num(k.ci_low[i, d]), "ci_high": _num(k.ci_high[i, d]),
                                 "at_risk": _num(round(float(k.at_risk[i, d]), 1))})
                else:
                    st = self.km.steps[self.km.steps["arm"] == arm]
                    st = st[st["time"] <= t]
                    last = st.iloc[-1] if len(st) else None
                    rows.append({"day": int(t),
                                 "survival": _num(last["survival"]) if last is not None else 1.0,
                                 "ci_low": _num(last["ci_low"]) if last is not None else None,
                                 "ci_high": _num(last["ci_high"]) if last is not None else None,
                                 "at_risk": int(self.km.at_risk.loc[
                                     (self.km.at_risk["arm"] == arm)
                                     & (self.km.at_risk["time"] == t), "n"].sum())})
            out.append({"arm": arm, "times": rows})
        return out

    def to_json(self, snapshot: str | int | None = None,
                run_id: str | int | None = None) -> dict[str, Any]:
        """`<study>.json`: every number the study report shows (docs/study-json.schema.json)."""
        d = self.draws
        spread = None
        if d is not None:
            b = d.headline.fit.beta
            b = b[np.isfinite(b)]
            if len(b):
                spread = {"n_draws": int(d.n_draws), "hr_median": float(np.exp(np.median(b))),
                          "hr_low": float(np.exp(np.percentile(b, 2.5))),
                          "hr_high": float(np.exp(np.percentile(b, 97.5))),
                          "sd_log_hr": float(b.std(ddof=1)) if len(b) > 1 else 0.0}
        inf = None
        if self.infections is not None:
            t = self.infections.table
            det = self.infection_detail
            inf = {"method_constant_rate": self.infections.method,
                   "rate_ratio": _num(self.infections.rate_ratio),
                   "ci_low": _num(self.infections.ci_low),
                   "ci_high": _num(self.infections.ci_high), "p": _num(self.infections.p),
                   "message": self.infections.message or None,
                   "arms": [{"arm": arm, "rows": int(t.loc[arm, "rows"]),
                             "infections": int(t.loc[arm, "infections"]),
                             "patient_years": _num(t.loc[arm, "patient_years"]),
                             "rate_per_100py": _num(t.loc[arm, "rate_per_100py"]),
                             "patients": int(det.patients.loc[arm, "patients"]),
                             "patients_with_infection": int(
                                 det.patients.loc[arm, "with_infection"]),
                             "pct_patients_with_infection": _num(
                                 det.patients.loc[arm, "pct_with_infection"]),
                             "pp_patients_with_infection": int(
                                 det.pp_patients.loc[arm, "with_infection"])}
                            for arm in ("exposed", "control")],
                   "time_varying": {"method": det.method, "rate_ratio": _num(det.rate_ratio),
                                    "ci_low": _num(det.ci_low), "ci_high": _num(det.ci_high),
                                    "p": _num(det.p),
                                    "band_rates_per_100py": [_num(r) for r in det.band_rates],
                                    "per_protocol_rate_ratio": _num(det.pp_rate_ratio),
                                    "per_protocol_ci_low": _num(det.pp_ci_low),
                                    "per_protocol_ci_high": _num(det.pp_ci_high),
                                    "message": det.message or None}}
        pp = self.per_protocol
        return {
            "schema": SCHEMA, "study": self.study, "snapshot": snapshot, "run_id": run_id,
            "seed": self.seed, "n_draws": int(d.n_draws) if d is not None else 0,
            "design": "risk-set-matched cohort", "ratio": self.ratio,
            "horizon_days": self.horizon,
            "analyses": [a.to_json() for a in self.analyses],
            "interaction": self.interaction or [],
            "clean_vs_all": self.clean_vs_all,
            "per_protocol_weights": None if pp is None else {
                "mean": pp.weight_mean, "max": pp.weight_max,
                "start_model": dict(zip(pp.start_names, pp.start_log_hr, strict=True)),
                "message": pp.message or None},
            "flow": {k: int(v) for k, v in self.flow.items()},
            "km": self.km_at(),
            "table1": [{k: _num(v) if not isinstance(v, str) else v for k, v in r.items()}
                       for r in self.balance.table.to_dict("records")],
            "infections": inf,
            "ph_test": {"statistic": _num(self.ph.statistic), "p": _num(self.ph.p),
                        "transform": self.ph.transform, "message": self.ph.message or None,
                        "analysis": "paper's design",
                        "times": [float(t) for t in self.ph.times],
                        "scaled_residuals": [round(float(r), 6) for r in self.ph.scaled],
                        "headline": None if self.ph_draws is None else {
                            "statistic": _num(self.ph_draws.statistic),
                            "p": _num(self.ph_draws.p), "n_draws": self.ph_draws.n_draws,
                            "message": self.ph_draws.message or None}},
            "seed_spread": spread,
            "notes": list(self.notes),
        }
