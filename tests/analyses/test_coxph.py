"""`analyses.coxph.fit_counting`: `(entry, stop]` Cox fits (delayed entry, time-varying
covariates, strata, case weights) against a hand-computed partial likelihood and two
other implementations (statsmodels `PHReg`, lifelines `CoxPHFitter`) to 1e-6."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from analyses.coxph import fit_counting


def _hand_case(entry_e2: float) -> tuple[np.ndarray, ...]:
    """E1 (x=1) dies at 1; E2 (x=1) enters at `entry_e2`, censored at 5; U3 (x=0) dies
    at 2; U1, U2 (x=0) censored at 5."""
    entry = np.array([0.0, entry_e2, 0.0, 0.0, 0.0])
    stop = np.array([1.0, 5.0, 2.0, 5.0, 5.0])
    event = np.array([1, 0, 1, 0, 0])
    x = np.array([1.0, 1.0, 0.0, 0.0, 0.0])
    return entry, stop, event, x


def test_delayed_entry_by_hand() -> None:
    """With E2 entering at 1.5: L(r) = r/(r+3) * 1/(r+3), maximised at r = 3, and the
    information 2 * (1/2)(1/2) = 1/2. Counted at risk from 0 (E2 "immortal" over
    (0, 1.5]): L(r) = r/(2r+3) * 1/(r+3), maximised at r^2 = 9/2."""
    fit = fit_counting(*_hand_case(1.5))
    assert fit.converged and fit.n_events == 2
    assert fit.beta[0] == pytest.approx(math.log(3.0), abs=1e-9)
    assert fit.se[0] == pytest.approx(math.sqrt(2.0), abs=1e-9)
    assert fit.loglik == pytest.approx(math.log(3 / 6) + math.log(1 / 6), abs=1e-9)
    naive = fit_counting(*_hand_case(0.0))
    assert naive.beta[0] == pytest.approx(0.5 * math.log(4.5), abs=1e-9)
    # Efron / Breslow baseline hazard with entry: 1/(3+3) at t=1, then 1/(3+3) at t=2
    assert fit.cumhaz(np.zeros(2, np.int64), np.array([1.0, 2.0])) == pytest.approx(
        [1 / 6, 2 / 6], abs=1e-9)


def _random(n: int, seed: int) -> pd.DataFrame:
    """Delayed entry, ties on a coarse time grid, two strata, two covariates."""
    rng = np.random.default_rng(seed)
    entry = np.where(rng.random(n) < 0.4, rng.integers(1, 30, n), 0).astype(float)
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.4).astype(float)
    t = np.ceil(rng.exponential(60 / np.exp(0.5 * x1 - 0.7 * x2))).astype(float)
    c = np.ceil(rng.uniform(20, 120, n))
    stop = entry + np.minimum(t, c)
    return pd.DataFrame({"entry": entry, "stop": stop, "event": (t <= c).astype(int),
                         "x1": x1, "x2": x2, "stratum": rng.integers(0, 2, n),
                         "w": rng.uniform(0.3, 3.0, n)})


@pytest.mark.parametrize("seed", [1, 2])
def test_agrees_with_statsmodels_phreg(seed: int) -> None:
    from statsmodels.duration.hazard_regression import PHReg

    d = _random(300, seed)
    assert (d["stop"].duplicated() & (d["event"] == 1)).any()     # tied event times
    # statsmodels counts a row at risk at its entry time itself (entry <= u), R's
    # Surv(start, stop) and lifelines do not (entry < u, as fit_counting): no event on an
    # entry day here; the R convention with such ties is checked against lifelines below
    d["entry"] = np.where(d["entry"] > 0, d["entry"] + 0.5, 0.0)
    fit = fit_counting(d["entry"].to_numpy(), d["stop"].to_numpy(), d["event"].to_numpy(),
                       d[["x1", "x2"]].to_numpy(), d["stratum"].to_numpy())
    ref = PHReg(d["stop"].to_numpy(), d[["x1", "x2"]].to_numpy(), status=d["event"].to_numpy(),
                entry=d["entry"].to_numpy(), strata=d["stratum"].to_numpy(),
                ties="efron").fit()
    np.testing.assert_allclose(fit.beta, ref.params, atol=1e-6)
    np.testing.assert_allclose(fit.se, ref.bse, atol=1e-6)
    # and ignoring the delayed entry gives another answer
    naive = fit_counting(np.zeros(len(d)), d["stop"].to_numpy(), d["event"].to_numpy(),
                         d[["x1", "x2"]].to_numpy(), d["stratum"].to_numpy())
    assert np.abs(naive.beta - fit.beta).max() > 1e-3


def test_weighted_fit_agrees_with_lifelines() -> None:
    from lifelines import CoxPHFitter

    d = _random(300, 3)
    dead_on = set(d.loc[d["event"] == 1, "stop"])
    assert d["entry"].isin(dead_on).any()          # rows entering on an event day
    fit = fit_counting(d["entry"].to_numpy(), d["stop"].to_numpy(), d["event"].to_numpy(),
                       d[["x1", "x2"]].to_numpy(), d["stratum"].to_numpy(), d["w"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # lifelines suggests robust=True for weights
        ref = CoxPHFitter().fit(d, "stop", "event", entry_col="entry", weights_col="w",
                                strata=["stratum"],
                                fit_options={"precision": 1e-12, "r_precision": 1e-14})
    np.testing.assert_allclose(fit.beta, ref.params_[["x1", "x2"]].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(fit.se, ref.standard_errors_[["x1", "x2"]].to_numpy(),
                               atol=1e-6)
