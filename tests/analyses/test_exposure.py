"""Index day = first day a drug of every exposure group is taken at once."""

from __future__ import annotations

import pandas as pd
import pytest

from analyses.exposure import index_days
from tests.analyses.synth import ORIGIN, P, frames, jak_cni

SPEC = jak_cni().exposure


def _days(ps: list[P]) -> dict[str, float]:
    f = frames(ps)
    origin = f["patients"].set_index("patient_id")["diagnosis_date"]
    return index_days(f["treatments"], SPEC, origin).days.to_dict()


@pytest.mark.parametrize(("jak", "cni", "expected"), [
    ((10, None), (30, None), 30.0),          # CNI added to JAK: the day CNI starts
    ((40, None), (5, 100), 40.0),            # JAK added to CNI
    ((10, 20), (30, None), None),            # JAK stopped before CNI: never together
    ((10, 30), (30, None), 30.0),            # one common day is enough
    ((-20, None), (-10, None), 0.0),         # on the combination at diagnosis
    ((10, None), None, None),                # JAK alone
])
def test_index_day_is_the_first_common_day(jak, cni, expected) -> None:  # type: ignore[no-untyped-def]
    got = _days([P(1, end=500, jak=jak, cni=cni)])
    assert got.get("paris:1") == expected


def test_second_course_can_give_the_overlap() -> None:
    f = frames([P(1, end=500, jak=(10, 20), cni=(50, None))])
    extra = f["treatments"].iloc[[0]].copy()
    extra["instance"] = pd.array([9], dtype="Int64")
    extra["trt_start"] = ORIGIN + pd.Timedelta(days=80)
    extra["trt_stop"] = pd.NaT
    extra["trt_ongoing"] = pd.array([True], dtype="boolean")
    trt = pd.concat([f["treatments"], extra], ignore_index=True)
    origin = f["patients"].set_index("patient_id")["diagnosis_date"]
    assert index_days(trt, SPEC, origin).days.to_dict() == {"paris:1": 80.0}


def test_rows_without_start_or_stopping_before_start_are_counted_not_used() -> None:
    f = frames([P(1, end=500, jak=(10, None), cni=(30, None))])
    trt = f["treatments"].copy()
    trt.loc[trt["trt_class"] == "JAK inhibitor", "trt_start"] = pd.NaT
    origin = f["patients"].set_index("patient_id")["diagnosis_date"]
    res = index_days(trt, SPEC, origin)
    assert res.days.empty and res.rows_without_start == 1
    f = frames([P(1, end=500, jak=(10, 5), cni=(3, None))])
    res = index_days(f["treatments"], SPEC, origin)
    assert res.days.empty and res.rows_stop_before_start == 1
