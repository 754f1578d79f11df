"""run_study end to end: DESIGN.md's file shapes, gating, edge cases, purity."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from analyses import StudyDataError, run_study
from tests.analyses.synth import P, frames, jak_cni, simulate

SPEC = jak_cni(seed_repeats=5)
DESIGN_COLUMNS = ["set_id", "record_id", "site", "exposed", "index_day", "time", "event"]
ANALYSIS_KEYS = {"name", "filter", "n_sets", "n_exposed", "n_controls", "events", "hr",
                 "ci_low", "ci_high", "p", "kind", "basis", "estimand", "distinct_controls",
                 "events_exposed", "events_controls", "variance", "method", "log_hr", "se",
                 "se_robust", "model_ci", "model_p", "robust_ci", "robust_p", "n_draws",
                 "mc_se", "draw_sd", "not_estimable", "note"}
BOOTSTRAP_KEYS = {"se_bootstrap", "bootstrap_ci", "bootstrap_p", "n_bootstrap"}


@pytest.fixture(scope="module")
def cohort() -> list[P]:
    return simulate(200, 21, 0.6)


@pytest.fixture(scope="module")
def result(cohort: list[P]):  # type: ignore[no-untyped-def]
    return run_study(SPEC, frames(cohort), excluded={"paris:1", "lyon:2", "lille:3"}, seed=7)


def test_json_has_the_design_shape(result) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(json.dumps(result.to_json(snapshot="snap-1", run_id="run-9")))
    assert {"study", "snapshot", "run_id", "analyses", "schema", "seed", "flow", "km",
            "table1", "infections", "interaction", "clean_vs_all", "ph_test"} <= set(doc)
    assert (doc["study"], doc["snapshot"], doc["run_id"]) == ("jak_cni", "snap-1", "run-9")
    assert doc["schema"] == "registry-study/3" and doc["seed"] == 7
    main, *rest = doc["analyses"]
    assert set(main) == ANALYSIS_KEYS and main["name"] == "main" and main["filter"] == {}
    assert main["kind"] == "headline" and main["method"] == "combined"
    assert main["n_draws"] == 5 == doc["n_draws"]
    subgroups = [a for a in rest if a["filter"] is not None]
    sens = [a for a in rest if a["filter"] is None]
    assert [a["filter"] for a in subgroups] == [{"icu_at_index": True},
                                                {"icu_at_index": False}, {"rp_ild": True}]
    assert rest == subgroups + sens                      # subgroups first, then sensitivity
    assert [a["name"] for a in sens] == ["paper's design", "all records", "per protocol",
                                         "full cohort"]
    pp = sens[2]
    assert all(set(a) == ANALYSIS_KEYS for a in rest if a is not pp)
    assert set(pp) == ANALYSIS_KEYS | BOOTSTRAP_KEYS and pp["n_bootstrap"] == 20
    # the per-protocol row's primary CI is the bootstrap one, around the combined HR
    assert pp["variance"] == "bootstrap" and [pp["ci_low"], pp["ci_high"]] == pp["bootstrap_ci"]
    assert pp["ci_low"] < pp["hr"] < pp["ci_high"] and pp["se_bootstrap"] > 0
    assert all(a["basis"] and a["estimand"] for a in sens)
    for a in subgroups:                                 # filters name matched.csv columns
        assert set(a["filter"]) <= set(result.matched.columns)
    assert main["hr"] > 0 and main["ci_low"] < main["hr"] < main["ci_high"]
    assert main["n_sets"] == main["n_exposed"] == result.flow["sets"]
    assert main["events"] == main["events_exposed"] + main["events_controls"]
    design = sens[0]
    assert design["method"] == "one draw" and design["n_draws"] == 1
    assert design["n_sets"] == len(result.matched["set_id"].unique())


def test_json_follows_its_documented_schema(result) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    import jsonschema

    docs = Path(__file__).resolve().parents[2] / "docs"
    schema = json.loads((docs / "study-json.schema.json").read_text())
    doc = json.loads(json.dumps(result.to_json(snapshot="s", run_id="r"), allow_nan=False))
    jsonschema.validate(doc, schema)
    bare = run_study(jak_cni(seed_repeats=0), frames(simulate(80, 3, 0.6)))
    jsonschema.validate(json.loads(json.dumps(bare.to_json(), allow_nan=False)), schema)


def test_matched_csv_columns_and_content(result) -> None:  # type: ignore[no-untyped-def]
    m = result.matched
    assert list(m.columns) == DESIGN_COLUMNS + ["rp_ild", "icu_at_index"]
    assert m["time"].between(0, 365).all()
    assert set(m["exposed"]) == {0, 1} and set(m["event"]) <= {0, 1}
    assert m.groupby("set_id")["exposed"].sum().eq(1).all()
    assert len(m) == result.flow["sets"] + result.flow["control_rows"]
    csv = m.to_csv(index=False)
    assert "True" not in csv and "False" not in csv    # booleans written one way: 0/1
    assert set(m["rp_ild"].dropna()) <= {0, 1} and set(m["icu_at_index"].dropna()) <= {0, 1}


def test_gating_leaves_flagged_records_out_of_main_only(result) -> None:  # type: ignore[no-untyped-def]
    flagged = {("paris", "1"), ("lyon", "2"), ("lille", "3")}
    keys = set(zip(result.matched["site"], result.matched["record_id"], strict=True))
    assert not keys & flagged
    assert result.flow["excluded_flags"] == 3
    assert result.flow["eligible"] == 197
    allrec = [a for a in result.analyses if a.name == "all records"][0]
    assert allrec.filter is None and "blocking" in allrec.basis


def test_results_are_frozen_and_summarised(result) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AttributeError):
        result.seed = 3
    s = result.summary()
    assert list(s["analysis"]) == [a.name for a in result.analyses]
    spread = result.to_json()["seed_spread"]
    assert spread["n_draws"] == 5 and spread["hr_low"] <= spread["hr_median"] <= spread["hr_high"]
    assert result.km.summary().shape == (2, len(SPEC.km_times))
    km = result.km_at()
    assert [k["arm"] for k in km] == ["exposed", "control"]
    assert [t["day"] for t in km[0]["times"]] == [30, 90, 180, 270, 365]
    assert {"exposed", "control"} == set(result.infections.table.index)
    assert "variable" in result.balance.table.columns


def test_row_order_does_not_change_the_result(cohort: list[P]) -> None:
    spec = jak_cni(seed_repeats=0)
    a = run_study(spec, frames(cohort), seed=3, engine="fast")
    b = run_study(spec, frames(random.Random(1).sample(cohort, len(cohort))), seed=3,
                  engine="fast")
    pd.testing.assert_frame_equal(a.summary(), b.summary())
    pd.testing.assert_frame_equal(a.matched, b.matched)


def test_no_exposed_patient_is_a_clear_error() -> None:
    ps = [P(1, end=300), P(2, end=200, event=True), P(3, end=400, jak=(5, None))]
    with pytest.raises(StudyDataError, match="no exposed patient .* among 3 eligible"):
        run_study(SPEC, frames(ps))


def test_set_without_control_and_no_events_give_messages() -> None:
    ps = [P(1, end=300, jak=(10, None), cni=(10, None)),     # nobody else at risk at day 10
          P(2, end=5)]
    res = run_study(SPEC, frames(ps), seed_repeats=0)
    assert res.flow["sets_without_control"] == 1 and res.flow["sets"] == 0
    assert res.main.estimate.hr is None
    assert "no matched set has both" in res.main.estimate.not_estimable
    assert any("found no eligible control" in n for n in res.notes)
    doc = res.to_json()
    assert doc["analyses"][0]["hr"] is None
    assert "no matched set has both" in doc["analyses"][0]["not_estimable"]
    assert doc["analyses"][0]["n_sets"] == 0 and doc["analyses"][0]["n_exposed"] == 0
    assert doc["seed_spread"] is None
    drawn = run_study(SPEC, frames(ps), seed_repeats=3)
    assert "no matched set has both" in drawn.main.estimate.not_estimable


def test_missing_column_names_it() -> None:
    f = frames([P(1, end=300, jak=(10, None), cni=(10, None)), P(2, end=400)])
    f["outcomes"] = f["outcomes"].drop(columns="lung_tx_date")
    with pytest.raises(StudyDataError, match="lung_tx_date"):
        run_study(SPEC, f)
    f = frames([P(1, end=300)])
    del f["icu_stays"]
    with pytest.raises(StudyDataError, match="no tidy frame 'icu_stays'"):
        run_study(SPEC, f)


def test_crossover_sensitivity_censors_controls_when_they_start() -> None:
    ps = [P(1, end=400, jak=(10, None), cni=(10, None)),
          P(2, end=200, event=True, jak=(50, None), cni=(50, None)),   # control, then exposed
          P(3, end=300, event=True), P(4, end=380, event=True)]
    res = run_study(jak_cni(seed_repeats=0, ratio=3), frames(ps), seed=0, engine="fast")
    rows = res.design_rows
    from analyses import censor_at_crossover

    cens = censor_at_crossover(rows).set_index(["set_id", "patient_id"])
    assert cens.loc[(1, "paris:2"), "time"] == 40 and cens.loc[(1, "paris:2"), "event"] == 0
    assert cens.loc[(1, "paris:3"), "event"] == 1
    # the exposed row in its own set is untouched
    assert cens.loc[(2, "paris:2"), "time"] == 150 and cens.loc[(2, "paris:2"), "event"] == 1
