"""The cohort on hand-made patients: who is left out at which step (the flow), the notes
for the report, the table's columns, and the variables as the study declares them."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analyses import parse_study
from analyses.cohort import build_cohort, get_frame
from analyses.errors import StudyDataError
from tests.analyses.synth import ORIGIN, STUDY_FILE, P, frames

TEXT = STUDY_FILE.read_text()
ENTRY_TEXT = TEXT.replace(
    "[time]", '[time]\nentry = { frame = "patients", column = "entry_date" }')
NaT = pd.NaT


def _day(n: int | None) -> pd.Timestamp:
    return NaT if n is None else ORIGIN + pd.Timedelta(days=n)


def _entry_frames() -> dict[str, pd.DataFrame]:
    """One patient left out at each step of the delayed-entry flow, three kept."""
    fr = frames([P(1, end=300, jak=(10, None), cni=(10, None)),   # kept, exposed day 10
                 P(2, end=300),                                   # excluded (flags)
                 P(3, end=300),                                   # no origin
                 P(4, end=300),                                   # no follow-up
                 P(5, end=-5),                                    # ends before the origin
                 P(6, end=300),                                   # no entry date
                 P(7, end=100),                                   # ends before entry
                 P(8, end=100),                                   # ends on its entry day
                 P(9, end=300),                                   # entered before origin
                 P(10, end=300, jak=(-10, None), cni=(-10, None))])  # exposed before it
    pat, out, trt = fr["patients"], fr["outcomes"], fr["treatments"]
    entry = {6: None, 7: 150, 8: 100, 9: -20}
    pat["entry_date"] = pd.to_datetime([_day(entry.get(int(r), 0)) for r in pat["record_id"]])
    pat.loc[pat["record_id"] == "3", "diagnosis_date"] = NaT
    out.loc[out["record_id"] == "4", "last_fu_date"] = NaT
    # P1's drug rows: one without a start, one stopping before it starts
    bad = trt[trt["record_id"] == "1"].iloc[:2].copy()
    bad["trt_start"] = [NaT, _day(50)]
    bad["trt_stop"] = [NaT, _day(40)]
    bad["trt_ongoing"] = pd.array([True, False], dtype="boolean")
    fr["treatments"] = pd.concat([trt, bad], ignore_index=True)
    return fr


def test_the_flow_counts_each_step_and_the_notes_say_so() -> None:
    cohort = build_cohort(parse_study(ENTRY_TEXT), _entry_frames(), excluded={"paris:2"})
    assert cohort.flow == {"registry": 10, "excluded_flags": 1, "no_origin": 1,
                           "no_follow_up": 2, "no_entry": 1, "ends_before_entry": 2,
                           "eligible": 3, "exposed": 2}
    assert cohort.notes == (
        "1 patient(s) whose follow-up ends before the origin were left out.",
        "1 patient(s) without an entry date were left out (delayed entry).",
        "2 patient(s) whose follow-up ends on or before their entry were left out "
        "(delayed entry).",
        "1 exposure-drug row(s) without a start date.",
        "1 exposure-drug row(s) stopping before they start.",
        "1 patient(s) on the combination before the origin (index day set to 0).")
    tab = cohort.table
    assert tab.index.name == "patient_id"
    assert list(tab.index) == ["paris:1", "paris:9", "paris:10"]
    assert list(tab.columns) == ["record_id", "site", "end_day", "event", "origin",
                                 "entry_day", "exposure_day", "rp_ild", "age_at_diagnosis",
                                 "sex", "mda5_titre", "ferritin", "ild", "muscle_weakness",
                                 "icu_ever"]
    assert tab["entry_day"].tolist() == [0.0, 0.0, 0.0]      # P9's entry before origin: 0
    assert tab["exposure_day"].tolist()[0] == 10.0 and tab["exposure_day"].tolist()[2] == 0.0
    assert math.isnan(tab["exposure_day"].tolist()[1])
    assert (tab["origin"] == ORIGIN).all()


def test_without_delayed_entry_everyone_is_at_risk_from_the_origin() -> None:
    fr = frames([P(1, end=300), P(2, end=40, event=True)])
    fr["patients"]["record_id"] = [1, 2]          # a frame with numeric record ids
    tab = build_cohort(parse_study(TEXT), fr).table
    assert tab["entry_day"].tolist() == [0.0, 0.0]
    assert tab["record_id"].tolist() == ["1", "2"]
    assert tab["end_day"].tolist() == [300.0, 40.0]
    assert tab["event"].tolist() == [False, True]


def test_a_missing_baseline_value_takes_the_studys_stand_in_only_where_declared() -> None:
    fr = frames([P(1, end=300), P(2, end=300, rp_ild=True)])
    pat = fr["patients"]
    pat["rp_ild"] = pd.array([None, True], dtype="boolean")   # hidden when ild = no
    pat["ferritin"] = [None, 900.0]                          # no stand-in declared
    tab = build_cohort(parse_study(TEXT), fr).table
    assert tab["rp_ild"].tolist() == [False, True]
    assert pd.isna(tab.loc["paris:1", "ferritin"]) and tab.loc["paris:2", "ferritin"] == 900


def test_a_single_outcome_date() -> None:
    fr = frames([P(1, end=300, event=True)])
    fr["outcomes"]["lung_tx_date"] = [_day(100)]             # not an outcome of this study
    spec = parse_study(TEXT.replace('event_dates = ["death_date", "lung_tx_date"]',
                                    'event_dates = ["death_date"]'))
    assert build_cohort(spec, fr).table["end_day"].tolist() == [300.0]
    assert build_cohort(parse_study(TEXT), fr).table["end_day"].tolist() == [100.0]


def test_interval_variables_hold_the_cohorts_stays_with_a_start_in_days() -> None:
    fr = frames([P(1, end=300, icu=[(20, 30), (50, None)]), P(2, end=300, icu=[(5, 9)]),
                 P(3, end=300, icu=[(7, 8)])])
    icu = fr["icu_stays"]
    icu.loc[icu["record_id"] == "3", "icu_admit_date"] = NaT       # no start: not placed
    cohort = build_cohort(parse_study(TEXT), fr, excluded={"paris:2"})
    stays = cohort.intervals["in_icu_on_index"]
    assert list(stays.columns) == ["patient_id", "start", "stop"]
    assert stays.values.tolist() == [["paris:1", 20.0, 30.0], ["paris:1", 50.0, math.inf]]
    started = cohort.intervals["icu_at_index"]                # started_by: to forever
    assert started.values.tolist() == [["paris:1", 20.0, math.inf],
                                       ["paris:1", 50.0, math.inf]]


def test_an_interval_variable_of_one_event_reads_only_that_events_rows() -> None:
    fr = frames([P(1, end=300, icu=[(20, 30)]), P(2, end=300, icu=[(5, 9)])])
    fr["icu_stays"]["event"] = ["baseline_arm_1", "followup_arm_1"]
    spec = parse_study(TEXT.replace('kind = "started_by"',
                                    'event = "baseline_arm_1"\nkind = "started_by"'))
    started = build_cohort(spec, fr).intervals["icu_at_index"]
    assert started["patient_id"].tolist() == ["paris:1"]


def test_a_frame_missing_from_an_object_of_frames_is_a_study_data_error() -> None:
    class Frames:
        patients = frames([P(1, end=300)])["patients"]

    with pytest.raises(StudyDataError, match="no tidy frame 'outcomes' given to the study$"):
        get_frame(Frames(), "outcomes")
    with pytest.raises(StudyDataError, match=r"frames given: \['patients'\]"):
        get_frame({"patients": Frames.patients}, "outcomes")


def test_a_missing_entry_column_names_its_frame() -> None:
    with pytest.raises(StudyDataError, match=r"tidy frame 'patients' lacks column\(s\) "
                                             r"\['entry_date'\]"):
        build_cohort(parse_study(ENTRY_TEXT), frames([P(1, end=300)]))
