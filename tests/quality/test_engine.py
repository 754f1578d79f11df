"""The vectorised engine against Great Expectations, the second implementation.

Every expectation type of the vocabulary, with and without row conditions, on frames of
every dtype tidy makes (dates, numbers, nullable integers and booleans, strings with
missing values): the engine and GX must fail the same rows and check the same rows.
Then the whole stage: `validate(engine="gx")` and the default give the same flags and
the same rule results on the synthetic registry and on the every-type project.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from registry.quality import SiteLink, gx_adapter, validate
from registry.quality import engine as vectorised
from registry.quality.suites import KNOWN_TYPES, Rule
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import tidy
from tests.quality.test_validate import SUITES


def _frame(seed: int, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def holes(values: object, p: float = 0.2) -> pd.Series:
        return pd.Series(values).mask(rng.random(n) < p)

    day = pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 30, n), "D")
    return pd.DataFrame({
        "site": pd.Series(rng.choice(["a", "b"], n), dtype="string"),
        "d1": holes(day).astype("datetime64[ns]"),
        "d2": holes(day + pd.to_timedelta(rng.integers(-3, 3, n), "D")).astype(
            "datetime64[ns]"),
        "x": holes(rng.integers(0, 10, n).astype(float)).astype("Float64"),
        "i": holes(rng.integers(0, 10, n)).astype("Int64"),
        "y": holes(rng.integers(0, 10, n).astype(float)).astype("Float64"),
        "b": holes(rng.random(n) < 0.5).astype("boolean"),
        "s": holes(rng.choice(["Lung", "Skin", "Blood", "8", ""], n)).astype("string"),
        "t": holes(rng.choice(["Lung", "Skin", "x"], n)).astype("string"),
    })


def _cmp(column: str, op: str, value: object) -> dict:
    return {"type": "comparison", "column": {"name": column}, "operator": op,
            "parameter": value}


SPECS: list[tuple[str, dict]] = [
    ("expect_column_values_to_not_be_null", {"column": "x"}),
    ("expect_column_values_to_not_be_null", {"column": "s"}),
    ("expect_column_values_to_not_be_null", {"column": "x",
                                             "row_condition": _cmp("b", "==", True)}),
    ("expect_column_values_to_be_null", {"column": "d1"}),
    ("expect_column_values_to_be_null", {"column": "t", "row_condition": _cmp("b", "==", False)}),
    ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["Lung", "Skin"]}),
    ("expect_column_values_to_be_in_set", {"column": "i", "value_set": [1, 2, 3]}),
    ("expect_column_values_to_be_in_set", {"column": "b", "value_set": [True]}),
    ("expect_column_values_to_not_be_in_set", {"column": "t", "value_set": ["x"]}),
    ("expect_column_values_to_be_between", {"column": "x", "min_value": 2, "max_value": 7}),
    ("expect_column_values_to_be_between", {"column": "i", "min_value": 2, "max_value": 7,
                                            "strict_min": True, "strict_max": True}),
    ("expect_column_values_to_be_between", {"column": "d1", "min_value": "2020-01-05",
                                            "max_value": "2020-01-20"}),
    ("expect_column_values_to_be_between", {"column": "x", "max_value": 5,
                                            "row_condition": _cmp("s", "==", "Lung")}),
    ("expect_column_values_to_be_between", {"column": "x", "max_value": 5, "row_condition": {
        "type": "and", "conditions": [_cmp("s", "IN", ["Lung", "Skin"]),
                                      {"type": "nullity", "column": {"name": "d1"},
                                       "is_null": False}]}}),
    ("expect_column_values_to_be_between", {"column": "x", "max_value": 5, "row_condition": {
        "type": "or", "conditions": [_cmp("y", ">", 4), _cmp("d1", "<", "2020-01-10")]}}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": "^L"}),
    ("expect_column_values_to_not_match_regex", {"column": "t", "regex": "k"}),
    ("expect_column_values_to_be_unique", {"column": "d1"}),
    ("expect_column_values_to_be_unique", {"column": "s"}),
    ("expect_column_value_lengths_to_be_between", {"column": "s", "min_value": 2,
                                                   "max_value": 4}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {
        "column_A": "d1", "column_B": "d2", "or_equal": True,
        "ignore_row_if": "either_value_is_missing"}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "d1", "column_B": "d2"}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "x", "column_B": "y",
                                                          "ignore_row_if": "neither"}),
    ("expect_column_pair_values_to_be_equal", {"column_A": "x", "column_B": "y"}),
    ("expect_column_pair_values_to_be_equal", {"column_A": "s", "column_B": "t",
                                               "ignore_row_if": "either_value_is_missing"}),
    ("expect_column_pair_values_to_be_in_set", {"column_A": "s", "column_B": "t",
                                                "value_pairs_set": [["Lung", "Lung"],
                                                                    ["Skin", "x"]]}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["s", "t"]}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["d1", "x"],
                                              "ignore_row_if": "any_value_is_missing"}),
    ("expect_multicolumn_sum_to_equal", {"column_list": ["x", "y"], "sum_total": 9}),
    ("expect_select_column_values_to_be_unique_within_record", {"column_list": ["x", "y", "i"]}),
    ("expect_select_column_values_to_be_unique_within_record", {
        "column_list": ["s", "t"], "ignore_row_if": "any_value_is_missing"}),
]
RULES = [Rule(id=f"r{i}", type=t, kwargs=kw, frame="f", field="x", severity="warning",
              dimension="plausibility", message="m") for i, (t, kw) in enumerate(SPECS)]


def test_every_type_is_covered() -> None:
    assert {t for t, _ in SPECS} == set(KNOWN_TYPES)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_engine_and_gx_fail_and_check_the_same_rows(seed: int) -> None:
    frames = {"f": _frame(seed)}
    gx = {o.rule.id: o for o in gx_adapter.run_rules(frames, RULES)}
    mine = {o.rule.id: o for o in vectorised.run_rules(frames, RULES)}
    for rule in RULES:
        a, b = gx[rule.id], mine[rule.id]
        assert a.error is None and b.error is None, (rule.type, a.error, b.error)
        assert sorted(a.failing.tolist()) == sorted(b.failing.tolist()), (rule.type,
                                                                           rule.kwargs)
        assert (a.checked == b.checked).all(), (rule.type, rule.kwargs)
    assert sum(len(o.failing) for o in mine.values()) > 100  # the frames do fail rules


def test_a_missing_column_or_a_failing_rule_is_an_error_outcome() -> None:
    frame = _frame(0)
    rules = [Rule(id="missing", type="expect_column_values_to_not_be_null",
                  kwargs={"column": "nope"}, frame="f", field="x", severity="warning",
                  dimension="completeness", message="m"),
             Rule(id="throws", type="expect_column_values_to_be_between",
                  kwargs={"column": "s", "min_value": 1}, frame="f", field="s",
                  severity="warning", dimension="plausibility", message="m"),
             Rule(id="noframe", type="expect_column_values_to_not_be_null",
                  kwargs={"column": "x"}, frame="g", field="x", severity="warning",
                  dimension="completeness", message="m"), RULES[0]]
    out = {o.rule.id: o for o in vectorised.run_rules({"f": frame}, rules)}
    assert "nope" in (out["missing"].error or "")
    assert out["throws"].error and "TypeError" in out["throws"].error
    assert out["noframe"].error == "no g frame"
    assert out[RULES[0].id].error is None


def _same(a, b) -> None:
    key = ["site", "record_id", "form", "instance", "field", "rule_id", "message"]
    assert a.failures[key].astype(str).values.tolist() == \
        b.failures[key].astype(str).values.tolist()
    cols = ["site", "rule_id", "checked", "failed", "status"]
    assert a.rule_results[cols].values.tolist() == b.rule_results[cols].values.tolist()


def test_the_stage_through_gx_gives_the_same_flags_and_results() -> None:
    reg = generate(GeneratorParams(seed=31, patients=120, error_rate=0.5))
    frames = tidy(reg.rows_by_site(), reg.schema())
    link = SiteLink("http://r.example/", "14.0", 3)
    args = dict(site_links=link, today=reg.params.as_of)
    fast = validate(frames, frames.schema, SUITES, **args)
    slow = validate(frames, frames.schema, SUITES, engine="gx", **args)
    assert not (fast.rule_results["status"] == "error").any()
    assert len(fast.failures) > 30
    _same(fast, slow)


def test_the_every_type_project_through_gx_gives_the_same_flags() -> None:
    from tests.quality import test_every_type as every

    rows: dict[str, list[dict[str, str]]] = {"north": []}
    for k, (over, _) in enumerate(every.INJECTED):
        rows["north"] += every._record(f"err-{k}", **over)
    frames = tidy(rows, every.DICTIONARY, repeating=("visit",))
    args = dict(site_links=None, today=every.TODAY, now=every.NOW)
    fast = validate(frames, every.DICTIONARY, [], **args)
    slow = validate(frames, every.DICTIONARY, [], engine="gx", **args)
    assert len(fast.failures) >= len(every.INJECTED)
    _same(fast, slow)
