"""Flag lifecycle across snapshots: new, open, resolved, reopened; first/last seen."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.quality.lifecycle import LIFECYCLE_COLUMNS, age_flags

N1, N2, N3, N4 = (datetime(2025, 6, d, 2, 0, tzinfo=UTC) for d in (1, 2, 3, 4))


def _fail(record: str, field: str = "trt_stop", instance: object = 1) -> dict[str, object]:
    return {"site": "paris", "patient_id": f"paris:{record}", "record_id": record,
            "form": "treatments", "instance": instance, "field": field,
            "rule_id": f"r.{field}", "severity": "blocking", "message": "m", "link": "l"}


def _by(df: pd.DataFrame) -> dict[str, dict[str, object]]:
    return {r["record_id"]: r for r in df.to_dict("records")}


def test_four_nights() -> None:
    night1 = age_flags([], [_fail("1"), _fail("2")], N1)
    assert list(night1.columns) == LIFECYCLE_COLUMNS
    assert set(night1["status"]) == {"new"}
    assert (night1["first_seen"] == N1).all()

    # 1 still failing, 2 fixed, 3 appears; store hands instance back as an int or None
    prev = night1.to_dict("records")
    night2 = _by(age_flags(prev, [_fail("1", instance="1"), _fail("3")], N2))
    assert night2["1"]["status"] == "open" and night2["1"]["first_seen"] == N1
    assert night2["1"]["last_seen"] == N2
    assert night2["2"]["status"] == "resolved" and night2["2"]["reported"]
    assert night2["2"]["last_seen"] == N1
    assert night2["3"]["status"] == "new"

    # 2 comes back: reopened, first seen kept; 1 and 3 resolved
    night3 = _by(age_flags(list(night2.values()), [_fail("2")], N3))
    assert night3["2"]["status"] == "reopened" and night3["2"]["first_seen"] == N1
    assert {night3[k]["status"] for k in ("1", "3")} == {"resolved"}

    # a resolved flag is carried silently, so it can reopen later
    night4 = _by(age_flags(list(night3.values()), [], N4))
    assert night4["2"]["status"] == "resolved" and night4["2"]["reported"]
    assert night4["1"]["status"] == "resolved" and not night4["1"]["reported"]
    night5 = _by(age_flags(list(night4.values()), [_fail("1")], N4))
    assert night5["1"]["status"] == "reopened"


def test_key_is_cell_and_rule() -> None:
    prev = age_flags([], [_fail("1"), _fail("1", field="trt_start")], N1).to_dict("records")
    now = age_flags(prev, [_fail("1"), _fail("1", instance=2)], N2)
    got = {(r["instance"], r["field"]): r["status"] for r in now.to_dict("records")}
    assert got == {("1", "trt_stop"): "open", ("2", "trt_stop"): "new",
                   ("1", "trt_start"): "resolved"}
    # the same failure twice is one flag
    assert len(age_flags([], [_fail("1"), _fail("1")], N1)) == 1


@given(st.lists(st.sets(st.sampled_from("abcde"), max_size=5), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None)
def test_statuses_follow_history(nights: list[set[str]]) -> None:
    """Over any sequence of nights, a flag's status is decided by its own history."""
    previous: list[dict[str, object]] = []
    history: dict[str, list[bool]] = {}
    first: dict[str, int] = {}
    for day, failing in enumerate(nights, start=1):
        now = datetime(2025, 1, day, tzinfo=UTC)
        aged = age_flags(previous, [_fail(r) for r in sorted(failing)], now)
        for rec in aged.to_dict("records"):
            past = history.get(rec["record_id"], [])
            was_open = bool(past) and past[-1]
            if rec["record_id"] in failing:
                expected = ("new" if not past else "open" if was_open else "reopened")
                assert rec["last_seen"] == now
            else:
                expected = "resolved"
                assert rec["reported"] == was_open
            assert rec["status"] == expected
            first.setdefault(rec["record_id"], day)
            assert rec["first_seen"] == datetime(2025, 1, first[rec["record_id"]], tzinfo=UTC)
        assert set(aged["record_id"]) == set(history) | failing
        for r in set(history) | failing:
            history.setdefault(r, []).append(r in failing)
        previous = aged.to_dict("records")
