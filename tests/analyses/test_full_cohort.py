"""The full-cohort time-varying Cox model: its counting-process rows by hand, and its
fit against lifelines on those rows.

The hand case (days from diagnosis; the study matches on RP-ILD and "in an ICU by the
day"): E1 starts JAK-CNI on day 10, is admitted to an ICU on day 50 and dies on day
100; C1 is never exposed, admitted on day 60, dies on day 120; C2 is never exposed and
censored on day 400; P4 is never exposed, admitted on day 20, dies on day 80. Exposed
and unexposed time alike move to the ICU stratum on the day after an admission, so
E1's exposed time is two rows: (10, 50] outside the ICU stratum and (50, 100] inside
it, with C1's (60, 120] and P4's (20, 80]. (Freezing E1's stratum at its index day
compared it, after its admission, with patients not admitted: +0.08 log HR in
benchmarks/analyses_fullcohort_sim.py.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from analyses.cohort import build_cohort
from analyses.matching import plan_matching
from analyses.perprotocol import full_cohort
from tests.analyses.synth import P, frames, jak_cni, simulate


def _rows(ps: list[P]):  # type: ignore[no-untyped-def]
    spec = jak_cni()
    cohort = build_cohort(spec, frames(ps))
    plan = plan_matching(cohort, spec)
    tv = full_cohort(cohort, spec, plan)
    assert tv.data is not None
    d = tv.data.copy()
    d["patient"] = [plan.pids[i] for i in d["row"]]
    return tv, d.sort_values(["patient", "entry"]).reset_index(drop=True)


def test_exposed_time_moves_to_the_icu_stratum_on_admission() -> None:
    tv, d = _rows([P(1, end=100, event=True, jak=(10, None), cni=(10, None), icu=[(50, None)]),
                   P(2, end=120, event=True, icu=[(60, 70)]),
                   P(3, end=400), P(4, end=80, event=True, icu=[(20, None)])])
    got = [(p, e, s, x, ev) for p, e, s, x, ev in
           d[["patient", "entry", "stop", "exposed", "event"]].itertuples(index=False)]
    assert got == [("paris:1", 0, 10, 0, 0), ("paris:1", 10, 50, 1, 0),
                   ("paris:1", 50, 100, 1, 1),
                   ("paris:2", 0, 60, 0, 0), ("paris:2", 60, 120, 0, 1),
                   ("paris:3", 0, 400, 0, 0),
                   ("paris:4", 0, 20, 0, 0), ("paris:4", 20, 80, 0, 1)]
    stratum = d["stratum"].to_list()
    no_icu, icu = stratum[0], stratum[2]
    assert no_icu != icu
    assert stratum == [no_icu, no_icu, icu, no_icu, icu, no_icu, no_icu, icu]
    assert (tv.n_patients, tv.n_exposed, tv.events, tv.events_exposed) == (4, 1, 3, 1)
    # ICU stratum: day 80 {E1, C1, P4} P4 dies; day 100 {E1, C1} E1 dies; day 120 {C1}:
    # L(r) = 1/(r + 2) * r/(r + 1), maximised where r^2 = 2
    assert tv.beta == pytest.approx(np.log(np.sqrt(2.0)), abs=1e-6)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_fit_agrees_with_lifelines_on_its_rows(seed: int) -> None:
    from lifelines import CoxPHFitter

    tv, d = _rows(simulate(150, seed, 0.6))
    assert tv.beta is not None and tv.se is not None
    assert d["stratum"].nunique() >= 3          # RP-ILD x ICU, exposed time split too
    assert (d.groupby("row")["exposed"].sum() >= 2).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxPHFitter().fit(d[["entry", "stop", "event", "exposed", "stratum"]],
                                "stop", "event", entry_col="entry", strata=["stratum"],
                                fit_options={"precision": 1e-12, "r_precision": 1e-14})
    assert tv.beta == pytest.approx(float(ref.params_["exposed"]), abs=1e-6)
    assert tv.se == pytest.approx(float(ref.standard_errors_["exposed"]), abs=1e-6)
    assert np.isfinite(tv.beta)
