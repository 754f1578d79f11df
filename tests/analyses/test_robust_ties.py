"""The robust SE's Efron score residuals with tied deaths, against a reference by loops.

lifelines' sandwich ignores ties (equal to ours only without them: test_survival.py).
Here the reference is the definition itself: a score residual is the derivative of the
Efron score with respect to the row's case weight (the infinitesimal jackknife, as R's
`coxph(..., cluster=)`: the tied deaths' mean weight multiplies each Efron term), taken
by central differences of a score written as plain loops over strata, death times and
Efron terms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analyses.survival import _efron, _prepare, _score_residuals, cox_fast

# two strata, a patient in both (clusters); tied deaths (two, three), a death tied
# with a censoring, a death at the last time, rows that are never at risk of a death
TIME = np.array([4, 4, 4, 7, 9, 9, 12, 3, 5, 5, 5, 8, 8, 10, 2], float)
EVENT = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0])
X = np.array([1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1], float)
STRATA = np.array([1] * 7 + [2] * 7 + [3])
CLUSTER = np.array(["a", "b", "c", "d", "e", "f", "g", "a", "h", "c", "i", "j", "k", "l", "m"])


def _weighted_score(w: np.ndarray, beta: float) -> float:
    """The Efron score of `beta` with case weights `w`, R's convention, by loops."""
    u = 0.0
    r = np.exp(beta * X)
    for s in np.unique(STRATA):
        rows = np.flatnonzero(s == STRATA)
        for t in np.unique(TIME[rows][EVENT[rows] == 1]):
            risk = [i for i in rows if TIME[i] >= t]
            dead = [i for i in risk if TIME[i] == t and EVENT[i] == 1]
            d = len(dead)
            u += sum(w[i] * X[i] for i in dead)
            s0 = sum(w[i] * r[i] for i in risk)
            s1 = sum(w[i] * r[i] * X[i] for i in risk)
            d0 = sum(w[i] * r[i] for i in dead)
            d1 = sum(w[i] * r[i] * X[i] for i in dead)
            mean_w = sum(w[i] for i in dead) / d
            for k in range(d):
                u -= mean_w * (s1 - k / d * d1) / (s0 - k / d * d0)
    return u


def _reference_residuals(beta: float, h: float = 1e-6) -> np.ndarray:
    out = np.zeros(len(X))
    for i in range(len(X)):
        up, down = np.ones(len(X)), np.ones(len(X))
        up[i] += h
        down[i] -= h
        out[i] = (_weighted_score(up, beta) - _weighted_score(down, beta)) / (2 * h)
    return out


def _prep():  # noqa: ANN202 - the private _Prep
    return _prepare(TIME, EVENT, X, STRATA)


def test_the_data_has_ties_of_two_and_three_deaths() -> None:
    deaths = [(s, t) for s, t, e in zip(STRATA, TIME, EVENT, strict=True) if e]
    counts = sorted({deaths.count(k) for k in deaths})
    assert counts == [1, 2, 3]


@pytest.mark.parametrize("beta", [-0.8, 0.0, 0.6])
def test_score_residuals_are_the_case_weight_derivatives_of_the_efron_score(
        beta: float) -> None:
    ours = _score_residuals(_prep(), beta, len(X))
    np.testing.assert_allclose(ours, _reference_residuals(beta), rtol=0, atol=1e-7)
    # and the unweighted loop score is the Efron score of the fit's engine
    assert _efron(_prep(), beta)[1] == pytest.approx(
        _weighted_score(np.ones(len(X)), beta), abs=1e-12)


def test_robust_se_is_the_clustered_sandwich_of_those_residuals() -> None:
    fit = cox_fast(TIME, EVENT, X, STRATA, CLUSTER, tol=1e-12)
    assert fit.converged and abs(_efron(_prep(), fit.beta)[1]) < 1e-9
    h = 1e-6
    ones = np.ones(len(X))
    info = -(_weighted_score(ones, fit.beta + h) - _weighted_score(ones, fit.beta - h)) / (2 * h)
    resid = _reference_residuals(fit.beta)
    per_cluster = {c: resid[c == CLUSTER].sum() for c in np.unique(CLUSTER)}
    robust = math.sqrt(sum(v * v for v in per_cluster.values())) / info
    assert fit.se_model == pytest.approx(1 / math.sqrt(info), rel=1e-6)
    assert fit.se_robust == pytest.approx(robust, rel=1e-6)
    # clustering matters here: patient "a" and "c" each have a row in both strata
    unclustered = math.sqrt(float(resid @ resid)) / info
    assert abs(unclustered - robust) > 1e-3
