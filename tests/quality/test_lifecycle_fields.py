"""What a flag carries from night to night, and the rules that could not run.

Killers of surviving mutants of `registry.quality.lifecycle` (docs/testing.md): every
field of tonight's failure reaches the flag (message, link, label, suggestion,
patient, severity), a resolved flag keeps last night's, a flag whose rule could not run
at its site stays as it was (never resolved: nobody looked), a repeated failure is one
flag without hiding the ones after it, tonight's failures as a DataFrame, and instance
keys written as floats or missing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from registry.quality.lifecycle import FLAG_KEY, age_flags, flag_key

FLAG_INSTANCE = FLAG_KEY.index("instance")
N1, N2 = (datetime(2025, 6, d, 2, 0, tzinfo=UTC) for d in (1, 2))


def _fail(record: str, rule: str = "r.a", site: str = "paris", **extra: object) -> dict:
    return {"site": site, "patient_id": f"{site}:P{record}", "record_id": record, "event": "",
            "form": "f", "instance": "", "field": "a", "rule_id": rule,
            "severity": "blocking", "message": f"m{record}", "link": f"l{record}",
            "label": f"lab{record}", "suggestion": f"s{record}", **extra}


def _by(df: pd.DataFrame) -> dict[tuple[str, str], dict]:
    return {(r["record_id"], r["rule_id"]): r for r in df.to_dict("records")}


def test_every_field_of_a_failure_reaches_its_flag_and_a_resolved_one_keeps_them() -> None:
    night1 = age_flags([], pd.DataFrame([_fail("1"), _fail("2", severity="warning")]), N1)
    got = _by(night1)[("1", "r.a")]
    assert {k: got[k] for k in ("message", "link", "label", "suggestion", "patient_id",
                                "severity", "status", "reported", "unchecked")} == {
        "message": "m1", "link": "l1", "label": "lab1", "suggestion": "s1",
        "patient_id": "paris:P1", "severity": "blocking", "status": "new", "reported": True,
        "unchecked": False}
    assert _by(night1)[("2", "r.a")]["severity"] == "warning"
    bare = age_flags([], [{k: v for k, v in _fail("3").items()
                           if k not in ("message", "link", "label", "suggestion")}], N1)
    assert bare.loc[0, ["message", "link", "label", "suggestion"]].tolist() == ["", "", "", ""]

    night2 = _by(age_flags(night1.to_dict("records"), [_fail("2")], N2))
    gone = night2[("1", "r.a")]
    assert (gone["status"], gone["reported"], gone["unchecked"]) == ("resolved", True, False)
    assert (gone["message"], gone["link"], gone["patient_id"], gone["last_seen"]) == (
        "m1", "l1", "paris:P1", N1)


def test_a_rule_that_could_not_run_leaves_its_flags_as_they_were() -> None:
    night1 = age_flags([], [_fail("1"), _fail("2", rule="r.b"), _fail("3", site="lyon")], N1)
    night2 = _by(age_flags(night1.to_dict("records"), [], N2,
                           unchecked=[("paris", "r.a"), ("lyon", "r.other")]))
    carried = night2[("1", "r.a")]
    assert (carried["status"], carried["unchecked"], carried["last_seen"]) == ("open", True, N1)
    # another rule at the same site, the same rule at another site: they did run
    assert night2[("2", "r.b")]["status"] == "resolved" and not night2[("2", "r.b")]["unchecked"]
    assert night2[("3", "r.a")]["status"] == "resolved"


def test_a_repeated_failure_is_one_flag_and_the_next_ones_still_count() -> None:
    aged = age_flags([], [_fail("1"), _fail("1"), _fail("2"), _fail("3")], N1)
    assert sorted(aged["record_id"]) == ["1", "2", "3"]


def test_instance_keys_as_floats_or_missing_are_the_same_flag() -> None:
    assert flag_key(_fail("1", instance=2.0)) == flag_key(_fail("1", instance="2"))
    assert flag_key(_fail("1", instance=float("nan"))) == flag_key(_fail("1", instance=None))
    assert flag_key(_fail("1", instance=None))[FLAG_INSTANCE] == ""
    assert flag_key(_fail("1", instance=2.5))[FLAG_INSTANCE] == "2.5"



def test_a_resolved_flag_whose_rule_could_not_run_stays_resolved() -> None:
    """Nobody looked tonight: a resolved flag is not reopened (nor re-reported), and a
    saved flag without a status counts as resolved."""
    night1 = age_flags([], [_fail("1"), _fail("2")], N1).to_dict("records")
    night2 = age_flags(night1, [_fail("2")], N2).to_dict("records")  # 1 resolved
    statusless = {**_fail("3"), "first_seen": N1, "last_seen": N1}  # no "status"
    night3 = _by(age_flags([*night2, statusless], [], N2, unchecked=[("paris", "r.a")]))
    assert {k[0]: (v["status"], v["reported"], v["unchecked"]) for k, v in night3.items()} == {
        "1": ("resolved", False, True), "2": ("open", True, True),
        "3": ("resolved", False, True)}


def test_tonights_value_and_inputs_reach_the_flag_and_a_missing_one_is_empty() -> None:
    extra = {"value": "2052-03-01", "computed_from": "bmi", "involves": "trt_start"}
    aged = _by(age_flags([], [_fail("1", **extra), _fail("2")], N1))
    assert {k: aged[("1", "r.a")][k] for k in extra} == extra
    assert {k: aged[("2", "r.a")][k] for k in extra} == dict.fromkeys(extra, "")
    kept = _by(age_flags([aged[("1", "r.a")]], [], N2))
    assert {k: kept[("1", "r.a")][k] for k in extra} == extra
