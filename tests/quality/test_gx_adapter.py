"""The GX door: "" is missing, ISO bounds on dates, results matched by rule id."""

from __future__ import annotations

import pandas as pd

from registry.quality.gx_adapter import run_rules
from registry.quality.suites import Rule


def _rule(rule_id: str, etype: str, **kwargs: object) -> Rule:
    return Rule(id=rule_id, type=etype, kwargs=kwargs, frame="patients", field="x",
                severity="warning", dimension="completeness", message="m")


def test_adapter_normalises_and_keys_results_by_id() -> None:
    frame = pd.DataFrame({
        "site": ["a", "a", "b", "b"],
        "name": pd.array(["Ann", "", None, "Bo"], dtype="string"),
        "seen": pd.to_datetime(["2020-01-01", "2031-05-01", None, "1999-12-31"]),
        "flag": pd.array([True, None, False, True], dtype="boolean"),
        "n": pd.array([1, None, 7, 3], dtype="Int64"),
    })
    rules = [
        _rule("n.small", "expect_column_values_to_be_between", column="n", max_value=5),
        _rule("name.present", "expect_column_values_to_not_be_null", column="name"),
        _rule("seen.range", "expect_column_values_to_be_between", column="seen",
              min_value="2000-01-01", max_value="2025-06-30"),
        _rule("name.when_flag", "expect_column_values_to_not_be_null", column="name",
              row_condition={"type": "comparison", "column": {"name": "flag"},
                             "operator": "==", "parameter": True}),
        _rule("ghost", "expect_column_values_to_not_be_null", column="ghost"),
    ]
    got = {o.rule.id: o for o in run_rules({"patients": frame}, rules)}
    assert sorted(got["name.present"].failing.tolist()) == [1, 2]  # "" counts as missing
    assert sorted(got["seen.range"].failing.tolist()) == [1, 3]
    assert got["seen.range"].checked.tolist() == [True, True, False, True]
    assert got["n.small"].failing.tolist() == [2]
    assert got["name.when_flag"].failing.tolist() == []
    assert got["name.when_flag"].checked.tolist() == [True, False, False, True]
    assert got["ghost"].error == "column(s) ghost not in patients"
    assert all(o.error is None for k, o in got.items() if k != "ghost")
