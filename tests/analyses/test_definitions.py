"""The study's definitions on hand-made patients whose answers are known (issue #16).

Fast, fixed cases next to the property tests of test_boundaries.py: each one pins a
definition a plausible bug would flip, in both matchings production uses (the paper's
single draw, `matching.match`, and the headline's stacked draws, `draws.draw_stack`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyses.cohort import build_cohort
from analyses.draws import draw_stack
from analyses.exposure import index_days
from analyses.matching import match, plan_matching
from tests.analyses.synth import ORIGIN, P, frames, jak_cni

SPEC = jak_cni()
H = SPEC.horizon_days
T = 100                                   # the index day of the exposed patients

PATIENTS = [
    P(1, end=T + H, event=True, jak=(T, None), cni=(T, None)),       # event at the horizon
    P(2, end=T + H + 1, event=True, jak=(T, None), cni=(T - 10, None)),  # a day after it
    P(3, end=T + H, event=True),          # controls: event at the horizon ...
    P(4, end=T + H + 1, event=True),      # ... a day after it
    P(5, end=900),                        # ... followed until "today"
    P(6, end=T, event=True),              # died on the index day: not at risk on it
    P(7, end=T, event=True, jak=(T, None), cni=(T, None)),  # exposed and died that day
]
#: what every member's follow-up must be: (time, event)
WANT = {"paris:1": (H, 1), "paris:2": (H, 0), "paris:3": (H, 1), "paris:4": (H, 0),
        "paris:5": (H, 0)}


def test_an_event_exactly_at_the_horizon_counts_and_one_a_day_later_does_not() -> None:
    cohort = build_cohort(SPEC, frames(PATIENTS))
    plan = plan_matching(cohort, SPEC)
    rows = match(cohort, SPEC, 1, plan).rows
    assert set(rows.loc[rows["exposed"] == 1, "patient_id"]) == {"paris:1", "paris:2"}
    assert set(rows["index_day"]) == {T}
    assert set(rows["patient_id"]) <= set(WANT)                 # 6 and 7 never at risk
    for _, r in rows.iterrows():
        assert (r["time"], r["event"]) == WANT[r["patient_id"]], r["patient_id"]

    stack = draw_stack(plan, SPEC.ratio, float(H), 1, 0, 12)      # the headline's draws
    pids = plan.pids[stack.member]
    assert set(pids) == set(WANT)
    for pid, time, ev in zip(pids, stack.time, stack.event, strict=True):
        assert (time, ev) == WANT[pid], pid


def _trt(rows: list[tuple[str, int, int | None]]) -> pd.DataFrame:
    trt = pd.DataFrame([{"patient_id": "paris:1", "trt_class": c,
                         "trt_start": ORIGIN + pd.Timedelta(days=a),
                         "trt_stop": None if b is None else ORIGIN + pd.Timedelta(days=b),
                         "trt_ongoing": b is None} for c, a, b in rows])
    trt["trt_start"] = pd.to_datetime(trt["trt_start"])
    trt["trt_stop"] = pd.to_datetime(trt["trt_stop"])
    return trt


def test_the_index_day_is_the_first_overlap_not_a_later_one() -> None:
    jak, cni = "JAK inhibitor", "Calcineurin inhibitor"
    origin = pd.Series([ORIGIN], index=["paris:1"])
    two_episodes = _trt([(jak, 10, 50), (cni, 40, 60), (jak, 200, None), (cni, 210, None)])
    assert index_days(two_episodes, SPEC.exposure, origin).days.to_dict() == {"paris:1": 40.0}
    # the later episode listed first: still the earlier overlap
    assert index_days(two_episodes.iloc[::-1], SPEC.exposure,
                      origin).days.to_dict() == {"paris:1": 40.0}
    # both drugs starting the same day: that day; touching on a stop day counts
    same_day = _trt([(jak, 30, None), (cni, 30, 31)])
    assert index_days(same_day, SPEC.exposure, origin).days.to_dict() == {"paris:1": 30.0}
    touching = _trt([(jak, 5, 20), (cni, 20, None)])
    assert index_days(touching, SPEC.exposure, origin).days.to_dict() == {"paris:1": 20.0}
    apart = _trt([(jak, 5, 19), (cni, 20, None)])
    assert index_days(apart, SPEC.exposure, origin).days.to_dict() == {}


def test_the_event_is_the_first_of_death_and_transplant() -> None:
    fr = frames([P(1, end=500), P(2, end=500), P(3, end=500)])
    out = fr["outcomes"]
    day = {1: (300, 200), 2: (150, 400), 3: (None, 250)}          # (death, transplant)
    for col, i in (("death_date", 0), ("lung_tx_date", 1)):
        out[col] = pd.to_datetime([None if day[int(r)][i] is None else
                                   ORIGIN + pd.Timedelta(days=day[int(r)][i])
                                   for r in out["record_id"]])
    tab = build_cohort(SPEC, fr).table
    assert tab.loc[["paris:1", "paris:2", "paris:3"], "end_day"].tolist() == [200, 150, 250]
    assert tab.loc[["paris:1", "paris:2", "paris:3"], "event"].astype(bool).all()
    assert np.isfinite(tab["entry_day"]).all()
