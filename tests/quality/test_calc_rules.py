"""Calculated fields: the stored value against the formula's, as REDCap stores it.

REDCap keeps a calc result at full precision, so a stored 22.857142857 and the
formula's 22.857142857142858 are the same value (no flag), while 22.86 is another one
(a flag naming both, and the fields to check). A formula that cannot be read ends as an
error, never as a silent pass. Through the real tidy and validate, and the added
`calc__` column itself (its index and type) through `add_dictionary_columns`.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from registry.errors import SuiteDefinitionError
from registry.fieldtypes import export_columns
from registry.quality import validate
from registry.quality.derived import add_dictionary_columns, load_derived_config
from registry.sandbox.dictionary import METADATA_COLUMNS
from registry.tidy import tidy

TODAY = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 12, 0)


def _f(name: str, ftype: str, label: str, v: str = "", calc: str = "") -> dict[str, str]:
    return dict.fromkeys(METADATA_COLUMNS, "") | {
        "field_name": name, "form_name": "enrol", "field_type": ftype, "field_label": label,
        "text_validation_type_or_show_slider_number": v,
        "select_choices_or_calculations": calc}


DICTIONARY = [
    _f("study_id", "text", "Study ID"), _f("w", "text", "Weight", "number"),
    _f("h", "text", "Height", "number"), _f("seen", "text", "Seen at", "datetime_ymd"),
    _f("bad", "calc", "Bad", calc="[w] +* 2"),     # before the others: they still run
    _f("bmi", "calc", "BMI", calc="[w]/([h]*[h])"), _f("k", "calc", "Five", calc="2+3"),
    _f("z", "calc", "Excess weight", calc="[w]-70"),
    _f("hours", "calc", "Hours since seen", calc="datediff([seen], 'now', 'h')"),
    {**_f("sym", "checkbox", "Symptoms"), "select_choices_or_calculations": "1, A | 2, B"},
    _f("n_sym", "calc", "Symptoms ticked", calc="[sym(1)] + [sym(2)] + [h]"),
]
COLUMNS = export_columns(DICTIONARY)


def _rows(*values: dict[str, str]) -> list[dict[str, str]]:
    clean = {"w": "70", "h": "1.75", "bmi": "22.857142857", "k": "5", "bad": "1", "z": "0",
             "seen": "2025-06-30 09:00", "hours": "3", "sym___1": "1", "sym___2": "0",
             "n_sym": "2.75"}
    return [dict.fromkeys(COLUMNS, "") | {"study_id": str(i)} | clean | v
            for i, v in enumerate(values, 1)]


def _flags(rows: list[dict[str, str]]) -> pd.DataFrame:
    res = validate(tidy({"paris": rows}, DICTIONARY), DICTIONARY, [], site_links=None,
                   today=TODAY, now=NOW)
    return res.failures.set_index(["record_id", "rule_id"])


def test_a_stored_calc_at_full_precision_is_not_flagged_and_another_value_is() -> None:
    flags = _flags(_rows({}, {"bmi": "22.86"}, {"bmi": "22.85716"}, {"bmi": "22.8572"},
                         {"z": "0.0000009"}, {"z": "0.000002"}, {"w": ""}, {"bmi": ""}))
    # agreement is to 1e-6 plus 1e-6 of the value: 22.85716 is 1.7e-5 away (within
    # 2.4e-5), 22.8572 5.7e-5 (not); 0.0000009 is within 1e-6 of 0, 0.000002 is not;
    # a formula that cannot be computed (no weight) or an empty stored value: no flag
    assert set(flags.index) == {("2", "dictionary.bmi.calc"), ("4", "dictionary.bmi.calc"),
                                ("6", "dictionary.z.calc")}
    row = flags.loc[("2", "dictionary.bmi.calc")]
    assert row["message"] == "BMI is 22.86 but its formula gives 22.857142857142858"
    assert row["suggestion"] == (
        "REDCap calculates this field: check the fields it is computed from (Weight, "
        "Height), then save the form so REDCap recalculates it.")


def test_a_calc_reading_a_checkbox_names_the_checkbox() -> None:
    flags = _flags(_rows({}, {"n_sym": "3"}))
    assert set(flags.index) == {("2", "dictionary.n_sym.calc")}
    assert "(Symptoms, Height)" in flags.loc[("2", "dictionary.n_sym.calc")]["suggestion"]


def test_a_calc_from_no_field_asks_to_save_the_form() -> None:
    flags = _flags(_rows({"k": "6"}))
    row = flags.loc[("1", "dictionary.k.calc")]
    assert row["message"] == "Five is 6 but its formula gives 5"
    assert row["suggestion"] == ("REDCap calculates this field: save the form so it is "
                                 "recalculated.")


def test_a_calc_reading_now_uses_the_runs_time() -> None:
    flags = _flags(_rows({}, {"hours": "4"}))
    assert set(flags.index) == {("2", "dictionary.hours.calc")}
    assert flags.loc[("2", "dictionary.hours.calc")]["message"] == (
        "Hours since seen is 4 but its formula gives 3")


def test_a_formula_that_cannot_be_read_is_an_error_not_a_pass() -> None:
    res = validate(tidy({"paris": _rows({})}, DICTIONARY), DICTIONARY, [], site_links=None,
                   today=TODAY, now=NOW)
    rules = res.rule_results.set_index("rule_id")
    assert rules.loc["dictionary.bad.calc", "status"] == "error"
    assert rules.loc["dictionary.bad.calc", "error"] == (
        "the formula of bad cannot be read: '[w] +* 2' (unexpected '*' in '[w] +* 2')")
    assert (rules.drop(index="dictionary.bad.calc")["error"].fillna("") == "").all()
    assert rules.loc["dictionary.bmi.calc", "status"] == "passed"


def test_the_calc_column_keeps_the_frames_rows_and_a_nullable_float() -> None:
    frames = tidy({"paris": _rows({}, {"bmi": "22.86", "w": ""}, {"bmi": "30"})},
                  DICTIONARY)
    enrol = frames["enrol"].set_axis([10, 11, 12])          # not a default index
    out, problems = add_dictionary_columns({"enrol": enrol}, frames.schema, today=TODAY,
                                           now=NOW)
    calc = out["enrol"]["calc__bmi"]
    assert list(calc.index) == [10, 11, 12] and len(out["enrol"]) == 3
    assert str(calc.dtype) == "Float64"
    assert calc[10] == 22.857142857                          # the stored value, kept
    assert calc.isna()[11]                                   # no weight: unknowable
    assert calc[12] == 22.857142857142858                    # the formula's own
    assert out["enrol"]["calc__k"].tolist() == [5.0, 5.0, 5.0]
    assert set(problems) == {"bad"}


def test_a_calc_field_missing_from_the_frame_is_still_computed() -> None:
    frames = tidy({"paris": _rows({}, {"w": "80"})}, DICTIONARY)
    enrol = frames["enrol"].drop(columns=["bmi"])
    out, _ = add_dictionary_columns({"enrol": enrol}, frames.schema, today=TODAY, now=NOW)
    calc = out["enrol"]["calc__bmi"]
    assert str(calc.dtype) == "Float64"
    assert calc.tolist() == [70 / 1.75 ** 2, 80 / 1.75 ** 2]


def test_labels_are_trimmed_braces_kept_and_a_blank_label_is_the_field_name() -> None:
    dictionary = [_f("study_id", "text", "Study ID"), _f("w", "text", "", "number"),
                  _f("h", "text", "  Height {m}  ", "number"),
                  _f("bmi", "calc", "   ", calc="[w]/([h]*[h])")]
    rows = [dict.fromkeys(export_columns(dictionary), "")
            | {"study_id": "1", "w": "70", "h": "1.75", "bmi": "30"}]
    res = validate(tidy({"paris": rows}, dictionary), dictionary, [], site_links=None,
                   today=TODAY)
    (flag,) = res.failures.itertuples()
    assert flag.message == "bmi is 30 but its formula gives 22.857142857142858"
    # the suggestion is shown as it is (no placeholders): braces not doubled
    assert "(w, Height {m})" in flag.suggestion


def test_severities_come_from_the_overrides_file(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "_dictionary.json"
    path.write_text('{"defaults": {"calc": "blocking"}, "fields": {"k": {"calc": "warning"}}}',
                    encoding="utf-8")
    res = validate(tidy({"paris": _rows({"bmi": "30", "k": "6"})}, DICTIONARY), DICTIONARY,
                   [], site_links=None, today=TODAY, now=NOW,
                   derived_config=load_derived_config(path))
    severity = dict(zip(res.failures["rule_id"], res.failures["severity"], strict=True))
    assert severity == {"dictionary.bmi.calc": "blocking", "dictionary.k.calc": "warning"}
    assert load_derived_config(tmp_path / "absent.json") == load_derived_config(None)
    path.write_text('{"defaults": {"calc": "loud"}}', encoding="utf-8")
    with pytest.raises(SuiteDefinitionError, match=f"suite {path}: defaults.calc = 'loud'"):
        load_derived_config(path)
