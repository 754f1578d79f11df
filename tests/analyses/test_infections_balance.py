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


def test_a_code_outside_the_dictionarys_choices_counts_as_missing() -> None:
    """Table 1 with the dictionary's levels: an unknown code ("3", kept verbatim by tidy
    so a rule can flag it) is no level of its own but one more missing value, and the
    levels come in the dictionary's order; without levels the old behaviour."""
    rows = _rows()
    rows.loc[1, "sex"] = "3"                       # a control's sex: a code, not a label
    rows.loc[3, "sex"] = None                      # an exposed patient's: no value
    tab = balance_table(rows, ("sex",), {"sex": ("Male", "Female")}).table
    sex = tab[tab["variable"] == "sex"]
    assert sex["level"].tolist() == ["Male", "Female"]          # dictionary order
    first = sex.iloc[0]
    assert (first["missing_exposed"], first["missing_control"]) == (1, 1)
    assert sex.set_index("level").loc["Male", "control"] == "1 (50%)"   # of 2 valid
    assert sex.set_index("level").loc["Female", "exposed"] == "1 (100%)"
    plain = balance_table(rows, ("sex",)).table
    assert "3" in plain["level"].tolist()


def test_run_study_takes_the_levels_from_the_dictionarys_choices() -> None:
    """The registry side's `field_levels` (radio/dropdown choice labels of the shipped
    dictionary) reaches Table 1 through `run_study(levels=)`."""
    from analyses import run_study
    from registry.reports.payloads import field_levels
    from registry.sandbox.dictionary import metadata
    from tests.analyses.synth import frames, jak_cni, simulate

    levels = field_levels(metadata())
    assert levels["sex"] == ("Female", "Male") and "age_at_diagnosis" not in levels
    cohort = simulate(80, 5, 0.6)
    for p in cohort[::7]:
        p.sex = "9"
    spec = jak_cni(seed_repeats=0, pp_bootstrap=0)
    tab = run_study(spec, frames(cohort), levels=levels).balance.table
    sex = tab[tab["variable"] == "sex"]
    assert set(sex["level"]) <= {"Female", "Male"}
    bad = run_study(spec, frames(cohort)).balance.table
    assert "9" in bad.loc[bad["variable"] == "sex", "level"].tolist()
    assert sex["missing_exposed"].sum() + sex["missing_control"].sum() == (
        int(bad.loc[(bad["variable"] == "sex") & (bad["level"] == "9"),
                    ["exposed", "control"]].map(lambda s: int(s.split()[0])).to_numpy().sum()))
