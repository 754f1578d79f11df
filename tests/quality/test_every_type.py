"""Ground truth for every REDCap field type: each injected error is found, nothing else.

A small classic project (not the anti-MDA5 registry: forms and frames are named after
nothing the code knows) with every text validation kind, every field type, a repeating
form, branching logic within and across forms and with a function, and calculations
within and across forms. Flat rows go through the real tidy and validate. Clean records
give no flag; each injected error (one per record) gives exactly its expected flag.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from registry.fieldtypes import export_columns
from registry.quality import SiteLink, validate
from registry.sandbox.dictionary import METADATA_COLUMNS
from registry.tidy import tidy

TODAY = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 12, 0, 0)
def _f(name: str, form: str, ftype: str, label: str, *, choices: str = "", v: str = "",
       lo: str = "", hi: str = "", logic: str = "", req: str = "") -> dict[str, str]:
    return dict.fromkeys(METADATA_COLUMNS, "") | {
        "field_name": name, "form_name": form, "field_type": ftype, "field_label": label,
        "select_choices_or_calculations": choices,
        "text_validation_type_or_show_slider_number": v, "text_validation_min": lo,
        "text_validation_max": hi, "branching_logic": logic, "required_field": req}


DICTIONARY = [
    _f("study_id", "enrol", "text", "Study ID"),
    _f("d", "enrol", "text", "Enrolment date", v="date_dmy", lo="2000-01-01", hi="today",
       req="y"),
    _f("dt", "enrol", "text", "Consent time", v="datetime_seconds_mdy", hi="now"),
    _f("t", "enrol", "text", "Clinic time", v="time", lo="06:00", hi="22:00"),
    _f("tms", "enrol", "text", "Walk test", v="time_mm_ss"),
    _f("n1", "enrol", "text", "Temperature", v="number_1dp", lo="0", hi="100"),
    _f("n2c", "enrol", "text", "Ratio", v="number_2dp_comma_decimal", lo="0,00", hi="10,00"),
    _f("nc", "enrol", "text", "Dose (comma)", v="number_comma_decimal"),
    _f("i", "enrol", "text", "Visits planned", v="integer", lo="0", hi="200", req="y"),
    _f("mail", "enrol", "text", "E-mail", v="email"),
    _f("ph", "enrol", "text", "Phone", v="phone"),
    _f("zip", "enrol", "text", "Zip code", v="zipcode"),
    _f("alpha", "enrol", "text", "Initials", v="alpha_only"),
    _f("sex", "enrol", "radio", "Sex", choices="1, Female | 2, Male"),
    _f("clinic", "enrol", "dropdown", "Clinic", choices="1, North | 2, South"),
    _f("smoker", "enrol", "yesno", "Smoker", req="y"),
    _f("tf", "enrol", "truefalse", "Eligible"),
    _f("packs", "enrol", "text", "Packs a day", v="integer", logic="[smoker] = '1'", req="y"),
    _f("symptoms", "enrol", "checkbox", "Symptoms", choices="1, Cough | 2, Fever | 3, Other",
       req="y"),
    _f("other_sym", "enrol", "text", "Other symptom", logic="[symptoms(3)] = '1'"),
    _f("pain", "enrol", "slider", "Pain"),
    _f("consent", "enrol", "file", "Signed consent", req="y"),
    _f("info", "enrol", "descriptive", "Please check the consent form"),
    _f("age", "enrol", "calc", "Years since enrolment",
       choices="rounddown(datediff([d], 'today', 'y'), 0)"),
    _f("v_date", "visit", "text", "Visit date", v="date_ymd", req="y"),
    _f("v_weight", "visit", "text", "Weight", v="number"),
    _f("v_since", "visit", "calc", "Days since enrolment",
       choices="datediff([d], [v_date], 'd')"),
    _f("v_note", "visit", "text", "Smoking note", logic="[smoker] = '1'", req="y"),
    _f("c_date", "closeout", "text", "Close-out date", v="date_ymd",
       logic="datediff([d], 'today', 'y') > 1"),
    _f("c_reason", "closeout", "text", "Close-out reason", logic="[smoker] = = '1'",
       req="y"),
]
SITES = ("north", "south")


def _years(day: dt.date) -> int:
    return math.floor((TODAY - day).days / 365.2425)


def _record(rid: str, **over: str) -> list[dict[str, str]]:
    """One clean record (base row + two visits); `form__field=value` overrides a value."""
    d = over.pop("enrol__d", "2020-03-10")
    try:
        start = dt.date.fromisoformat(d)
    except ValueError:  # an impossible date: the calcs kept what they were
        start = dt.date(2020, 3, 10)
    base = {
        "d": d, "dt": "2020-03-10 09:30:00", "t": "09:15", "tms": "05:30", "n1": "37.2",
        "n2c": "1,25", "nc": "2,5", "i": "12", "mail": "a.b@example.org",
        "ph": "615-322-2222", "zip": "37212", "alpha": "AB", "sex": "1", "clinic": "2",
        "smoker": "1", "tf": "1", "packs": "2", "symptoms___1": "1", "symptoms___2": "0",
        "symptoms___3": "1", "other_sym": "itch", "pain": "40", "consent": "consent.pdf",
        "age": str(_years(start)), "c_date": "2024-01-02", "c_reason": "moved"}
    visits = [{"v_date": "2021-01-01", "v_weight": "70.5"},
              {"v_date": "2022-01-01", "v_weight": "71"}]
    for v in visits:
        v["v_since"] = str(abs((dt.date.fromisoformat(v["v_date"]) - start).days))
        v["v_note"] = "ok"
    for key, value in over.items():
        form, _, rest = key.partition("__")
        target = base if form in ("enrol", "closeout") else visits[int(form[-1]) - 1]
        target[rest] = value
    columns = export_columns(DICTIONARY)
    rows = [dict.fromkeys(columns, "") | {"study_id": rid, "redcap_repeat_instrument": "",
                                          "redcap_repeat_instance": ""} | base]
    for k, v in enumerate(visits, start=1):
        rows.append(dict.fromkeys(columns, "") | {
            "study_id": rid, "redcap_repeat_instrument": "visit",
            "redcap_repeat_instance": str(k)} | v)
    return rows


# (record changes, expected flags as (form, instance, field, check))
INJECTED: list[tuple[dict[str, str], set[tuple[str, str, str, str]]]] = [
    ({"enrol__d": "2023-02-30", "enrol__age": ""}, {("enrol", "", "d", "type")}),
    ({"enrol__d": "2052-01-01", "enrol__age": "26", "visit1__v_since": "11322",
      "visit2__v_since": "10957"}, {("enrol", "", "d", "range")}),
    ({"enrol__dt": "2052-01-01 10:00:00"}, {("enrol", "", "dt", "range")}),
    ({"enrol__dt": "2024-13-01 10:00:00"}, {("enrol", "", "dt", "type")}),
    ({"enrol__t": "23:30"}, {("enrol", "", "t", "range")}),
    ({"enrol__t": "25:00"}, {("enrol", "", "t", "type")}),
    ({"enrol__tms": "61:00"}, {("enrol", "", "tms", "type")}),
    ({"enrol__n1": "12"}, {("enrol", "", "n1", "type")}),
    ({"enrol__n1": "150.0"}, {("enrol", "", "n1", "range")}),
    ({"enrol__n2c": "1.50"}, {("enrol", "", "n2c", "type")}),
    ({"enrol__n2c": "12,50"}, {("enrol", "", "n2c", "range")}),
    ({"enrol__nc": "abc"}, {("enrol", "", "nc", "type")}),
    ({"enrol__i": "3.0"}, {("enrol", "", "i", "type")}),
    ({"enrol__i": "900"}, {("enrol", "", "i", "range")}),
    ({"enrol__i": ""}, {("enrol", "", "i", "required")}),
    ({"enrol__mail": "bad@"}, {("enrol", "", "mail", "type")}),
    ({"enrol__ph": "123"}, {("enrol", "", "ph", "type")}),
    ({"enrol__zip": "ABCDE"}, {("enrol", "", "zip", "type")}),
    ({"enrol__alpha": "ab1"}, {("enrol", "", "alpha", "type")}),
    ({"enrol__sex": "7"}, {("enrol", "", "sex", "choices")}),
    ({"enrol__clinic": "0"}, {("enrol", "", "clinic", "choices")}),
    ({"enrol__smoker": "2"}, {("enrol", "", "smoker", "type")}),
    ({"enrol__smoker": ""}, {("enrol", "", "smoker", "required")}),
    ({"enrol__tf": "5"}, {("enrol", "", "tf", "type")}),
    ({"enrol__packs": ""}, {("enrol", "", "packs", "required")}),
    ({"enrol__smoker": "0", "visit1__v_note": "", "visit2__v_note": ""},
     {("enrol", "", "packs", "hidden")}),
    ({"enrol__symptoms___1": "0", "enrol__symptoms___3": "0", "enrol__other_sym": ""},
     {("enrol", "", "symptoms", "required")}),
    ({"enrol__symptoms___3": "0"}, {("enrol", "", "other_sym", "hidden")}),
    ({"enrol__pain": "150"}, {("enrol", "", "pain", "range")}),
    ({"enrol__consent": ""}, {("enrol", "", "consent", "required")}),
    ({"enrol__age": "99"}, {("enrol", "", "age", "calc")}),
    ({"visit2__v_date": "", "visit2__v_since": ""}, {("visit", "2", "v_date", "required")}),
    ({"visit1__v_weight": "abc"}, {("visit", "1", "v_weight", "type")}),
    ({"visit2__v_since": "5"}, {("visit", "2", "v_since", "calc")}),
    ({"enrol__smoker": "0", "enrol__packs": "", "visit2__v_note": ""},
     {("visit", "1", "v_note", "hidden")}),
    ({"enrol__d": "2025-01-01", "enrol__age": "0", "visit1__v_since": "1461",
      "visit2__v_since": "1096"}, {("closeout", "", "c_date", "hidden")}),
]


@pytest.fixture(scope="module")
def result():
    rows: dict[str, list[dict[str, str]]] = {s: [] for s in SITES}
    for k in range(4):
        rows[SITES[k % 2]] += _record(f"clean-{k}")
    for k, (over, _) in enumerate(INJECTED):
        rows[SITES[k % 2]] += _record(f"err-{k}", **over)
    frames = tidy(rows, DICTIONARY, repeating=("visit",))
    return validate(frames, DICTIONARY, [], site_links=SiteLink("http://r.example/", "14.0", 7),
                    today=TODAY, now=NOW)


def test_every_injected_error_is_found_and_nothing_else(result) -> None:
    got = {(r.record_id, r.form, r.instance, r.field, r.rule_id.rsplit(".", 1)[-1])
           for r in result.failures.itertuples()}
    expected = {(f"err-{k}", *cell) for k, (_, cells) in enumerate(INJECTED) for cell in cells}
    assert sorted(got - expected) == [], "flags with no injected error"
    assert sorted(expected - got) == [], "injected errors not found"
    assert not result.failures["record_id"].str.startswith("clean").any()


def test_messages_are_plain_words_with_the_label_and_every_rule_suggests(result) -> None:
    msg = result.failures.set_index(["record_id", "rule_id"])["message"]
    assert msg[("err-7", "dictionary.n1.type")] == \
        "Temperature holds '12', which is not a number with 1 decimal (such as 12.5)"
    assert msg[("err-9", "dictionary.n2c.type")] == ("Ratio holds '1.50', which is not a "
                                                     "number with 2 decimals, with a comma "
                                                     "(such as 12,56)")
    assert msg[("err-4", "dictionary.t.range")] == \
        "Clinic time is 23:30; it should be between 06:00 and 22:00"
    assert "now (2025-06-30 12:00)" in msg[("err-2", "dictionary.dt.range")]
    assert "Symptoms: no box is ticked" in msg[("err-26", "dictionary.symptoms.required")]
    assert msg[("err-30", "dictionary.age.calc")] == \
        "Years since enrolment is 99 but its formula gives 5"
    assert "Smoker is Yes" in msg[("err-34", "dictionary.v_note.hidden")]
    assert all(r.suggestion for r in result.rules if r.suite == "dictionary")
    calc = next(r for r in result.rules if r.id == "dictionary.v_since.calc")
    assert calc.computed_from == ("d", "v_date")
    assert "check the fields it is computed from (Enrolment date, Visit date)" in \
        calc.suggestion


def test_unreadable_logic_is_an_error_result_naming_field_and_logic(result) -> None:
    rr = result.rule_results
    errors = rr[rr["status"] == "error"]
    assert set(errors["rule_id"]) == {"dictionary.c_reason.required",
                                      "dictionary.c_reason.hidden"}
    assert errors["error"].str.contains("c_reason").all()
    assert errors["error"].str.contains("[smoker] = = '1'", regex=False).all()
    assert (errors["checked"] == 0).all()


def test_comma_decimals_are_numbers_in_tidy() -> None:
    frames = tidy({"north": _record("1")}, DICTIONARY, repeating=("visit",))
    enrol = frames.forms["enrol"]
    assert str(enrol["n2c"].dtype) == "Float64" and enrol["n2c"].iloc[0] == 1.25
    assert enrol["nc"].iloc[0] == 2.5
    assert enrol["t"].iloc[0] == "09:15" and str(enrol["t"].dtype) == "string"
    assert enrol["dt"].iloc[0] == pd.Timestamp("2020-03-10 09:30:00")
