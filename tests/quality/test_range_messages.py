"""The dictionary's range rules word for word (a minimum, a maximum, both, "today" and
"now", a min/max that cannot be read) and, on a longitudinal project, the event
condition of the required and hidden rules (only rows of the events holding the form)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from registry.quality.derived import DerivedRules, derive_rules
from registry.sandbox.dictionary import METADATA_COLUMNS
from registry.schema import build_schema

TODAY, NOW = dt.date(2025, 6, 30), dt.datetime(2025, 6, 30, 12, 0)
CHECK = "Correct the value; check the digits and the unit."
FUTURE = "Correct the value; a date in the future is usually a typo (2052 for 2025)."


def _f(name: str, label: str, v: str = "", lo: str = "", hi: str = "", form: str = "enrol",
       logic: str = "", req: str = "", ftype: str = "text") -> dict[str, str]:
    return dict.fromkeys(METADATA_COLUMNS, "") | {
        "field_name": name, "form_name": form, "field_type": ftype, "field_label": label,
        "text_validation_type_or_show_slider_number": v, "text_validation_min": lo,
        "text_validation_max": hi, "branching_logic": logic, "required_field": req}


DICTIONARY = [
    _f("study_id", "Study ID"), _f("w", "Weight", "number", lo="1"),
    _f("h", "Height", "integer", hi="250"), _f("b", "Score", "integer", lo="1", hi="5"),
    _f("d", "Visit date", "date_ymd", hi="today"), _f("t", "Seen at", "datetime_ymd", hi="now"),
    _f("bad", "Dose", "integer", lo="abc"),
    _f("x", "Pain", "integer", form="visit", req="y", logic="[w] > 2"),
    _f("y", "Note", form="unplanned", req="y")]
EVENTS = [{"unique_event_name": n, "event_name": n, "arm_num": 1, "event_id": i}
          for i, n in enumerate(["base_arm_1", "v1_arm_1", "v2_arm_1"], start=41)]
MAPPING = [{"arm_num": 1, "unique_event_name": e, "form": f}
           for e, f in [("base_arm_1", "enrol"), ("v2_arm_1", "visit"), ("v1_arm_1", "visit")]]


def _rules(**project: Any) -> DerivedRules:
    schema = build_schema(DICTIONARY, repeating=[], **project)
    return derive_rules(schema, today=TODAY, now=NOW)


def test_range_rules_say_the_bounds_and_the_suggestion() -> None:
    derived = _rules()
    got = [(r.id, r.kwargs, r.message, r.suggestion, r.severity)
           for r in derived.rules if r.id.endswith(".range")]
    between = "expect_column_values_to_be_between"
    assert {r.type for r in derived.rules if r.id.endswith(".range")} == {between}
    assert got == [
        ("dictionary.w.range", {"column": "w", "min_value": 1.0, "max_value": None},
         "Weight is {w}; it should be at least 1", CHECK, "blocking"),
        ("dictionary.h.range", {"column": "h", "min_value": None, "max_value": 250.0},
         "Height is {h}; it should be at most 250", CHECK, "blocking"),
        ("dictionary.b.range", {"column": "b", "min_value": 1.0, "max_value": 5.0},
         "Score is {b}; it should be between 1 and 5", CHECK, "blocking"),
        ("dictionary.d.range",
         {"column": "d", "min_value": None, "max_value": "2025-06-30 00:00:00"},
         "Visit date is {d}; it should be at most today (2025-06-30)", FUTURE, "blocking"),
        ("dictionary.t.range",
         {"column": "t", "min_value": None, "max_value": "2025-06-30 12:00:00"},
         "Seen at is {t}; it should be at most now (2025-06-30 12:00)", FUTURE, "blocking"),
        ("dictionary.bad.range", {"column": "bad"}, "Dose is {bad}",
         "Correct the dictionary's min/max of this field.", "blocking")]
    assert derived.problems == {
        "dictionary.bad.range": "the min/max of bad cannot be read: 'abc' is not a whole number"}


def _show(value: bool, name: str = "x") -> dict[str, Any]:
    return {"type": "comparison", "column": {"name": f"show__{name}"}, "operator": "==",
            "parameter": value}


def test_on_a_longitudinal_project_required_and_hidden_rules_read_the_forms_events() -> None:
    events = {"type": "comparison", "column": {"name": "event"}, "operator": "IN",
              "parameter": ["v1_arm_1", "v2_arm_1"]}
    long = {r.id: r for r in _rules(events=EVENTS, form_event_mapping=MAPPING,
                                     arms=[{"arm_num": 1, "name": "Arm 1"}]).rules}
    assert long["dictionary.x.required"].kwargs == {
        "column": "x", "row_condition": {"type": "and", "conditions": [_show(True), events]}}
    assert long["dictionary.x.hidden"].kwargs == {
        "column": "x", "row_condition": {"type": "and", "conditions": [_show(False), events]}}
    assert long["dictionary.x.required"].message == (
        "Pain is empty, but it is needed because Weight > 2")
    # a form on no event: no event condition (and no branching logic: no condition)
    assert long["dictionary.y.required"].kwargs == {"column": "y"}
    # a classic project: the branching condition alone
    classic = {r.id: r for r in _rules().rules}
    assert classic["dictionary.x.required"].kwargs == {"column": "x",
                                                       "row_condition": _show(True)}
    assert classic["dictionary.y.required"].kwargs == {"column": "y"}
