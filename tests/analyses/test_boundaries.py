"""Property tests that draw the boundaries on purpose (issue #16).

Days are drawn from a few shared anchors most of the time, so ties happen: several
patients exposed on the same day, a control's follow-up ending on another's index day,
an ICU admission or a delayed entry on the index day, death on the index day, events
exactly at the horizon, several ICU and drug episodes, and follow-up ending "today"
(the snapshot day) for many patients at once. Each property compares with a plain
reference: the old scan for the candidates (tests/analyses/reference.py), a day by day
search for the index day, the first of the event dates.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyses import parse_study
from analyses.cohort import build_cohort
from analyses.exposure import index_days
from analyses.matching import match, plan_matching
from tests.analyses.reference import candidates_by_scan
from tests.analyses.synth import ORIGIN, STUDY_FILE, P, frames

TODAY = 900                  # the snapshot day: many follow-ups end here
HORIZON = 365
TEXT = STUDY_FILE.read_text()
#: the study with delayed entry and a second, toggling time-dependent matching variable
ENTRY_TEXT = TEXT.replace(
    "[time]", '[time]\nentry = { frame = "patients", column = "entry_date" }').replace(
    'exact = ["rp_ild", "icu_at_index"]', 'exact = ["rp_ild", "icu_at_index", "in_icu_on_index"]')
SPECS = {"shipped": parse_study(TEXT), "entry": parse_study(ENTRY_TEXT)}


@st.composite
def cohorts(draw: st.DrawFn) -> tuple[list[P], dict[int, int | None]]:
    anchors = draw(st.lists(st.integers(0, 400), min_size=1, max_size=3))
    day = st.one_of(st.sampled_from(anchors), st.integers(0, 600))
    ps, entry = [], {}
    for i in range(draw(st.integers(1, 18))):
        e = draw(st.one_of(st.none(), day))
        if e is None:
            end = draw(st.one_of(day, st.just(TODAY)))
        else:  # on the index day, at / around the horizon, or "today"
            end = draw(st.sampled_from([e, e + 1, e + HORIZON - 1, e + HORIZON,
                                        e + HORIZON + 1, TODAY, max(e - 1, 0)]))
        lag = draw(st.sampled_from([0, 0, 3, 40]))      # 0: both drugs start that day
        icu = []
        for _ in range(draw(st.integers(0, 3))):        # several episodes, maybe open
            a = draw(day)
            icu.append((a, draw(st.one_of(st.none(), st.integers(a, a + 30)))))
        ps.append(P(pid=i + 1, end=end, event=draw(st.booleans()),
                    jak=None if e is None else (e, None),
                    cni=None if e is None else (max(0, e - lag), None),
                    rp_ild=draw(st.booleans()), icu=icu))
        entry[i + 1] = draw(st.one_of(st.just(0), day, st.none()))
    return ps, entry


def _frames(ps: list[P], entry: dict[int, int | None]) -> dict[str, pd.DataFrame]:
    fr = frames(ps)
    pat = fr["patients"]
    days = pat["record_id"].astype(int).map(entry)
    pat["entry_date"] = pat["diagnosis_date"] + pd.to_timedelta(days, unit="D")
    return fr


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=cohorts(), which=st.sampled_from(sorted(SPECS)), seed=st.integers(0, 2**16))
def test_plan_equals_the_scan_and_rows_follow_the_rules(
        data: tuple[list[P], dict[int, int | None]], which: str, seed: int) -> None:
    ps, entry = data
    spec = SPECS[which]
    cohort = build_cohort(spec, _frames(ps, entry))
    plan = plan_matching(cohort, spec)
    exposed, cands = candidates_by_scan(cohort, spec)
    assert list(plan.exposed) == exposed
    assert plan.n_candidates.tolist() == [len(c) for c in cands]
    for j, c in enumerate(cands):
        np.testing.assert_array_equal(plan.index.candidates(j), c)
    rng = np.random.default_rng(seed)                 # the draw, done the old way
    want = [np.sort(rng.choice(c, size=min(spec.ratio, len(c)), replace=False))
            if len(c) else c for c in cands]
    m = match(cohort, spec, seed, plan)
    rows = m.rows
    pos = {pid: i for i, pid in enumerate(plan.pids)}
    got = [np.sort([pos[p] for p in s.loc[s["exposed"] == 0, "patient_id"]])
           for _, s in rows.groupby("set_id", sort=True)]
    assert [g.tolist() for g in got] == [w.tolist() for w in want]
    tab = cohort.table
    for _, r in rows.iterrows():
        t, p = r["index_day"], tab.loc[r["patient_id"]]
        assert p["entry_day"] <= t < p["end_day"]      # at risk on the index day itself
        assert r["time"] == min(p["end_day"] - t, HORIZON)
        # an event exactly at the horizon counts; one a day later does not
        assert r["event"] == int(bool(p["event"]) and p["end_day"] - t <= HORIZON)
    by_pid = {f"paris:{p.pid}": p for p in ps}
    died_on_index = sum(1 for p in ps if p.jak is not None and p.end == p.jak[0]
                        and f"paris:{p.pid}" in tab.index)
    assert m.exposed_after_end >= died_on_index       # death on the index day: left out
    assert all(by_pid[p].end > by_pid[p].jak[0]  # type: ignore[index]
               for p in rows.loc[rows["exposed"] == 1, "patient_id"])


@st.composite
def drug_rows(draw: st.DrawFn) -> list[tuple[str, int, int | None]]:
    day = st.one_of(st.sampled_from([-5, 0, 10, 50]), st.integers(-30, 300))
    out = []
    for _ in range(draw(st.integers(0, 6))):
        cls = draw(st.sampled_from(["JAK inhibitor", "Calcineurin inhibitor"]))
        a = draw(day)
        out.append((cls, a, draw(st.one_of(st.none(), st.integers(a, a + 60)))))
    return out


def _first_overlap(rows: list[tuple[str, int, int | None]]) -> float | None:
    """Day by day: the first day a JAK row and a CNI row both cover (0 if before)."""
    for d in range(-40, 400):
        on = {c for c, a, b in rows if a <= d and (b is None or d <= b)}
        if on == {"JAK inhibitor", "Calcineurin inhibitor"}:
            return float(max(d, 0))
    return None


@settings(max_examples=60, deadline=None)
@given(rows=drug_rows())
def test_index_day_is_the_first_overlap_of_several_episodes(
        rows: list[tuple[str, int, int | None]]) -> None:
    trt = pd.DataFrame([{"patient_id": "paris:1", "trt_class": c,
                         "trt_start": ORIGIN + pd.Timedelta(days=a),
                         "trt_stop": None if b is None else ORIGIN + pd.Timedelta(days=b),
                         "trt_ongoing": b is None} for c, a, b in rows],
                       columns=["patient_id", "trt_class", "trt_start", "trt_stop",
                                "trt_ongoing"])
    trt["trt_stop"] = pd.to_datetime(trt["trt_stop"])
    trt["trt_start"] = pd.to_datetime(trt["trt_start"])
    origin = pd.Series([ORIGIN], index=["paris:1"])
    got = index_days(trt, SPECS["shipped"].exposure, origin).days.to_dict().get("paris:1")
    assert got == _first_overlap(rows)


@settings(max_examples=20, deadline=None)
@given(death=st.one_of(st.none(), st.integers(0, 500)),
       tx=st.one_of(st.none(), st.integers(0, 500)), fu=st.integers(0, 500))
def test_the_event_is_the_first_of_death_and_transplant(death: int | None, tx: int | None,
                                                          fu: int) -> None:
    fr = frames([P(1, end=fu)])
    out = fr["outcomes"]
    for col, day in (("death_date", death), ("lung_tx_date", tx)):
        out[col] = pd.to_datetime([None if day is None else ORIGIN + pd.Timedelta(days=day)])
    cohort = build_cohort(SPECS["shipped"], fr)
    days = [d for d in (death, tx) if d is not None]
    row = cohort.table.loc["paris:1"]
    assert bool(row["event"]) == bool(days)
    assert row["end_day"] == (min(days) if days else fu)
    assert not math.isnan(row["entry_day"])
