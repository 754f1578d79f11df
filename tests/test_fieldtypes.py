"""registry.fieldtypes: one REDCap field -> dtype, parser and reason."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.fieldtypes import (
    checkbox_code,
    checkbox_columns,
    choice_labels,
    choices,
    export_columns,
    field_type,
    parse_choices,
)
from registry.sandbox import dictionary
from registry.sandbox.schema import Schema

META = {m["field_name"]: m for m in dictionary.metadata()}


def _row(ftype: str, validation: str = "", choices_text: str = "") -> dict[str, str]:
    return {"field_name": "x", "form_name": "f", "field_type": ftype,
            "text_validation_type_or_show_slider_number": validation,
            "select_choices_or_calculations": choices_text}


@pytest.mark.parametrize(("name", "dtype", "reason"), [
    ("diagnosis_date", "datetime64[ns]", "validation is date_ymd"),
    ("mda5_titre", "Int64", "validation is integer"),
    ("ferritin", "Float64", "validation is number"),
    ("ild", "boolean", "yesno"),
    ("sex", "string", "radio"),
    ("hrct_pattern", "string", "dropdown"),
    ("skin", "boolean", "checkbox"),
    ("age_at_diagnosis", "Float64", "calc"),
    ("baseline_notes", "string", "notes"),
    ("trt_other", "string", "text without validation"),
])
def test_every_dictionary_field_gets_the_documented_dtype(name: str, dtype: str,
                                                          reason: str) -> None:
    ft = field_type(META[name])
    assert ft.dtype == dtype
    assert reason in ft.reason


def test_legacy_validation_names_and_truefalse() -> None:
    assert field_type(_row("text", "date")).dtype == "datetime64[ns]"
    assert field_type(_row("text", "int")).dtype == "Int64"
    assert field_type(_row("text", "float")).dtype == "Float64"
    assert field_type(_row("truefalse")).dtype == "boolean"


def test_date_parser_turns_impossible_dates_into_nat_and_reports_them() -> None:
    raw = pd.Series(["2023-02-28", "2023-02-30", "", None, "31/12/2020", "2052-01-01"])
    typed, bad = field_type(META["diagnosis_date"]).parse(raw)
    assert str(typed.dtype) == "datetime64[ns]"
    assert typed.isna().tolist() == [False, True, True, True, True, False]
    assert bad.tolist() == [False, True, False, False, True, False]


def test_integer_parser_rejects_decimals_and_words() -> None:
    # "3.0" is refused as REDCap's integer validation refuses it (^[-+]?\d+$)
    typed, bad = field_type(META["mda5_titre"]).parse(pd.Series(["12", "1.5", "abc", "",
                                                                 " 7 ", "3.0"]))
    assert typed.isna().tolist() == [False, True, True, True, False, True]
    assert bad.tolist() == [False, True, True, False, False, True]
    assert int(typed.iloc[4]) == 7


def test_yesno_and_checkbox_parse_to_booleans() -> None:
    typed, bad = field_type(META["ild"]).parse(pd.Series(["1", "0", "", "2"]))
    assert typed.tolist()[:2] == [True, False] and typed.isna().tolist()[2:] == [True, True]
    assert bad.tolist() == [False, False, False, True]


def test_radio_gives_labels_and_keeps_unknown_codes_verbatim() -> None:
    typed, bad = field_type(META["inf_site"]).parse(pd.Series(["1", "8", ""]))
    assert typed.iloc[0] == "Lung" and typed.iloc[1] == "8" and pd.isna(typed.iloc[2])
    assert not bad.any()


def test_parse_choices_and_implicit_choices() -> None:
    assert parse_choices("1, Yes | 0, No") == {"1": "Yes", "0": "No"}
    assert parse_choices("1, NSIP + OP, mixed | 9, Other") == {"1": "NSIP + OP, mixed",
                                                               "9": "Other"}
    assert parse_choices("") == {}
    assert choices(META["ild"]) == {"1": "Yes", "0": "No"}
    assert choices(_row("truefalse")) == {"1": "True", "0": "False"}
    assert choices(META["ferritin"]) == {}
    assert choices(META["sex"]) == {"1": "Female", "2": "Male"}


@pytest.mark.parametrize(("code", "column"), [
    ("1", "1"), ("-1", "_1"), ("1.5", "1_5"), ("b-2", "b_2"), ("A", "a"), ("Yes A", "yesa"),
    ("é1", "1"), ("K9", "k9"), ("x/y", "xy")])
def test_checkbox_codes_are_written_as_redcap_writes_them(code: str, column: str) -> None:
    """REDCap's Project::getExtendedCheckboxCodeFormatted: "-" and "." become "_", ASCII
    lower case, anything else outside [a-z0-9_] dropped; the sandbox names its columns
    with the same function, so a pulled export and the typed frames agree."""
    assert checkbox_code(code) == column
    row = {**_row("checkbox", choices_text=f"{code}, It | 2, Two"), "field_name": "c"}
    assert checkbox_columns(row) == [f"c___{column}", "c___2"]
    assert [c.name for c in Schema([row]).columns] == [f"c___{column}", "c___2", "f_complete"]


def test_checkbox_and_export_columns() -> None:
    assert checkbox_columns(META["skin"]) == [f"skin___{i}" for i in range(1, 6)]
    assert checkbox_columns(META["sex"]) == []
    assert checkbox_columns({**_row("checkbox", choices_text="-1, None | A, Ab"),
                             "field_name": "c"}) == ["c____1", "c___a"]
    cols = export_columns(dictionary.metadata())
    assert cols[0] == "record_id"
    assert cols.index("baseline_complete") == cols.index("baseline_notes") + 1
    assert cols[-1] == "outcome_complete" and "skin" not in cols
    assert len([c for c in cols if c.endswith("_complete")]) == len(dictionary.FORMS)


def test_values_typed_by_a_csv_reader_read_as_redcap_text() -> None:
    typed, bad = field_type(META["ild"]).parse(pd.Series([1.0, 0.0, float("nan")]))
    assert typed.tolist()[:2] == [True, False] and pd.isna(typed.iloc[2]) and not bad.any()
    typed, _ = field_type(META["inf_site"]).parse(pd.Series([1, 8], dtype="int64"))
    assert typed.tolist() == ["Lung", "8"]
    typed, bad = field_type(META["ferritin"]).parse(pd.Series([12.5, None], dtype=object))
    assert typed.iloc[0] == 12.5 and not bad.any()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=12), st.dates().map(date.isoformat)), max_size=20),
       st.sampled_from(["diagnosis_date", "mda5_titre", "ferritin", "ild", "sex", "skin",
                        "age_at_diagnosis", "baseline_notes"]))
def test_parsers_never_raise_and_report_every_unreadable_value(values: list[str],
                                                               name: str) -> None:
    raw = pd.Series(values, dtype=object)
    ft = field_type(META[name])
    typed, bad = ft.parse(raw)
    assert len(typed) == len(raw) == len(bad)
    empty = raw.isna() | (raw == "")
    # every value is either empty, read, or reported; never two of these
    assert ((typed.isna() & ~empty) == bad).all() or ft.dtype == "string"
    assert not (bad & empty).any()


@pytest.mark.parametrize(("validation", "good", "bad"), [
    ("date_dmy", ["2024-02-29"], ["2023-02-29", "29-02-2024", "2024-2-9"]),
    ("datetime_mdy", ["2024-02-29 09:05", "2024-02-29 9:05"], ["2024-02-29 24:00",
                                                             "2024-02-29"]),
    ("datetime_seconds_ymd", ["2024-02-29 23:59:59"], ["2024-02-29 23:59"]),
    ("time", ["09:05", "9:05", "23:59"], ["24:00", "09:5", "0905"]),
    ("time_hh_mm_ss", ["09:05:00"], ["09:05"]),
    ("time_mm_ss", ["59:59"], ["60:00", "5:30"]),
    ("integer", ["12", "-3", "+4"], ["3.0", "1e3", "abc"]),
    ("number", ["12", "-1.5", ".5", "1e3"], ["1,5", "5.", "abc"]),
    ("number_1dp", ["12.5", "-0.1"], ["12", "12.50", "12,5"]),
    ("number_4dp", ["1.2345"], ["1.234"]),
    ("number_comma_decimal", ["12", "1,5"], ["1.5", "abc"]),
    ("number_2dp_comma_decimal", ["1,25"], ["1.25", "1,2"]),
    ("email", ["a.b@example.org", "x@sub.example.health"], ["a@", "a b@example.org"]),
    ("phone", ["615-322-2222", "(615) 322-2222"], ["123", "115-322-2222"]),
    ("zipcode", ["37212", "37212-1234"], ["3721", "ABCDE"]),
    ("alpha_only", ["Abc"], ["ab1", "a b"]),
    ("postalcode_french", ["75014"], ["99999"]),
])
def test_every_redcap_validation_reads_as_redcap_stores_it(validation: str, good: list[str],
                                                          bad: list[str]) -> None:
    ft = field_type(_row("text", validation))
    typed, refused = ft.parse(pd.Series(good + bad + [""], dtype=object))
    assert refused.tolist() == [False] * len(good) + [True] * len(bad) + [False]
    assert typed.iloc[:len(good)].notna().all() and typed.iloc[len(good):].isna().all()
    assert ft.expected and "_" not in ft.expected  # plain words, not a validation name


def test_comma_decimals_become_numbers_and_times_compare_as_times() -> None:
    typed, _ = field_type(_row("text", "number_1dp_comma_decimal")).parse(
        pd.Series(["12,5", "-0,1"]))
    assert str(typed.dtype) == "Float64" and typed.tolist() == [12.5, -0.1]
    typed, _ = field_type(_row("text", "time")).parse(pd.Series(["9:05", "10:00"]))
    assert typed.tolist() == ["09:05", "10:00"] and typed.iloc[0] < typed.iloc[1]


def test_bounds_read_today_now_and_every_type() -> None:
    from registry.fieldtypes import BoundError, bounds

    def row(validation: str, lo: str, hi: str, ftype: str = "text") -> dict[str, str]:
        return {**_row(ftype, validation), "text_validation_min": lo,
                "text_validation_max": hi}

    day = date(2025, 6, 30)
    assert bounds(row("date_dmy", "2000-01-01", "today"), today=day) == (
        pd.Timestamp("2000-01-01"), pd.Timestamp("2025-06-30"))
    lo, hi = bounds(row("datetime_ymd", "today", "today"), today=day)
    assert (lo, hi) == (pd.Timestamp("2025-06-30"), pd.Timestamp("2025-06-30 23:59:59"))
    assert bounds(row("datetime_ymd", "", "now"), today=day, now=pd.Timestamp(
        "2025-06-30 10:00").to_pydatetime())[1] == pd.Timestamp("2025-06-30 10:00")
    assert bounds(row("number_2dp_comma_decimal", "0,5", "10"), today=day) == (0.5, 10.0)
    assert bounds(row("time", "6:00", "22:00"), today=day) == ("06:00", "22:00")
    assert bounds(row("", "", "", "slider"), today=day) == (0.0, 100.0)
    assert bounds(row("email", "a", "b"), today=day) == (None, None)
    with pytest.raises(BoundError, match="not a date"):
        bounds(row("date_ymd", "soon", ""), today=day)
    with pytest.raises(BoundError, match="not a whole number"):
        bounds(row("integer", "ten", ""), today=day)


def test_choice_labels_read_many_columns_as_each_fields_own_parser() -> None:
    """`choice_labels` over many columns (tidy's one pass over a form's radio and dropdown
    columns) gives what each column's own parser gives one column at a time: labels,
    unknown codes verbatim, blanks missing, a CSV reader's numbers as REDCap's text; two
    columns sharing a code get their own list's label (the literal labels below)."""
    import numpy as np

    rows = [{"field_name": f"c{j}", "field_type": "radio",
             "select_choices_or_calculations": lists} for j, lists in enumerate(
                 ["1, Yes | 2, No", "1, Mild | 2, Severe | 9, Unknown", "A, Alpha | 1, One"])]
    cells = np.array([["1", "9", "A"], ["2", "", None], [" 1", 1, 1.0], ["3", "2", "a"],
                      [None, "9", "1"]], dtype=object)
    got = choice_labels(cells, [choices(r) for r in rows])
    for j, row in enumerate(rows):
        typed, unreadable = field_type(row).parse(pd.Series(cells[:, j], dtype=object))
        assert not unreadable.any()
        pd.testing.assert_series_equal(pd.Series(got[:, j], dtype=object).astype("string"),
                                       typed, check_names=False)
    assert list(got[0]) == ["Yes", "Unknown", "Alpha"] and got[2, 1] == "Mild"
