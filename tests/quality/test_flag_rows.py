"""What a coordinator reads in one flag row: its link, its values, its form and event.

Killers of surviving mutants of `registry.quality.flags` (docs/testing.md): the
DataEntry link (root without `/api/`, record ids and form names quoted, the event's id
on a longitudinal project, the instance), a value written as a coordinator reads it
(empty, dates, Yes/No, whole numbers, numpy scalars, hidden characters), which site's
link a flag gets, and where `failures_from_outcomes` points a flag on another form's
field (its instance, its event). The runner calls `failures_from_outcomes` with the
frames, outcomes and schema maps built here by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from registry.quality.flags import (
    FAILURE_COLUMNS,
    SiteLink,
    failures_from_outcomes,
    form_link,
    format_value,
    link_for,
)
from registry.quality.gx_adapter import Outcome
from registry.quality.suites import Rule

ROOT = "https://redcap.example.org"
PAGE = f"{ROOT}/redcap_v14.5.1/DataEntry/index.php?pid=31"


@pytest.mark.parametrize("base", [f"{ROOT}/api/", f"{ROOT}/api", f"{ROOT}/", ROOT])
def test_the_link_starts_at_redcaps_root_whatever_the_api_url_looks_like(base: str) -> None:
    link = SiteLink(base, "14.5.1", 31)
    assert link.root == ROOT
    assert form_link(link, "7", "baseline", "") == f"{PAGE}&id=7&page=baseline"


def test_a_base_url_under_a_folder_keeps_the_folder() -> None:
    assert SiteLink("https://h.org/redcap/api/", "1", 2).root == "https://h.org/redcap"
    assert SiteLink("https://h.org/apix/", "1", 2).root == "https://h.org/apix"


def test_record_ids_and_forms_are_quoted_and_the_instance_and_event_added() -> None:
    link = SiteLink(f"{ROOT}/api/", "14.5.1", 31, {"visit_1_arm_1": 41, "visit_2_arm_1": 42})
    assert form_link(None, "7", "baseline", "2") == ""
    assert form_link(link, "P 1/2&x", "icu_stay", "3") == (
        f"{PAGE}&id=P%201%2F2%26x&page=icu_stay&instance=3")
    assert form_link(link, "7", "vitals", "", "visit_2_arm_1") == (
        f"{PAGE}&id=7&page=vitals&event_id=42")
    assert form_link(link, "7", "vitals", "1", "visit_1_arm_1") == (
        f"{PAGE}&id=7&page=vitals&event_id=41&instance=1")
    # an event REDCap gave no id for: the record's first event opens
    assert form_link(link, "7", "vitals", "", "unknown_arm_1") == f"{PAGE}&id=7&page=vitals"


@pytest.mark.parametrize(("value", "text"), [
    (None, "(empty)"), (pd.NA, "(empty)"), (pd.NaT, "(empty)"), (float("nan"), "(empty)"),
    (np.float64("nan"), "(empty)"), (np.datetime64("NaT"), "(empty)"),
    (pd.Timestamp("2025-06-30"), "2025-06-30"),
    (pd.Timestamp("2025-06-30 14:05"), "2025-06-30 14:05"),
    (True, "Yes"), (False, "No"), (np.bool_(True), "Yes"), (np.bool_(False), "No"),
    (3.0, "3"), (np.float64(12.0), "12"), (3.5, "3.5"), (np.int64(4), "4"), (0, "0"),
    ("2020-02-30", "2020-02-30"), ("a\u202eb\x07", "a<U+202E>b\\x07"), ("", ""),
])
def test_a_value_reads_as_a_coordinator_reads_it(value: object, text: str) -> None:
    assert format_value(value) == text


def test_a_long_value_is_cut_and_a_list_is_shown_as_it_is() -> None:
    assert format_value("x" * 600).endswith("… [cut: 600 characters in all]")
    assert format_value([1, 2]) == "[1, 2]"  # pd.isna gives an array: not "empty"


def test_each_site_gets_its_own_link_or_the_shared_one() -> None:
    paris, anyone = SiteLink("https://p.org", "1", 1), SiteLink("https://a.org", "1", 2)
    assert link_for(None, "paris") is None
    assert link_for(paris, "lyon") is paris
    assert link_for({"paris": paris, "*": anyone}, "paris") is paris
    assert link_for({"paris": paris, "*": anyone}, "lyon") is anyone
    assert link_for({"paris": paris}, "lyon") is None


def _rule(field: str, message: str, rule_id: str = "r", frame: str = "rows") -> Rule:
    return Rule(id=rule_id, type="expect_column_values_to_not_be_null",
                kwargs={"column": field}, frame=frame, field=field, severity="blocking",
                dimension="completeness", message=message)


def _outcome(rule: Rule, failing: list[int], rows: int = 3, error: str | None = None) -> Outcome:
    return Outcome(rule, np.array(failing, dtype=int), np.ones(rows, bool), error)


ROWS = pd.DataFrame({
    "site": ["paris", "paris", "lyon"], "patient_id": ["paris:1", "paris:2", "lyon:1"],
    "record_id": ["1", "2", "1"], "event": ["visit_1_arm_1", "visit_2_arm_1", None],
    "form": ["treatments", "treatments", "treatments"], "instance": [1.0, 2.0, np.nan],
    "trt_stop": [pd.Timestamp("2020-01-15"), pd.NaT, pd.Timestamp("2021-03-01 08:30")],
    "trt_start": [pd.Timestamp("2020-02-01"), pd.Timestamp("2020-03-01"), pd.NaT],
    "death_date": [pd.Timestamp("2020-01-01"), pd.NaT, pd.NaT],
    "icu_mv": [True, False, True],
})
FIELD_FORMS = {"trt_stop": "treatments", "trt_start": "treatments",
               "death_date": "outcome", "icu_mv": "icu_stay"}
LINKS = {"paris": SiteLink(f"{ROOT}/api/", "14.5.1", 31,
                           {"visit_1_arm_1": 41, "visit_2_arm_1": 42, "end_arm_1": 49}),
         "*": SiteLink("https://other.org/api/", "14.5.1", 9)}


def _flags(outcomes: list[Outcome], form_events: dict[str, list[str]] | None = None,
           links: object = LINKS) -> list[dict[str, object]]:
    out = failures_from_outcomes({"rows": ROWS}, outcomes, FIELD_FORMS, ["treatments",
                                                                         "icu_stay"],
                                 links, form_events)  # type: ignore[arg-type]
    assert list(out.columns) == FAILURE_COLUMNS
    return out.to_dict("records")


def test_a_flag_row_carries_the_record_its_values_and_its_link() -> None:
    rule = _rule("trt_stop", "Stop {value} is before start {trt_start}")
    first, third = _flags([_outcome(rule, [0, 2])])
    assert first == {
        "site": "paris", "patient_id": "paris:1", "record_id": "1", "event": "visit_1_arm_1",
        "form": "treatments", "instance": "1", "field": "trt_stop", "rule_id": "r",
        "severity": "blocking", "message": "Stop 2020-01-15 is before start 2020-02-01",
        "link": f"{PAGE}&id=1&page=treatments&event_id=41&instance=1", "value": "2020-01-15"}
    # no instance on the row, no event, the "*" site link; an empty value reads (empty)
    assert (third["instance"], third["event"], third["value"], third["message"]) == (
        "", "", "2021-03-01 08:30", "Stop 2021-03-01 08:30 is before start (empty)")
    assert third["link"] == ("https://other.org/redcap_v14.5.1/DataEntry/index.php?pid=9"
                             "&id=1&page=treatments")


def test_rules_that_did_not_run_or_found_nothing_give_no_rows() -> None:
    rule = _rule("trt_stop", "m")
    assert _flags([_outcome(rule, [0], error="no such column"), _outcome(rule, [])]) == []
    assert _flags([]) == []


def test_a_message_naming_the_field_gets_its_value_too() -> None:
    rule = _rule("trt_start", "Start {trt_start}; stop {trt_stop}; ventilated {icu_mv}")
    (row,) = _flags([_outcome(rule, [1])])
    assert row["message"] == "Start 2020-03-01; stop (empty); ventilated No"
    assert row["value"] == "2020-03-01"


def test_a_flag_on_a_non_repeating_forms_field_has_no_instance() -> None:
    """A treatment after death flagged on the outcome form's death date."""
    rule = _rule("death_date", "Died {value}")
    (row,) = _flags([_outcome(rule, [0])])
    assert (row["form"], row["instance"], row["field"]) == ("outcome", "", "death_date")
    assert row["link"] == f"{PAGE}&id=1&page=outcome&event_id=41"
    assert row["message"] == "Died 2020-01-01"


def test_a_flag_on_another_repeating_forms_field_points_at_the_rows_instance() -> None:
    rule = _rule("icu_mv", "Ventilated {value}")
    (row,) = _flags([_outcome(rule, [1])])
    assert (row["form"], row["instance"], row["event"]) == ("treatments", "2", "visit_2_arm_1")
    assert row["message"] == "Ventilated No"


def test_an_instance_level_rule_flags_the_whole_instance() -> None:
    rule = _rule("", "Duplicate treatment", rule_id="records.duplicate")
    (row,) = _flags([_outcome(rule, [1])])
    assert (row["form"], row["instance"], row["field"], row["value"]) == (
        "treatments", "2", "", "")


def test_on_a_longitudinal_project_a_flag_opens_the_event_that_holds_its_form() -> None:
    rule = _rule("death_date", "Died {value}")
    # outcome lives on one event only: the flag goes there, whatever the row's event
    (row,) = _flags([_outcome(rule, [0])], {"outcome": ["end_arm_1"]})
    assert (row["form"], row["event"]) == ("outcome", "end_arm_1")
    assert row["link"] == f"{PAGE}&id=1&page=outcome&event_id=49"
    # on the row's own event when the form is there too
    (row,) = _flags([_outcome(rule, [0])], {"outcome": ["end_arm_1", "visit_1_arm_1"]})
    assert row["event"] == "visit_1_arm_1"
    # on several events, none the row's: REDCap opens the first event
    (row,) = _flags([_outcome(rule, [1])], {"outcome": ["end_arm_1", "visit_1_arm_1"]})
    assert (row["event"], row["link"]) == ("", f"{PAGE}&id=2&page=outcome")
    # a flag on the row's own form keeps the row's event
    own = _rule("trt_stop", "m")
    (row,) = _flags([_outcome(own, [0])], {"treatments": ["end_arm_1"]})
    assert row["event"] == "visit_1_arm_1"


def test_two_rules_on_one_frame_and_a_frame_of_their_own() -> None:
    other = pd.DataFrame({"site": ["lyon"], "patient_id": ["lyon:9"], "record_id": ["9"],
                          "form": ["baseline"], "instance": [None], "sex": ["x"]})
    rows = failures_from_outcomes(
        {"rows": ROWS, "patients": other},
        [_outcome(_rule("trt_stop", "a", "r1"), [0]),
         _outcome(_rule("sex", "sex {value}", "r2", frame="patients"), [0], rows=1),
         _outcome(_rule("trt_start", "b", "r3"), [2])],
        FIELD_FORMS, ["treatments"], None)
    assert rows[["rule_id", "record_id", "site", "message", "link"]].values.tolist() == [
        ["r1", "1", "paris", "a", ""], ["r2", "9", "lyon", "sex x", ""],
        ["r3", "1", "lyon", "b", ""]]


def test_a_missing_event_or_instance_reads_empty_however_pandas_spells_it() -> None:
    frame = pd.DataFrame({
        "site": ["lyon"] * 3, "patient_id": ["lyon:1", "lyon:2", "lyon:3"],
        "record_id": ["1", "2", "3"], "form": ["baseline"] * 3,
        "event": pd.Series([None, np.nan, pd.NA], dtype=object),
        "instance": pd.Series([None, np.nan, pd.NA], dtype=object), "sex": ["x", "y", "z"]})
    rows = failures_from_outcomes({"patients": frame},
                                  [_outcome(_rule("sex", "m", frame="patients"), [0, 1, 2])],
                                  {"sex": "baseline"}, [], LINKS["*"])
    assert rows["event"].tolist() == ["", "", ""]
    assert rows["instance"].tolist() == ["", "", ""]
    assert rows["link"].str.endswith("&page=baseline").all()


def test_date_time_values_read_as_format_value_writes_them() -> None:
    """The fast path for datetime64 columns (`flags._texts`) against `format_value`:
    a missing value, midnight, minutes, seconds, a fraction of a second (dropped)."""
    when = pd.Series(pd.to_datetime([None, "2020-01-02", "2020-01-02 10:30",
                                     "2020-01-02 10:30:15", "2020-01-02 10:30:00.5",
                                     "1677-09-22", "2262-04-10 23:59:59"], format="ISO8601"))
    frame = pd.DataFrame({"site": ["lyon"] * 7, "patient_id": [f"lyon:{i}" for i in range(7)],
                          "record_id": [str(i) for i in range(7)], "form": ["baseline"] * 7,
                          "seen": when})
    rows = failures_from_outcomes(
        {"patients": frame}, [_outcome(_rule("seen", "seen {value}", frame="patients"),
                                       list(range(7)), rows=7)], {"seen": "baseline"}, [], None)
    expected = [format_value(v) for v in when.astype(object)]
    assert expected[:5] == ["(empty)", "2020-01-02", "2020-01-02 10:30",
                            "2020-01-02 10:30:15", "2020-01-02 10:30"]
    assert rows["value"].tolist() == expected
    assert rows["message"].tolist() == [f"seen {e}" for e in expected]


def test_a_field_outside_the_dictionary_frames_without_instance_or_event_maps() -> None:
    """A prepared column (no form in the dictionary) flags the row's own form and
    instance; a frame without an instance column; a form no event holds."""
    rows = ROWS.assign(age_at_onset=[30, 40, 50])
    out = failures_from_outcomes({"rows": rows}, [_outcome(_rule("age_at_onset", "m"), [1])],
                                 FIELD_FORMS, ["treatments"], None)
    assert out[["form", "instance"]].values.tolist() == [["treatments", "2"]]
    bare = ROWS.drop(columns=["instance", "event"])
    out = failures_from_outcomes({"rows": bare}, [_outcome(_rule("trt_stop", "m"), [0]),
                                                  _outcome(_rule("death_date", "m"), [0]),
                                                  _outcome(_rule("icu_mv", "m"), [0])],
                                 FIELD_FORMS, ["treatments", "icu_stay"], None,
                                 {"treatments": ["e1"]})
    assert out[["form", "instance", "event"]].values.tolist() == [
        ["treatments", "", ""], ["outcome", "", ""], ["treatments", "", ""]]
