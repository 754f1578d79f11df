"""The proportional-hazards test of the headline, combined over its draws: each draw's
part is exactly the one-draw Grambsch-Therneau test (itself checked against lifelines
in test_survival / test_contract); its type-I error is a simulation
(benchmarks/analyses_ph_sim.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyses.cohort import build_cohort
from analyses.headline import Draws
from analyses.matching import plan_matching
from analyses.ph import draw_scores, ph_over_draws, schoenfeld_test
from tests.analyses.synth import frames, jak_cni, simulate

SPEC = jak_cni(seed_repeats=20)


@pytest.fixture(scope="module")
def draws() -> Draws:
    cohort = build_cohort(SPEC, frames(simulate(300, 8, 0.7)))
    return Draws.make(plan_matching(cohort, SPEC), SPEC, seed=4, min_draws=12,
                      max_draws=12, mc_se=1e-9)


def _rows(d: Draws, m: int) -> pd.DataFrame:
    s = d.stack
    keep = s.row_draw == m
    sizes = np.diff(np.append(s.set_start, len(s.member)))
    block = np.repeat(np.arange(len(sizes)), sizes)
    return pd.DataFrame({"set_id": block[keep], "time": s.time[keep],
                         "event": s.event[keep], "exposed": s.exposed[keep]})


def test_each_draws_part_is_the_one_draw_test(draws: Draws) -> None:
    fit = draws.headline.fit
    u, v, use = draw_scores(draws.stack, fit.beta, fit.se_model, 12)
    assert use.all()
    for m in range(12):
        one = schoenfeld_test(_rows(draws, m), float(fit.beta[m]), float(fit.se_model[m]))
        assert u[m] ** 2 / v[m] == pytest.approx(one.statistic, rel=1e-9)


def test_the_combination_is_the_multiple_outputation_one(draws: Draws) -> None:
    fit = draws.headline.fit
    u, v, _ = draw_scores(draws.stack, fit.beta, fit.se_model, 12)
    got = ph_over_draws(draws.stack, fit.beta, fit.se_model)
    var = v.mean() - (1 - 1 / 12) * u.var(ddof=1)
    assert got.n_draws == 12 and got.statistic == pytest.approx(u.mean() ** 2 / var)
    assert 0 < got.p < 1
    # only the first max_draws count; one draw with a fit is not a combination
    assert ph_over_draws(draws.stack, fit.beta, fit.se_model, max_draws=5).n_draws == 5
    lone = ph_over_draws(draws.stack, fit.beta, fit.se_model, max_draws=1)
    assert lone.p is None and lone.message
