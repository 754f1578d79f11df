"""registry.fieldtypes: one REDCap field -> dtype, parser and reason."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.fieldtypes import (
    checkbox_columns,
    choices,
    export_columns,
    field_type,
    parse_choices,
)
from registry.sandbox import dictionary

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
