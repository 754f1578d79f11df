"""The study on the synthetic registry through the real tidy frames (registry side).

Fast: one study-size cohort. Slow (`-m slow`): recovery of the generator's true hazard
ratio at large n and coverage of the primary CI over repeated seeds; the full
simulations with numbers are `benchmarks/analyses_sim.py` (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analyses import cox, match, run_study
from analyses.cohort import build_cohort
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import tidy
from tests.analyses.synth import jak_cni

SPEC = jak_cni(seed_repeats=3)


def _frames(seed: int, patients: int = 234, true_hr: float = 1.0, error_rate: float = 0.0):  # type: ignore[no-untyped-def]
    reg = generate(GeneratorParams(seed=seed, patients=patients, sites=5,
                                   error_rate=error_rate, true_hr=true_hr))
    return tidy(reg.rows_by_site(), reg.schema())


def test_study_runs_on_the_generators_tidy_frames() -> None:
    fr = _frames(2025)
    res = run_study(SPEC, fr, excluded=set(fr.patients["patient_id"].iloc[:10]), seed=1,
                    engine="fast")
    assert res.flow["registry"] == 234 and res.flow["excluded_flags"] == 10
    assert res.flow["exposed"] >= 10 and res.flow["sets"] >= 10
    assert res.main.estimate.hr is not None and res.main.estimate.not_estimable == ""
    assert res.main.estimate.method == "combined" and res.main.estimate.n_draws == 3
    assert res.matched["site"].isin(["paris", "lyon", "lille", "marseille", "bordeaux"]).all()
    assert res.infections is not None and res.infections.table["rows"].sum() == len(res.matched)


def test_study_survives_injected_errors() -> None:
    fr = _frames(7, error_rate=0.5)
    res = run_study(SPEC, fr, seed=1, engine="fast")
    assert res.flow["sets"] > 0
    assert [a.name for a in res.analyses] == [
        "main", "ICU at index", "No ICU at index", "RP-ILD", "paper's design", "all records",
        "per protocol", "full cohort"]


@pytest.mark.slow
def test_recovers_the_true_hazard_ratio_at_large_n() -> None:
    """Mean log HR over 6 cohorts of 3000 within 3 Monte-Carlo SEs of log(0.5)."""
    betas = []
    for seed in range(6):
        m = match(build_cohort(SPEC, _frames(100 + seed, 3000, 0.5)), SPEC, seed)
        c = cox(m.rows, "main", engine="fast")
        assert c.hr is not None
        betas.append(math.log(c.hr))
    b = np.array(betas)
    assert abs(b.mean() - math.log(0.5)) < 3 * b.std(ddof=1) / math.sqrt(len(b)) + 0.05


@pytest.mark.slow
def test_primary_ci_covers_at_about_the_nominal_rate() -> None:
    """60 study-size cohorts, true HR 1: coverage of the primary CI within 82-100 %."""
    cover, n = 0, 0
    for seed in range(60):
        m = match(build_cohort(SPEC, _frames(500 + seed)), SPEC, seed)
        c = cox(m.rows, "main", SPEC.variance, engine="fast")
        if c.hr is None:
            continue
        n += 1
        cover += c.ci_low <= 1.0 <= c.ci_high  # type: ignore[operator]
    assert n >= 50 and cover / n >= 0.82


def test_a_second_study_runs_from_its_file_alone() -> None:
    """Rituximab vs not, 1:1, no control reuse, 180 days: declared only in TOML."""
    from analyses import parse_study
    from tests.analyses.test_study import SECOND

    spec = parse_study(SECOND)
    res = run_study(spec, _frames(2025), seed=2, seed_repeats=0, engine="fast")
    m = res.match.rows
    assert res.flow["exposed"] > 0 and m["time"].max() <= 180
    assert m.loc[m["exposed"] == 0, "patient_id"].is_unique
    assert m.groupby("set_id").size().max() <= 2
    assert [a.name for a in res.analyses] == ["main", "paper's design", "all records",
                                               "full cohort"]
    drawn = run_study(spec, _frames(2025), seed=2, seed_repeats=4, engine="fast")
    assert drawn.main.estimate.n_draws == 4 and drawn.main.estimate.hr is not None
