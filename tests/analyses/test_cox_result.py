"""What `cox` reports around the fit: the Wald CIs and p, the messages, the engine.

The agreement of the fit itself with statsmodels and lifelines is `test_survival.py`;
here the numbers and words the study table shows: exp(beta +- z se) and the two-sided p
from both variances, the exact reasons a hazard ratio is not given, and that the
"fast" engine is the own likelihood (lifelines not called) and the default is lifelines.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

import analyses.survival as survival
from analyses.survival import cox, kaplan_meier

Z = stats.norm.ppf(0.975)


def _sets() -> pd.DataFrame:
    # 3 sets of an exposed patient and two controls; deaths on both sides
    return pd.DataFrame({
        "set_id": [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4],
        "patient_id": list("abcdefghijkl"),
        "exposed": [1, 0, 0] * 4,
        "time": [5, 8, 9, 7, 3, 9, 9, 4, 6, 2, 6, 8],
        "event": [1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1]})


@pytest.mark.parametrize("variance", ["model", "robust"])
def test_the_cis_and_p_are_the_wald_ones_of_each_variance(variance: str) -> None:
    res = cox(_sets(), "main", variance)  # type: ignore[arg-type]
    assert res.hr is not None and res.se_model is not None and res.se_robust is not None
    beta = math.log(res.hr)
    for ci, p, se in ((res.model_ci, res.model_p, res.se_model),
                      (res.robust_ci, res.robust_p, res.se_robust)):
        assert ci == pytest.approx((math.exp(beta - Z * se), math.exp(beta + Z * se)),
                                   rel=1e-12)
        assert p == pytest.approx(2 * stats.norm.sf(abs(beta) / se), rel=1e-12)
    shown = res.robust_ci if variance == "robust" else res.model_ci
    assert (res.ci_low, res.ci_high) == shown
    assert res.p == (res.robust_p if variance == "robust" else res.model_p)
    assert (res.events, res.events_exposed, res.events_controls) == (8, 3, 5)


def test_a_monotone_likelihood_is_said_not_to_converge() -> None:
    # in every set the exposed patient dies first: the likelihood grows without bound
    df = pd.DataFrame({"set_id": [1, 1, 2, 2, 3, 3], "patient_id": list("abcdef"),
                       "exposed": [1, 0, 1, 0, 1, 0], "time": [2, 5, 3, 6, 1, 4],
                       "event": [1, 1, 1, 0, 1, 1]})
    for engine in ("lifelines", "fast"):
        res = cox(df, "main", engine=engine)  # type: ignore[arg-type]
        assert res.hr is None and res.se_model is None and res.robust_ci is None
        assert res.message == ("the Cox fit did not converge (monotone likelihood: too few "
                               "events)")


@pytest.mark.parametrize(("events", "message"), [
    ([0, 1, 1, 0, 1, 1], "no events among exposed patients: the hazard ratio is 0, not "
                         "estimable"),
    ([1, 0, 0, 1, 0, 0], "no events among controls: the hazard ratio is infinite, not "
                         "estimable"),
    ([0, 0, 0, 0, 0, 0], "no events in sets with a control: the hazard ratio is not "
                         "estimable"),
])
def test_the_reasons_are_said_in_full(events: list[int], message: str) -> None:
    df = pd.DataFrame({"set_id": [1, 1, 1, 2, 2, 2], "patient_id": list("abcdef"),
                       "exposed": [1, 0, 0, 1, 0, 0], "time": [100, 50, 60, 200, 30, 40],
                       "event": events})
    assert cox(df, "main").message == message


def test_the_fast_engine_does_not_call_lifelines_and_the_default_does(monkeypatch) -> None:  # noqa: ANN001
    calls: list[int] = []
    real = survival.fit_stratified

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(survival, "fit_stratified", counted)
    fast = cox(_sets(), "main", engine="fast")
    assert calls == []
    default = cox(_sets(), "main")
    assert calls == [1]
    assert fast.hr == pytest.approx(default.hr, rel=1e-6)


def test_kaplan_meier_steps_and_numbers_at_risk_by_arm() -> None:
    km = kaplan_meier(_sets(), "main", (0, 5))
    cols = ["arm", "time", "survival", "ci_low", "ci_high", "at_risk", "events", "censored"]
    assert list(km.steps.columns) == cols and list(km.steps.index) == list(range(len(km.steps)))
    assert km.steps["arm"].unique().tolist() == ["exposed", "control"]
    exposed = km.steps[km.steps["arm"] == "exposed"]
    # exposed: deaths on days 2, 5, 7, one censored on day 9 -> 3/4, 2/4, 1/4
    assert exposed["time"].tolist() == [0.0, 2.0, 5.0, 7.0, 9.0]
    assert exposed["survival"].tolist() == pytest.approx([1, 0.75, 0.5, 0.25, 0.25])
    assert exposed["events"].tolist() == [0, 1, 1, 1, 0]
    assert exposed["censored"].tolist() == [0, 0, 0, 0, 1]
    assert km.at_risk.to_dict("records") == [
        {"arm": "exposed", "time": 0, "n": 4}, {"arm": "exposed", "time": 5, "n": 3},
        {"arm": "control", "time": 0, "n": 8}, {"arm": "control", "time": 5, "n": 6}]
    empty = kaplan_meier(_sets().iloc[:0], "none", (0,))
    assert list(empty.steps.columns) == cols and empty.steps.empty
    assert list(empty.at_risk.columns) == ["arm", "time", "n"]
    assert list(kaplan_meier(_sets(), "no times", ()).at_risk.columns) == ["arm", "time", "n"]
