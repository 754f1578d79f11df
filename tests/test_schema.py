"""registry.schema + registry.profile: the registry's shape from REDCap's exports and a
profile; and tidy on a longitudinal project (events, arms, repeating events)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from registry.profile import Profile, ProfileError, load_profile, parse_profile
from registry.quality.prepare import prepare
from registry.sandbox import dictionary
from registry.schema import (
    SchemaError,
    build_schema,
    missing_profile_fields,
    schema_from_snapshot,
)
from registry.tidy import KEY_COLUMNS, tidy
from tests import anti_mda5


def _meta(*rows: tuple[str, str, str, str]) -> list[dict[str, str]]:
    """(field, form, type, validation) -> dictionary rows."""
    return [{"field_name": f, "form_name": form, "field_type": t, "field_label": f.title(),
             "text_validation_type_or_show_slider_number": v,
             "select_choices_or_calculations": "1, Yes | 0, No" if t == "radio" else "",
             "required_field": "y" if f.endswith("_date") else "", "branching_logic": ""}
            for f, form, t, v in rows]


META = _meta(("study_id", "enrolment", "text", ""), ("dob", "enrolment", "text", "date_ymd"),
             ("enrol_date", "enrolment", "text", "date_ymd"),
             ("visit_date", "visit", "text", "date_ymd"), ("weight", "visit", "text", "number"),
             ("ae_date", "adverse_event", "text", "date_ymd"),
             ("ae_grade", "adverse_event", "radio", ""),
             ("end_date", "closeout", "text", "date_ymd"))
EVENTS = [
    {"event_name": "Enrolment", "arm_num": 1, "unique_event_name": "enrol_arm_1",
     "event_id": 41},
    {"event_name": "Visit", "arm_num": 1, "unique_event_name": "visit_arm_1", "event_id": 42},
    {"event_name": "Close-out", "arm_num": 1, "unique_event_name": "close_arm_1",
     "event_id": 43},
    {"event_name": "Enrolment", "arm_num": 2, "unique_event_name": "enrol_arm_2",
     "event_id": 51},
    {"event_name": "Visit", "arm_num": 2, "unique_event_name": "visit_arm_2", "event_id": 52},
]
MAPPING = [{"arm_num": e["arm_num"], "unique_event_name": e["unique_event_name"], "form": f}
           for e, forms in zip(EVENTS, (["enrolment"], ["visit", "adverse_event"],
                                        ["closeout"], ["enrolment"], ["visit"]), strict=True)
           for f in forms]
REPEATING = [{"event_name": "visit_arm_1", "form_name": "adverse_event"},
             {"event_name": "visit_arm_2", "form_name": ""}]  # the arm-2 visit repeats
INFO = {"project_id": 7, "is_longitudinal": 1, "has_repeating_instruments_or_events": 1}


def _profile(text: str, path: Path) -> Profile:
    path.write_text(text, encoding="utf-8")
    return load_profile(path)


def test_a_classic_project_without_profile_names_frames_after_forms() -> None:
    meta = _meta(("record_id", "demo", "text", ""), ("x", "demo", "text", ""),
                 ("y", "labs", "text", "number"))
    s = build_schema(meta, repeating=[{"form_name": "labs", "custom_form_label": ""}],
                     instruments=[{"instrument_name": "labs", "instrument_label": "Lab tests"}])
    assert s.frames() == {"demo": "demo", "labs": "labs"} and not s.longitudinal
    assert s.frame_of("labs") == "labs" and s.form_of("demo") == "demo"
    assert s.is_repeating("labs") and not s.is_repeating("demo")
    assert s.form_labels == {"demo": "Demo", "labs": "Lab tests"}
    assert s.role("birth") is None and s.events_of("demo") == ()
    assert s.fields["y"].validation == "number" and s.id_field == "record_id"
    with pytest.raises(KeyError):
        s.frame_of("nope")
    with pytest.raises(SchemaError, match="no data dictionary"):
        build_schema([])


def test_a_longitudinal_project_from_redcaps_exports() -> None:
    s = build_schema(META, project_info=INFO, events=EVENTS, arms=[
        {"arm_num": 1, "name": "Drug"}, {"arm_num": 2, "name": "Placebo"}],
        form_event_mapping=MAPPING, repeating=REPEATING)
    assert s.longitudinal and [a.name for a in s.arms] == ["Drug", "Placebo"]
    assert s.events_of("visit") == ("visit_arm_1", "visit_arm_2")
    assert s.event("visit_arm_2").arm == 2 and s.event_ids()["close_arm_1"] == 43
    assert s.is_repeating("adverse_event", "visit_arm_1")
    assert s.is_repeating("visit", "visit_arm_2") and not s.is_repeating("visit", "visit_arm_1")
    assert s.is_repeating("visit") and not s.is_repeating("enrolment")
    with pytest.raises(SchemaError, match="nowhere_arm_1"):
        build_schema(META, events=EVENTS, form_event_mapping=[
            {"arm_num": 1, "unique_event_name": "nowhere_arm_1", "form": "visit"}])
    again = schema_from_snapshot(META, {"project_info": INFO}, {
        "events": EVENTS, "form_event_mapping": MAPPING, "repeating_forms": REPEATING})
    assert again.form_events == s.form_events and again.repeating_events == {"visit_arm_2"}


def _row(rid: str, event: str, instr: str = "", inst: object = "", **values: str
         ) -> dict[str, object]:
    row: dict[str, object] = {"study_id": rid, "redcap_event_name": event,
                              "redcap_repeat_instrument": instr,
                              "redcap_repeat_instance": inst}
    for m in META[1:]:
        row[m["field_name"]] = ""
    for form in dict.fromkeys(m["form_name"] for m in META):
        row[f"{form}_complete"] = ""
    row.update(values)
    return row


def test_tidy_keys_rows_by_event_arm_and_instance() -> None:
    s = build_schema(META, project_info=INFO, events=EVENTS, form_event_mapping=MAPPING,
                     repeating=REPEATING)
    rows = [
        _row("1", "enrol_arm_1", dob="1960-01-01", enrol_date="2020-01-01",
             enrolment_complete="2"),
        _row("1", "visit_arm_1", visit_date="2020-02-01", weight="70.5",
             adverse_event_complete="0"),   # no adverse event on this row: not a form row
        _row("1", "visit_arm_1", "adverse_event", 1, ae_date="2020-02-03", ae_grade="1"),
        _row("1", "visit_arm_1", "adverse_event", 2, ae_date="2020-02-09", ae_grade="7"),
        _row("1", "close_arm_1", end_date="2021-01-01", weight="99"),  # not on close-out
        _row("2", "enrol_arm_2", dob="1970-01-01", enrol_date="2020-03-01"),
        _row("2", "visit_arm_2", "", 1, visit_date="2020-04-01"),
        _row("2", "visit_arm_2", "", 2, visit_date="2020-05-01", weight="oops"),
    ]
    f = tidy({"lyon": rows}, s)
    assert list(f) == ["enrolment", "visit", "adverse_event", "closeout"]
    for frame in f.values():
        assert tuple(frame.columns[:7]) == KEY_COLUMNS
    visit = f["visit"]
    assert visit[["record_id", "event", "instance"]].astype(str).values.tolist() == [
        ["1", "visit_arm_1", "<NA>"], ["2", "visit_arm_2", "1"], ["2", "visit_arm_2", "2"]]
    assert visit["arm"].tolist() == [1, 2, 2] and str(visit["arm"].dtype) == "Int64"
    assert visit["weight"].iloc[0] == 70.5  # the close-out row's weight is not a visit
    ae = f["adverse_event"]
    assert ae["instance"].tolist() == [1, 2] and set(ae["event"]) == {"visit_arm_1"}
    assert f["closeout"]["end_date"].tolist() == [pd.Timestamp("2021-01-01")]
    assert f["enrolment"]["event"].tolist() == ["enrol_arm_1", "enrol_arm_2"]
    conf = f.conformance
    assert conf[["record_id", "event", "instance", "field"]].astype(str).values.tolist() == [
        ["2", "visit_arm_2", "2", "weight"]]


PROFILE = """
[registry]
name = "visits"
[patient]
form = "enrolment"
[frames]
patients = "enrolment"
visits = "visit"
[roles]
birth = "dob"
entry = "enrol_date"
last_follow_up = { field = "end_date", event = "close_arm_1" }
[columns]
dob = { kind = "value", role = "birth" }
enrol_date = { kind = "value", role = "entry" }
last_visit = { kind = "latest", field = "visit_date" }
end_date = { kind = "value", role = "last_follow_up" }
followed_to = { kind = "first_of", columns = ["end_date", "last_visit"] }
age_at_entry = { kind = "years_between", from = "dob", to = "enrol_date", digits = 0 }
n_visits = { kind = "count", frame = "visits" }
is_last_visit = { kind = "is_last", frame = "visits", order_by = "visit_date" }
"""


def test_profile_columns_on_a_longitudinal_project(tmp_path: Path) -> None:
    profile = _profile(PROFILE, tmp_path / "profile.toml")
    s = build_schema(META, project_info=INFO, events=EVENTS, form_event_mapping=MAPPING,
                     repeating=REPEATING, profile=profile)
    assert s.frames() == {"patients": "enrolment", "visits": "visit",
                          "adverse_event": "adverse_event", "closeout": "closeout"}
    assert s.role("last_follow_up") == "end_date"
    rows = [_row("1", "enrol_arm_1", dob="1960-06-01", enrol_date="2020-01-01"),
            _row("1", "visit_arm_1", visit_date="2020-02-01"),
            _row("1", "close_arm_1", end_date="2021-01-01"),
            _row("2", "enrol_arm_2", dob="1970-01-01", enrol_date="2020-03-01"),
            _row("2", "visit_arm_2", "", 1, visit_date="2020-05-01"),
            _row("2", "visit_arm_2", "", 2, visit_date="2020-04-01")]
    ready = prepare(tidy({"s": rows}, s), s)
    assert ready.unavailable == {}
    v = ready.frames["visits"].set_index(["record_id", "instance"])
    assert v["n_visits"].tolist() == [1, 2, 2]
    assert v["followed_to"].tolist() == [pd.Timestamp("2021-01-01"),
                                         pd.Timestamp("2020-05-01"), pd.Timestamp("2020-05-01")]
    assert v["age_at_entry"].tolist() == [60, 50, 50]
    assert v["is_last_visit"].tolist() == [True, True, False]  # ordered by visit date
    assert "dob" in ready.frames["visits"] and "is_last_visit" not in ready.frames["patients"]


@pytest.mark.parametrize(("text", "key"), [
    ("[registry]\nname = 'x'\n[frames]\npatients = 'nope'\n", "frames.patients"),
    ("[registry]\nname = 'x'\n[patient]\nform = 'closeout'\nevent = 'visit_arm_1'\n",
     "patient.event"),
    ("[registry]\nname = 'x'\n[patient]\nform = 'nope'\n", "patient.form"),
    ("[registry]\nname = 'x'\n[roles]\nbirth = { field = 'dob', event = 'visit_arm_9' }\n",
     "roles.birth.event"),
    ("[registry]\nname = 'x'\n[roles]\nbirth = { field = 'dob', event = 'visit_arm_1' }\n",
     "roles.birth.event"),
    ("[registry]\nname = 'x'\n[columns]\nn = { kind = 'count', frame = 'visits' }\n",
     "columns.n.frame"),
])
def test_a_profile_naming_what_the_project_lacks_is_refused(tmp_path: Path, text: str,
                                                            key: str) -> None:
    profile = _profile(text, tmp_path / "p.toml")
    with pytest.raises(ProfileError) as err:
        build_schema(META, project_info=INFO, events=EVENTS, form_event_mapping=MAPPING,
                     repeating=REPEATING, profile=profile)
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "p.toml") in message and key in message


@pytest.mark.parametrize(("text", "key"), [
    ("name = 'x'\n", "name"),
    ("[registry]\nname = 'X Y'\n", "registry.name"),
    ("[registry]\nname = 'x'\n[patient]\nfrom = 'a'\n", "patient.from"),
    ("[registry]\nname = 'x'\n[columns]\na = { kind = 'sum' }\n", "columns.a.kind"),
    ("[registry]\nname = 'x'\n[columns]\na = { kind = 'first_of', columns = ['b'] }\n",
     "columns.a.columns"),
    ("[registry]\nname = 'x'\n[columns]\na = { kind = 'value' }\n", "columns.a"),
    ("[registry]\nname = 'x'\n[columns]\na = { kind = 'is_last', frame = 'f' }\n",
     "columns.a.order_by"),
    ("[registry]\nname = 'x'\n[columns]\na = { kind = 'value', field = 'f', extra = 1 }\n",
     "columns.a.extra"),
    ("[registry]\nname = 'x'\n[frames]\na = 'f'\nb = 'f'\n", "frames.b"),
    ("[registry]\nname = 'x'\n[roles]\nbirth = 3\n", "roles.birth"),
    ("[registry\n", "not valid TOML"),
])
def test_malformed_profiles_are_one_line_naming_the_key(tmp_path: Path, text: str,
                                                        key: str) -> None:
    path = tmp_path / "p.toml"
    with pytest.raises(ProfileError) as err:
        _profile(text, path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and key in message


def test_the_anti_mda5_profile_fits_its_dictionary() -> None:
    s = anti_mda5.schema(dictionary.metadata())
    assert s.profile is not None and missing_profile_fields(s.profile, s) == {}
    assert s.frames()["icu_stays"] == "icu_stay"
    assert parse_profile({"registry": {"name": "a"}}).columns == ()
