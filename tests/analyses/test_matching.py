"""Matching invariants (hypothesis) and the counted edge cases."""

from __future__ import annotations

import random

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyses.cohort import build_cohort
from analyses.matching import match
from tests.analyses.synth import P, frames, jak_cni

SPEC = jak_cni(seed_repeats=0)
HORIZON = SPEC.horizon_days


@st.composite
def patient_lists(draw: st.DrawFn) -> list[P]:
    n = draw(st.integers(1, 25))
    ps = []
    for i in range(n):
        end = draw(st.integers(0, 600))
        e = draw(st.one_of(st.none(), st.integers(0, 400)))
        lag = draw(st.integers(0, 20))
        icu = draw(st.one_of(st.none(), st.tuples(st.integers(0, 300), st.integers(0, 60))))
        ps.append(P(
            pid=i + 1, end=end, event=draw(st.booleans()),
            jak=None if e is None else (e, None),
            cni=None if e is None else (max(0, e - lag), None),
            rp_ild=draw(st.booleans()),
            icu=[] if icu is None else [(icu[0], icu[0] + icu[1])]))
    return ps


def _in_icu(p: P, day: float) -> bool:
    return any(a <= day <= b for a, b in p.icu)  # type: ignore[operator]


def _exposure(p: P) -> float | None:
    return None if p.jak is None else float(p.jak[0])


def _eligible(p: P, e: P, t: float) -> bool:
    ex = _exposure(p)
    return (p.pid != e.pid and p.end > t and (ex is None or ex > t)
            and p.rp_ild == e.rp_ild and _in_icu(p, t) == _in_icu(e, t))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ps=patient_lists(), seed=st.integers(0, 2**16), reuse=st.booleans())
def test_matching_invariants(ps: list[P], seed: int, reuse: bool) -> None:
    spec = jak_cni(seed_repeats=0, reuse_controls=reuse)
    m = match(build_cohort(spec, frames(ps)), spec, seed)
    by_id = {f"paris:{p.pid}": p for p in ps}
    rows = m.rows
    expected_exposed = {k for k, p in by_id.items()
                        if _exposure(p) is not None and p.end > _exposure(p)}  # type: ignore[operator]
    assert set(rows.loc[rows["exposed"] == 1, "patient_id"]) == expected_exposed
    assert m.exposed_after_end == sum(_exposure(p) is not None for p in ps) - len(
        expected_exposed)
    for _, s in rows.groupby("set_id"):
        assert int(s["exposed"].sum()) == 1
        assert s["patient_id"].is_unique                      # no patient twice in a set
        e_row = s[s["exposed"] == 1].iloc[0]
        e = by_id[e_row["patient_id"]]
        t = float(e_row["index_day"])
        assert t == _exposure(e)                             # index day = combination start
        assert (s["index_day"] == t).all()
        ctrls = s[s["exposed"] == 0]
        assert len(ctrls) <= SPEC.ratio
        for _, c in ctrls.iterrows():
            assert _eligible(by_id[c["patient_id"]], e, t)     # at risk, unexposed, equal
        if len(ctrls) < SPEC.ratio and reuse:                 # short only when nobody else fits
            assert len(ctrls) == sum(_eligible(p, e, t) for p in ps)
        for _, r in s.iterrows():                            # follow-up and events
            p = by_id[r["patient_id"]]
            assert r["time"] == min(p.end - t, HORIZON)
            assert r["event"] == int(p.event and p.end - t <= HORIZON)
            ex = _exposure(p)
            if r["exposed"] == 0:
                assert (pd.isna(r["crossover_day"]) if ex is None
                        else r["crossover_day"] == ex - t)
    if not reuse:
        assert rows.loc[rows["exposed"] == 0, "patient_id"].is_unique
    assert m.n_short == sum(len(s) - 1 < SPEC.ratio for _, s in rows.groupby("set_id"))


@settings(max_examples=10, deadline=None)
@given(ps=patient_lists(), seed=st.integers(0, 1000))
def test_matching_is_seeded_and_independent_of_row_order(ps: list[P], seed: int) -> None:
    f = frames(ps)
    shuffled = frames(random.Random(seed).sample(ps, len(ps)))
    a = match(build_cohort(SPEC, f), SPEC, seed).rows
    b = match(build_cohort(SPEC, shuffled), SPEC, seed).rows
    pd.testing.assert_frame_equal(a, b)


def test_short_sets_are_kept_and_counted() -> None:
    ps = [P(1, end=300, jak=(10, None), cni=(10, None)),      # exposed, one eligible control
          P(2, end=400),
          P(3, end=5),                                        # gone before day 10
          P(4, end=150, rp_ild=True),                         # gone before day 200
          P(5, end=400, jak=(200, None), cni=(200, None), rp_ild=True)]  # no control at all
    m = match(build_cohort(SPEC, frames(ps)), SPEC, 1)
    assert (m.n_sets, m.n_short, m.n_without_control) == (2, 2, 1)
    assert m.rows.groupby("set_id")["patient_id"].apply(list).to_dict() == {
        1: ["paris:1", "paris:2"], 2: ["paris:5"]}
    assert "2 set(s) with fewer than 2 controls (1 with none)" in m.summary()


def test_future_exposed_serve_as_controls_then_form_their_own_set() -> None:
    ps = [P(1, end=400, jak=(10, None), cni=(10, None)),
          P(2, end=400, jak=(50, None), cni=(50, None)),
          P(3, end=400)]
    rows = match(build_cohort(SPEC, frames(ps)), SPEC, 0).rows
    first = rows[rows["set_id"] == 1].set_index("patient_id")
    assert set(first.index) == {"paris:1", "paris:2", "paris:3"}
    assert first.loc["paris:2", "crossover_day"] == 40
    assert set(rows.loc[rows["set_id"] == 2, "patient_id"]) == {"paris:2", "paris:3"}
