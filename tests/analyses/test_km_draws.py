"""Kaplan-Meier combined over re-drawn matchings (`analyses.headline.km_over_draws`):
the mean survival over draws with the mean of the draws' Greenwood variances (not the
multiple-outputation subtraction, docs/design.md), checked per arm against statsmodels'
`SurvfuncRight` (Greenwood SE) run on each draw's rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analyses.cohort import build_cohort
from analyses.headline import Draws, km_over_draws
from analyses.matching import plan_matching
from tests.analyses.synth import frames, jak_cni, simulate


def test_combined_km_is_the_mean_with_one_draws_greenwood_variance() -> None:
    from statsmodels.duration.survfunc import SurvfuncRight

    spec = jak_cni()
    cohort = build_cohort(spec, frames(simulate(300, 4, 1.0)))
    plan = plan_matching(cohort, spec)
    stack = Draws.make(plan, spec, seed=3, min_draws=6, max_draws=6, mc_se=1e-9).stack
    km = km_over_draws(stack, spec.horizon_days)
    day = 90
    for arm, exposed in ((0, 1), (1, 0)):
        surv, var = [], []
        for d in range(stack.n_draws):
            sel = (stack.row_draw == d) & (stack.exposed == exposed)
            sf = SurvfuncRight(np.rint(stack.time[sel]), stack.event[sel])
            k = np.searchsorted(sf.surv_times, day, "right") - 1
            surv.append(1.0 if k < 0 else sf.surv_prob[k])
            var.append(0.0 if k < 0 else sf.surv_prob_se[k] ** 2)
        s, v = float(np.mean(surv)), float(np.mean(var))
        assert km.survival[arm, day] == pytest.approx(s, abs=1e-9)
        theta, se = math.log(-math.log(s)), math.sqrt(v) / (s * abs(math.log(s)))
        assert km.ci_low[arm, day] == pytest.approx(math.exp(-math.exp(theta + 1.959964 * se)),
                                                    abs=1e-9)
        assert km.ci_high[arm, day] == pytest.approx(math.exp(-math.exp(theta - 1.959964 * se)),
                                                     abs=1e-9)
    # the controls differ between draws, so their band is no longer the draws' spread
    assert len({round(float(x), 12) for x in surv}) > 1
