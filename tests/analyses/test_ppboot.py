"""The per-protocol bootstrap: the resample, the variance identity, determinism.

Its coverage (the figure the report quotes) is a simulation: benchmarks/analyses_pp_sim.py
--boot, benchmarks/RESULTS.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analyses.cohort import build_cohort
from analyses.combine import Combined
from analyses.headline import Draws
from analyses.matching import plan_matching
from analyses.perprotocol import per_protocol
from analyses.ppboot import pp_bootstrap, resample_cohort
from tests.analyses.synth import P, frames, jak_cni, simulate

SPEC = jak_cni(seed_repeats=20)


def test_resample_copies_each_drawn_patient_with_its_own_intervals() -> None:
    ps = [P(1, 100, icu=[(5, 9)]), P(2, 200), P(3, 300, icu=[(1, 2), (40, 50)])]
    cohort = build_cohort(SPEC, frames(ps))
    rng = np.random.default_rng(3)
    boot = resample_cohort(cohort, np.random.default_rng(3))
    pick = np.sort(rng.integers(0, 3, 3))
    src = cohort.table.index.to_numpy()[pick]
    assert len(set(src)) == 2               # seed 3 draws one patient twice
    assert list(boot.table.index) == [0, 1, 2]
    assert list(boot.table["end_day"]) == list(cohort.table.loc[src, "end_day"])
    for name, iv in cohort.intervals.items():
        got = boot.intervals[name]
        for new, old in enumerate(src):     # each copy has its original's intervals
            mine = got[got["patient_id"] == new][["start", "stop"]].to_numpy().tolist()
            theirs = iv[iv["patient_id"] == old][["start", "stop"]].to_numpy().tolist()
            assert sorted(mine) == sorted(theirs)


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    cohort = build_cohort(SPEC, frames(simulate(300, 5, 0.7)))
    plan = plan_matching(cohort, SPEC)
    d = Draws.make(plan, SPEC, seed=3, min_draws=30, max_draws=30, mc_se=1e-9)
    return cohort, per_protocol(d.stack, cohort, SPEC, plan)


def test_bootstrap_se_is_the_replicate_variance_less_the_draws_credit(fitted) -> None:  # type: ignore[no-untyped-def]
    cohort, pp = fitted
    c = pp.combined
    boot = pp_bootstrap(cohort, SPEC, c, 30, seed=9)
    assert boot.n_ok == 30 and boot.se is not None and boot.replicate_sd is not None
    m = c.n_estimable
    assert boot.se == pytest.approx(math.sqrt(boot.replicate_sd ** 2
                                              - (1 - 1 / m) * c.draw_sd ** 2), rel=1e-12)
    # no spread over the draws: the SE is the replicates' SD itself
    flat = Combined(c.n_draws, c.n_estimable, c.log_hr, c.se, c.se_robust, 0.0, 0.0,
                    c.within_se)
    alone = pp_bootstrap(cohort, SPEC, flat, 30, seed=9)
    assert alone.se == pytest.approx(boot.replicate_sd, rel=1e-12)
    # deterministic in the seed; another seed, other replicates
    assert pp_bootstrap(cohort, SPEC, c, 30, seed=9).se == boot.se
    assert pp_bootstrap(cohort, SPEC, c, 30, seed=10).se != boot.se


def test_a_row_that_cannot_be_estimated_gets_no_bootstrap(fitted) -> None:  # type: ignore[no-untyped-def]
    cohort, pp = fitted
    none = Combined(10, 0, None, None, None, None, None, None, "no events")
    out = pp_bootstrap(cohort, SPEC, none, 30, seed=9)
    assert out.se is None and "not estimable" in out.message


def test_the_bootstraps_size_limit_is_a_checked_study_key() -> None:
    """`[study] pp_bootstrap_max_patients`: 5,000 by default (the shipped study says so
    too), at least 1."""
    from analyses.study import StudySpecError

    assert jak_cni().pp_bootstrap_max_patients == 5000
    assert jak_cni(pp_bootstrap_max_patients=10).pp_bootstrap_max_patients == 10
    with pytest.raises(StudySpecError, match="pp_bootstrap_max_patients must be at least 1"):
        jak_cni(pp_bootstrap_max_patients=0)
