"""Infections after index and Table 1, on hand-computed cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analyses.balance import balance_table
from analyses.infections import compare_infections, count_infections

ORIGIN = pd.Timestamp("2020-01-01")


def _rows() -> pd.DataFrame:
    return pd.DataFrame({
        "set_id": [1, 1, 1, 2, 2], "patient_id": ["a", "b", "c", "d", "b"],
        "exposed": [1, 0, 0, 1, 0], "index_day": [10, 10, 10, 100, 100],
        "time": [365, 100, 200, 50, 30],
        "age": [40.0, 50.0, 60.0, 70.0, 50.0], "rp_ild": [True, True, False, True, True],
        "sex": ["Female", "Male", "Female", "Female", "Male"]})


def test_infections_counted_only_inside_each_rows_follow_up() -> None:
    d = lambda day: ORIGIN + pd.Timedelta(days=day)  # noqa: E731
    inf = pd.DataFrame({"patient_id": ["a", "a", "a", "b", "b", "c", "d"],
                        "inf_date": [d(10), d(11), d(375), d(105), d(131), d(500), None]})
    origin = pd.Series(ORIGIN, index=["a", "b", "c", "d"])
    # a: day 10 is the index day (not after), 11 and 375 inside (10 < day <= 375)
    # b in set 1 (10, 110]: 105; b in set 2 (100, 130]: 105 only (131 is past the end)
    counts = count_infections(_rows(), inf, "inf_date", origin)
    assert counts.tolist() == [2, 1, 0, 0, 1]
    res = compare_infections(_rows(), counts)
    t = res.table
    assert t.loc["exposed", "infections"] == 2 and t.loc["control", "infections"] == 2
    assert t.loc["exposed", "with_infection"] == 1 and t.loc["control", "with_infection"] == 2
    assert t.loc["exposed", "patient_years"] == pytest.approx(415 / 365.25)
    # Poisson with one binary covariate: the MLE rate ratio is the ratio of crude rates
    assert res.rate_ratio == pytest.approx((2 / 415) / (2 / 330), rel=1e-6)
    assert res.ci_low < res.rate_ratio < res.ci_high and "Poisson" in res.method


def test_no_infection_in_an_arm_is_a_message() -> None:
    res = compare_infections(_rows(), pd.Series([0, 1, 0, 0, 2]).to_numpy())
    assert res.rate_ratio is None and "not estimable" in res.message


def test_balance_table_smds() -> None:
    tab = balance_table(_rows(), ("age", "rp_ild", "sex")).table.set_index(
        ["variable", "level"])
    # age: exposed 40, 70 (mean 55, var 450); controls 50, 60, 50 (mean 53.33, var 33.33)
    assert tab.loc[("age", ""), "smd"] == pytest.approx((55 - 160 / 3) / math.sqrt(
        (450 + 100 / 3) / 2))
    # rp_ild: exposed 2/2, controls 2/3
    p1, p0 = 1.0, 2 / 3
    assert tab.loc[("rp_ild", ""), "smd"] == pytest.approx(
        (p1 - p0) / math.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2))
    assert tab.loc[("rp_ild", ""), "exposed"] == "2 (100%)"
    assert tab.loc[("sex", "Male"), "smd"] == pytest.approx(
        (0 - 2 / 3) / math.sqrt((0 + 2 / 9) / 2))
    assert tab.loc[("n", ""), "control"] == "3"
