"""The matched rows' columns and the set counts of the cohort flow, on a small cohort
with sets of two, one and no controls (the counts each need a different number).

The fixture is per test, not per module: mutmut gives a mutant the tests that called
its function, and a module fixture's call counts for the first test only."""

from __future__ import annotations

import numpy as np
import pytest

from analyses import parse_study
from analyses.cohort import build_cohort
from analyses.matching import MatchResult, match
from tests.analyses.synth import STUDY_FILE, P, frames, jak_cni

SPEC = jak_cni(seed_repeats=0)     # two controls per set

PATIENTS = [
    P(1, end=300, jak=(10, None), cni=(10, None), site="lyon"),    # set 1: 2 controls
    P(2, end=400, site="lyon", age=42.0, sex="Male"), P(3, end=500, age=61.0),
    P(4, end=400, jak=(200, None), cni=(200, None), rp_ild=True),  # set 4: 1 control
    P(5, end=450, rp_ild=True, event=True, age=33.0, icu=[(300, 310)]),
    P(6, end=400, jak=(20, None), cni=(20, None), icu=[(0, 30)]),  # sets 2, 3: none
    P(7, end=400, jak=(30, None), cni=(30, None), icu=[(0, 40)], rp_ild=True)]
COLUMNS = ["set_id", "patient_id", "record_id", "site", "exposed", "index_day", "time",
           "event", "crossover_day"]


@pytest.fixture
def m() -> MatchResult:
    return match(build_cohort(SPEC, frames(PATIENTS)), SPEC, 3)


def test_sets_short_of_the_ratio_and_without_control_are_counted_apart(m: MatchResult
                                                                        ) -> None:
    sizes = m.rows.groupby("set_id").size().to_dict()
    assert sizes == {1: 3, 2: 1, 3: 1, 4: 2}
    assert (m.n_sets, m.n_short, m.n_without_control, m.ratio) == (4, 3, 2, 2)
    assert m.summary() == ("4 matched sets, 3 control rows (3 distinct), "
                           "3 set(s) with fewer than 2 controls (2 with none)")


def test_rows_columns_in_order_with_record_id_and_site_of_each_member(m: MatchResult
                                                                        ) -> None:
    rows = m.rows
    assert list(rows.columns[:len(COLUMNS)]) == COLUMNS
    assert set(rows.columns[len(COLUMNS):]) == {v.name for v in SPEC.variables}
    assert rows["record_id"].tolist() == rows["patient_id"].str.split(":").str[1].tolist()
    assert rows["site"].tolist() == rows["patient_id"].str.split(":").str[0].tolist()
    assert rows["record_id"].dtype == object and rows["site"].dtype == object
    first = rows[rows["set_id"] == 1].set_index("patient_id")
    assert first.loc["lyon:1", "exposed"] == 1 and first.loc["paris:3", "exposed"] == 0
    assert np.isnan(first.loc["lyon:1", "crossover_day"])
    # the exposed row first in every set, then its controls
    assert rows.groupby("set_id")["exposed"].first().tolist() == [1, 1, 1, 1]
    second = rows[rows["set_id"] == 4]
    assert second["patient_id"].tolist() == ["paris:4", "paris:5"]
    assert second["time"].tolist() == [200.0, 250.0] and second["event"].tolist() == [0, 1]



def test_every_member_carries_its_own_variables_at_the_index_day(m: MatchResult) -> None:
    rows = m.rows.set_index(["set_id", "patient_id"])
    assert rows["age_at_diagnosis"].to_dict() == {
        (1, "lyon:1"): 50.0, (1, "lyon:2"): 42.0, (1, "paris:3"): 61.0,
        (2, "paris:6"): 50.0, (3, "paris:7"): 50.0, (4, "paris:4"): 50.0,
        (4, "paris:5"): 33.0}
    assert rows["sex"].to_dict()[(1, "lyon:2")] == "Male"
    assert rows["rp_ild"].to_dict() == {k: k[1] in ("paris:4", "paris:5", "paris:7")
                                        for k in rows.index}
    # P6 in an ICU over days 0-30 (index day 20), P7 over 0-40 (index day 30); P5's stay
    # (days 300-310) comes after its set's index day 200
    in_icu = {k for k, v in rows["in_icu_on_index"].items() if v}
    assert in_icu == {(2, "paris:6"), (3, "paris:7")}
    assert rows["in_icu_on_index"].dtype == bool


def test_a_full_set_is_neither_short_nor_without_control() -> None:
    m = match(build_cohort(SPEC, frames(PATIENTS[:3])), SPEC, 3)
    assert (m.n_sets, m.n_short, m.n_without_control) == (1, 0, 0)


def _matched_on(exact: str, ps: list[P]) -> MatchResult:
    """The shipped study matched exactly on `exact` (a TOML list) instead."""
    spec = parse_study(STUDY_FILE.read_text().replace(
        'exact = ["rp_ild", "icu_at_index"]', f"exact = {exact}"))
    return match(build_cohort(spec, frames(ps)), spec, 3)


def test_a_missing_matching_value_matches_nothing_not_another_missing_one() -> None:
    # sex has no `missing` stand-in: P1 (exposed) and P2 have none recorded
    ps = [P(1, end=400, jak=(10, None), cni=(10, None), sex=None),  # type: ignore[arg-type]
          P(2, end=400, sex=None), P(3, end=400),                   # type: ignore[arg-type]
          P(4, end=400, jak=(20, None), cni=(20, None))]
    m = _matched_on('["sex"]', ps)
    assert m.rows.groupby("set_id")["patient_id"].apply(list).to_dict() == {
        1: ["paris:1"], 2: ["paris:4", "paris:3"]}
    assert (m.n_sets, m.n_short, m.n_without_control) == (2, 2, 1)


def test_matching_on_a_time_dependent_variable_alone() -> None:
    # no baseline matching variable: RP-ILD no longer separates P4 from P1
    ps = [P(1, end=400, jak=(10, None), cni=(10, None)), P(2, end=400),
          P(3, end=400, icu=[(0, None)]), P(4, end=400, rp_ild=True)]
    m = _matched_on('["icu_at_index"]', ps)
    assert sorted(m.rows["patient_id"]) == ["paris:1", "paris:2", "paris:4"]
