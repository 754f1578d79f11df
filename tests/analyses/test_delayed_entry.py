"""Delayed entry removes immortal time: a hand-computable study, and the sandbox's
generator with delayed entry through the real tidy frames.

The hand case: two strata of the matching (RP-ILD no / yes), each with one exposed
patient (index day 10), one control followed from diagnosis, and one patient who
enters the registry on day 200 (recorded back to diagnosis, so "alive" over days
0-200 by construction). Times from the index day:

* set 1: E1 dies at 90, C1 dies at 40; C2 (enters day 200) censored at the horizon;
* set 2: E2 dies at 40, C3 censored at 290; C4 (enters day 200) censored.

With entry, C2 and C4 are not at risk on day 10: sets {E1, C1} and {E2, C3},
L(r) = 1/(r+1) * r/(r+1), maximised at r = HR = 1. Ignoring entry they are controls,
immortal until day 200: L(r) = 1/(r+2) * r/(r+1) * r/(r+2), whose score
2 - 2r/(r+2) - r/(r+1) = 0 gives r^2 - 2r - 4 = 0, HR = 1 + sqrt(5) = 3.236.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analyses import cox, match, parse_study, run_study
from analyses.cohort import build_cohort
from analyses.matching import plan_matching
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import tidy
from tests.analyses.synth import STUDY_FILE, P, frames

TEXT = STUDY_FILE.read_text()
ENTRY_TEXT = TEXT.replace(
    "[time]", '[time]\nentry = { frame = "patients", column = "entry_date" }')

PS = [P(1, end=100, event=True, jak=(10, None), cni=(10, None)),
      P(2, end=50, event=True),
      P(3, end=400),
      P(4, end=50, event=True, jak=(10, None), cni=(10, None), rp_ild=True),
      P(5, end=300, rp_ild=True),
      P(6, end=400, rp_ild=True)]
ENTRY = {1: 0, 2: 0, 3: 200, 4: 0, 5: 0, 6: 200}


def _frames() -> dict[str, pd.DataFrame]:
    fr = frames(PS)
    pat = fr["patients"]
    pat["entry_date"] = pat["diagnosis_date"] + pd.to_timedelta(
        pat["record_id"].astype(int).map(ENTRY), unit="D")
    return fr


@pytest.mark.parametrize("engine", ["lifelines", "fast"])
def test_entry_removes_the_immortal_controls_by_hand(engine: str) -> None:
    fr = _frames()
    spec = parse_study(ENTRY_TEXT)
    rows = match(build_cohort(spec, fr), spec, 0).rows
    assert sorted(rows["patient_id"]) == ["paris:1", "paris:2", "paris:4", "paris:5"]
    hr = cox(rows, "main", engine=engine).hr  # type: ignore[arg-type]
    assert hr is not None and math.log(hr) == pytest.approx(0.0, abs=1e-6)
    naive = parse_study(TEXT)
    rows = match(build_cohort(naive, fr), naive, 0).rows
    assert sorted(rows["patient_id"]) == [f"paris:{i}" for i in range(1, 7)]
    hr = cox(rows, "main", engine=engine).hr  # type: ignore[arg-type]
    assert hr is not None and math.log(hr) == pytest.approx(math.log(1 + math.sqrt(5)),
                                                            abs=1e-6)


def test_the_headline_and_the_full_cohort_use_entry() -> None:
    """The headline (every draw is the same here) is the hand HR; the full-cohort
    model, whose risk sets are the whole cohort, also starts C2 and C4 at entry."""
    fr = _frames()
    res = run_study(parse_study(ENTRY_TEXT), fr, seed=1, seed_repeats=3, min_draws=3)
    assert res.main.estimate.hr == pytest.approx(1.0, rel=1e-6)
    naive = run_study(parse_study(TEXT), fr, seed=1, seed_repeats=3, min_draws=3)
    assert naive.main.estimate.hr == pytest.approx(1 + math.sqrt(5), rel=1e-6)
    full = {a.name: a for a in res.analyses}["full cohort"]
    full_naive = {a.name: a for a in naive.analyses}["full cohort"]
    assert full.estimate.hr != full_naive.estimate.hr


def test_generator_delayed_entry_is_off_by_default_and_truncates_when_on() -> None:
    base = generate(GeneratorParams(seed=3, patients=120, error_rate=0.0))
    assert all("registry_entry_date" not in r for r in base.records)
    late = generate(GeneratorParams(seed=3, patients=120, error_rate=0.0,
                                    delayed_entry=0.5))
    assert "registry_entry_date" in {m["field_name"] for m in late.metadata}
    fr = tidy(late.rows_by_site(), late.schema())
    pat = fr.patients
    delay = (pat["registry_entry_date"] - pat["diagnosis_date"]).dt.days
    assert (delay >= 0).all() and 0.3 < (delay > 0).mean() < 0.6
    # nobody is recorded whose follow-up ended before entry: the dead before entry are
    # missing (left truncation), so fewer patients than simulated
    fu = pat.merge(fr.outcomes[["patient_id", "last_fu_date"]], on="patient_id")
    assert len(fu) == len(pat)
    assert ((fu["last_fu_date"] - fu["registry_entry_date"]).dt.days > 0).all()
    assert len(pat) < 120
    # the same simulated patients otherwise: every recorded patient's diagnosis date
    # is one of the default registry's
    assert set(pat["diagnosis_date"]) <= set(tidy(base.rows_by_site(),
                                                  base.schema()).patients["diagnosis_date"])
    # JAK-CNI is started at the registry's centres: never before entry
    spec = parse_study(TEXT.replace("[time]", '[time]\nentry = { frame = "patients", '
                                    'column = "registry_entry_date" }'))
    plan = plan_matching(build_cohort(spec, fr), spec)
    assert plan.exposed_before_entry == 0 and len(plan.exposed) > 0
