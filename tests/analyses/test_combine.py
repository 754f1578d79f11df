"""The combination of M re-drawn matchings (`analyses.combine`) on hand-made draws.

The headline's hazard ratio, its CI and the Monte-Carlo SE come from `combine_draws`;
the study tests reach it only through whole runs, so its formulas and its rules for
draws that cannot be estimated are pinned here on numbers worked by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analyses.combine import MAX_NOT_ESTIMABLE, combine_draws, wald


def test_wald_ci_and_p_are_the_normal_ones() -> None:
    (low, high), p = wald(0.5, 0.2)
    z = stats.norm.ppf(0.975)
    assert low == pytest.approx(math.exp(0.5 - z * 0.2), rel=1e-12)
    assert high == pytest.approx(math.exp(0.5 + z * 0.2), rel=1e-12)
    assert p == pytest.approx(2 * stats.norm.sf(2.5), rel=1e-12)  # 0.0124
    (low, high), p = wald(-1.0, 4.0)                               # se > 1 and beta < 0
    assert (low, high) == pytest.approx((math.exp(-1 - z * 4), math.exp(-1 + z * 4)))
    assert p == pytest.approx(2 * stats.norm.sf(0.25), rel=1e-12)


def _ok(m: int) -> list[str]:
    return [""] * m


def test_the_combination_is_the_mean_with_the_multiple_outputation_variance() -> None:
    beta = np.array([0.1, 0.3, 0.2, 0.6])
    se = np.array([0.5, 0.4, 0.45, 0.55])
    se_r = np.array([0.6, 0.5, 0.55, 0.65])
    c = combine_draws(beta, se, se_r, _ok(4))
    b = beta.var(ddof=1)                                            # the draws' spread
    assert (c.n_draws, c.n_estimable, c.message) == (4, 4, "")
    assert c.log_hr == pytest.approx(0.3, rel=1e-12)
    assert c.se == pytest.approx(math.sqrt((se ** 2).mean() - 0.75 * b), rel=1e-12)
    assert c.se_robust == pytest.approx(math.sqrt((se_r ** 2).mean() - 0.75 * b), rel=1e-12)
    assert c.mc_se == pytest.approx(math.sqrt(b / 4), rel=1e-12)
    assert c.draw_sd == pytest.approx(math.sqrt(b), rel=1e-12)
    assert c.within_se == pytest.approx(math.sqrt((se ** 2).mean()), rel=1e-12)


def test_one_draw_has_no_spread() -> None:
    c = combine_draws(np.array([0.4]), np.array([0.3]), np.array([0.35]), _ok(1))
    assert (c.log_hr, c.se, c.se_robust) == pytest.approx((0.4, 0.3, 0.35))
    assert (c.mc_se, c.draw_sd, c.within_se) == pytest.approx((0.0, 0.0, 0.3))


def test_no_draws() -> None:
    c = combine_draws(np.array([]), np.array([]), np.array([]), [])
    assert (c.n_draws, c.n_estimable, c.log_hr, c.se, c.message) == (0, 0, None, None,
                                                                      "no draws")


def test_a_few_failed_draws_are_left_out_and_said() -> None:
    m = 200
    beta = np.linspace(-0.1, 0.1, m)
    se = np.full(m, 0.5)
    beta[7], se[8] = np.nan, np.inf             # not finite: not estimable
    reasons = _ok(m)
    reasons[7] = reasons[8] = "no events among controls"
    # 2 of 200 is exactly the 1 % limit: left out, the rest combined
    assert 2 / m == MAX_NOT_ESTIMABLE
    c = combine_draws(beta, se, se, reasons)
    b = np.delete(beta, [7, 8])
    assert (c.n_draws, c.n_estimable) == (200, 198)
    assert c.log_hr == pytest.approx(b.mean(), abs=1e-15)
    assert c.mc_se == pytest.approx(math.sqrt(b.var(ddof=1) / 198), rel=1e-12)
    assert c.message == ("2 of 200 re-drawn matchings not estimable "
                         "(no events among controls), left out")
    # a third one is above it: not estimable, the commonest reason named
    beta[9] = np.nan
    reasons[9] = "no events"
    c = combine_draws(beta, se, se, reasons)
    assert (c.n_draws, c.n_estimable) == (200, 197)
    assert c.log_hr is None and c.se is None and c.mc_se is None and c.draw_sd is None
    assert c.message == ("no events among controls in 2% of the 200 re-drawn matchings, "
                         "so the combined hazard ratio is not estimable")


def test_a_failed_draw_without_a_reason_did_not_converge() -> None:
    beta = np.array([0.1, np.nan])
    c = combine_draws(beta, np.array([0.2, 0.2]), np.array([0.2, 0.2]), _ok(2))
    assert c.log_hr is None and c.n_estimable == 1
    assert c.message.startswith("the Cox fit did not converge in 50% of the 2 ")
    c = combine_draws(np.array([np.nan, np.nan]), np.array([0.2, 0.2]),
                      np.array([0.2, 0.2]), ["no events", "no events"])
    assert (c.message, c.n_estimable, c.log_hr) == ("no events", 0, None)


def test_draws_spread_beyond_the_model_variance_give_no_ci() -> None:
    beta = np.array([-2.0, 2.0, -2.0, 2.0])
    se = np.full(4, 0.1)
    c = combine_draws(beta, se, se * 2, _ok(4))
    b = beta.var(ddof=1)
    assert (c.n_draws, c.n_estimable) == (4, 4)
    assert c.log_hr == pytest.approx(0.0) and c.se is None and c.se_robust is None
    assert c.mc_se == pytest.approx(math.sqrt(b / 4), rel=1e-12)
    assert c.draw_sd == pytest.approx(math.sqrt(b), rel=1e-12)
    assert c.within_se == pytest.approx(0.1, rel=1e-12)
    assert c.message == "the draws vary more than the model variance allows: no CI"


def test_a_robust_variance_below_the_spread_gives_no_robust_se() -> None:
    beta = np.array([0.0, 0.4])                 # B = 0.08, (1 - 1/2) B = 0.04
    c = combine_draws(beta, np.array([0.3, 0.3]), np.array([0.1, 0.1]), _ok(2))
    assert c.se == pytest.approx(math.sqrt(0.09 - 0.04), rel=1e-12)
    assert c.se_robust is None and c.message == ""


def test_a_variance_of_exactly_zero_gives_no_ci() -> None:
    # B = 0.5, (1 - 1/2) B = 0.25 = the mean model variance 0.5 ** 2: exactly 0 left
    c = combine_draws(np.array([0.0, 1.0]), np.array([0.5, 0.5]), np.array([1.0, 1.0]),
                      _ok(2))
    assert c.se is None and c.message.startswith("the draws vary more")
    # the same for the robust variance alone
    c = combine_draws(np.array([0.0, 1.0]), np.array([1.0, 1.0]), np.array([0.5, 0.5]),
                      _ok(2))
    assert c.se == pytest.approx(math.sqrt(0.75), rel=1e-12) and c.se_robust is None


def test_a_reason_per_draw_is_required() -> None:
    with pytest.raises(ValueError):
        combine_draws(np.array([0.1, np.nan]), np.array([0.2, 0.2]), np.array([0.2, 0.2]),
                      ["", "", ""])
