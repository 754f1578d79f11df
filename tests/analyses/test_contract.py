"""The studies contract (PLAN.md "Studies"): any frame name, `event` on references and
variables, and `[time] entry` as a delayed-entry date."""

from __future__ import annotations

import pandas as pd
import pytest

from analyses import StudyDataError, parse_study
from analyses.cohort import build_cohort
from analyses.matching import match, plan_matching
from tests.analyses.synth import STUDY_FILE, P, frames

TEXT = STUDY_FILE.read_text()


def _renamed(fr: dict[str, pd.DataFrame]) -> tuple[str, dict[str, pd.DataFrame]]:
    names = {"patients": "baseline", "treatments": "drugs", "icu_stays": "icu",
             "infections": "infection_episodes", "outcomes": "follow_up"}
    text = TEXT
    for old, new in names.items():
        text = text.replace(f'frame = "{old}"', f'frame = "{new}"')
    return text, {names[k]: v for k, v in fr.items()}


PS = [P(1, end=300, jak=(10, None), cni=(10, None), icu=[(5, 20)]),
      P(2, end=400, icu=[(3, 9)]), P(3, end=400), P(4, end=50, event=True),
      P(5, end=500, jak=(60, None), cni=(40, None))]


def test_any_frame_name_is_accepted_and_read() -> None:
    fr = frames(PS)
    text, renamed = _renamed(fr)
    spec = parse_study(text)
    assert spec.origin.frame == "baseline" and spec.exposure.frame == "drugs"
    a = match(build_cohort(spec, renamed), spec, 3).rows
    b = match(build_cohort(parse_study(TEXT), fr), parse_study(TEXT), 3).rows
    pd.testing.assert_frame_equal(a, b)


def test_a_frame_the_data_lacks_is_one_clear_error() -> None:
    spec = parse_study(TEXT.replace('frame = "icu_stays"', 'frame = "icu"', 1))
    with pytest.raises(StudyDataError, match="no tidy frame 'icu' given to the study"):
        build_cohort(spec, frames(PS))


def _longitudinal(fr: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The patients frame on two events: a baseline visit and a 6-month visit whose
    `rp_ild` says the opposite (so reading the wrong event shows)."""
    out = {k: v.assign(event="") for k, v in fr.items()}
    base = fr["patients"].assign(event="baseline_arm_1")
    later = fr["patients"].assign(event="month6_arm_1", rp_ild=~fr["patients"]["rp_ild"])
    out["patients"] = pd.concat([later, base], ignore_index=True)
    return out


def test_variables_and_references_read_only_their_event() -> None:
    ps = [P(1, end=300, jak=(10, None), cni=(10, None), rp_ild=True),
          P(2, end=400, rp_ild=True), P(3, end=400, rp_ild=False)]
    fr = _longitudinal(frames(ps))
    text = TEXT.replace('column = "rp_ild"\n', 'column = "rp_ild"\nevent = "baseline_arm_1"\n')
    text = text.replace('origin = { frame = "patients", column = "diagnosis_date" }',
                        'origin = { frame = "patients", column = "diagnosis_date", '
                        'event = "baseline_arm_1" }')
    spec = parse_study(text)
    assert spec.variable("rp_ild").event == "baseline_arm_1"
    assert spec.origin.event == "baseline_arm_1"
    cohort = build_cohort(spec, fr)
    assert cohort.flow["registry"] == 3                  # one patient per patient, not per row
    assert cohort.table["rp_ild"].to_dict() == {"paris:1": True, "paris:2": True,
                                                "paris:3": False}
    rows = match(cohort, spec, 0).rows
    assert set(rows["patient_id"]) == {"paris:1", "paris:2"}   # matched on baseline RP-ILD
    wrong = parse_study(text.replace('event = "baseline_arm_1"\n', 'event = "month6_arm_1"\n'))
    assert build_cohort(wrong, fr).table["rp_ild"].to_dict()["paris:3"] is True


def test_an_event_on_a_classic_frame_is_one_clear_error() -> None:
    spec = parse_study(TEXT.replace('column = "rp_ild"\n', 'column = "rp_ild"\nevent = "x"\n'))
    with pytest.raises(StudyDataError, match="has no event column"):
        build_cohort(spec, frames(PS))


ENTRY = '[time]\nentry = { frame = "patients", column = "entry_date" }'


def _with_entry(ps: list[P], entry: dict[int, int | None]) -> dict[str, pd.DataFrame]:
    fr = frames(ps)
    pat = fr["patients"]
    days = pat["record_id"].astype(int).map(entry)
    pat["entry_date"] = pat["diagnosis_date"] + pd.to_timedelta(days, unit="D")
    return fr


def test_delayed_entry_controls_are_at_risk_only_from_entry() -> None:
    spec = parse_study(TEXT.replace("[time]", ENTRY))
    assert spec.entry is not None and spec.entry.column == "entry_date"
    ps = [P(1, end=300, jak=(10, None), cni=(10, None)),   # exposed on day 10, entered day 0
          P(2, end=400),                                    # enters on day 10: eligible
          P(3, end=400),                                    # enters on day 11: not yet
          P(4, end=400, jak=(30, None), cni=(30, None)),    # exposed before entry (day 40)
          P(5, end=400),                                    # no entry date: left out
          P(6, end=20, event=True)]                         # dies before entering
    fr = _with_entry(ps, {1: 0, 2: 10, 3: 11, 4: 40, 5: None, 6: 25})
    cohort = build_cohort(spec, fr)
    assert cohort.flow["no_entry"] == 1 and cohort.flow["ends_before_entry"] == 1
    assert cohort.flow["eligible"] == 4
    assert cohort.table["entry_day"].to_dict() == {"paris:1": 0.0, "paris:2": 10.0,
                                                   "paris:3": 11.0, "paris:4": 40.0}
    plan = plan_matching(cohort, spec)
    assert plan.exposed_before_entry == 1
    m = match(cohort, spec, 0, plan)
    assert m.rows["patient_id"].tolist() == ["paris:1", "paris:2"]
    assert m.exposed_before_entry == 1
    # without the entry date the same patients are "at risk" from diagnosis
    ignored = match(build_cohort(parse_study(TEXT), fr), parse_study(TEXT), 0).rows
    assert {"paris:3", "paris:5"} & set(ignored["patient_id"])


def test_entry_before_the_origin_counts_from_the_origin() -> None:
    spec = parse_study(TEXT.replace("[time]", ENTRY))
    fr = _with_entry([P(1, end=300, jak=(10, None), cni=(10, None)), P(2, end=400)],
                     {1: -30, 2: -1})
    cohort = build_cohort(spec, fr)
    assert cohort.table["entry_day"].tolist() == [0.0, 0.0]
    assert match(cohort, spec, 0).rows["patient_id"].tolist() == ["paris:1", "paris:2"]
