"""The lifelines fast path stays on: counted calls of lifelines' slow per-stratum code.

`analyses.lifelines_strata.fit_stratified` replaces three of lifelines' per-stratum
internals (slicing every stratum at each Newton step, the per-stratum "central values"
and baseline hazards). Disabling that (an upgrade changing a private name, a condition
that always falls back) would make a fit ~50x slower but give the same numbers, so no
result test notices; these count the calls of the slow code instead (no timing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analyses.lifelines_strata import fit_stratified
from analyses.survival import _TIGHT, cox

SLOW = ("_partition_by_strata", "_compute_central_values_of_raw_training_data",
        "_compute_baseline_hazards")


def _matched(n_sets: int = 60, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, n_sets + 1):
        for j in range(3):
            rows.append({"set_id": s, "patient_id": f"p{s}-{j}", "exposed": int(j == 0),
                         "time": float(rng.integers(1, 366)), "event": int(rng.random() < .5)})
    return pd.DataFrame(rows)


@pytest.fixture
def slow_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Calls of lifelines' own (slow) versions of the replaced internals."""
    from lifelines.fitters.coxph_fitter import SemiParametricPHFitter

    counts = dict.fromkeys(SLOW, 0)
    for name in SLOW:
        original = getattr(SemiParametricPHFitter, name)

        def counted(self: Any, *args: Any, _name: str = name, _orig: Any = original,
                    **kwargs: Any) -> Any:
            counts[_name] += 1
            return _orig(self, *args, **kwargs)

        monkeypatch.setattr(SemiParametricPHFitter, name, counted)
    yield counts


def test_the_study_fit_never_calls_the_slow_per_stratum_code(slow_calls) -> None:  # type: ignore[no-untyped-def]
    res = cox(_matched(), "main")
    assert res.hr is not None
    assert slow_calls == dict.fromkeys(SLOW, 0)


def test_the_counter_sees_the_slow_path_when_it_is_taken(slow_calls) -> None:  # type: ignore[no-untyped-def]
    from lifelines import CoxPHFitter

    df = _matched()[["time", "event", "exposed", "set_id"]]
    CoxPHFitter().fit(df, "time", "event", strata=["set_id"], fit_options=_TIGHT)
    assert slow_calls["_partition_by_strata"] > 0      # the plain fit: once per step
    assert slow_calls["_compute_baseline_hazards"] > 0
    # shuffled rows: the strata are no longer sorted blocks, so the fast slicing
    # must fall back (and is seen to), with the same numbers
    for k in slow_calls:
        slow_calls[k] = 0
    shuffled = df.sample(frac=1.0, random_state=1)
    b1 = fit_stratified(df, "time", "event", "set_id", _TIGHT)
    assert slow_calls["_partition_by_strata"] == 0
    b2 = fit_stratified(shuffled, "time", "event", "set_id", _TIGHT)
    assert b2 == pytest.approx(b1, rel=1e-9)
