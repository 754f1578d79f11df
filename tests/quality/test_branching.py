"""REDCap logic (branching, calculations) read and evaluated as REDCap does, per row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from registry.quality.branching import RecordEnv, describe, shown
from registry.quality.logic import LogicError, evaluate, parse

TODAY = pd.Timestamp("2025-06-30")


def _meta(name: str, form: str, ftype: str, choices: str = "", validation: str = "",
          label: str = "") -> dict[str, str]:
    return {"field_name": name, "form_name": form, "field_type": ftype,
            "field_label": label or name, "select_choices_or_calculations": choices,
            "text_validation_type_or_show_slider_number": validation}


DICT = {m["field_name"]: m for m in [
    _meta("record_id", "base", "text"),
    _meta("sex", "base", "radio", "1, Female | 2, Male", label="Sex"),
    _meta("dob", "base", "text", validation="date_ymd", label="Date of birth"),
    _meta("smoker", "base", "yesno", label="Smoker"),
    _meta("weight", "visit", "text", validation="number", label="Weight"),
    _meta("visit_date", "visit", "text", validation="date_ymd", label="Visit date"),
    _meta("code", "visit", "text", label="Code"),
    _meta("symptoms", "visit", "checkbox", "1, Cough | 2, Fever | -1, None",
          label="Symptoms"),
    _meta("dose", "drug", "text", validation="integer", label="Dose"),
]}


def _env(rows: pd.DataFrame, form: str, frames: dict[str, pd.DataFrame], **kw) -> RecordEnv:
    return RecordEnv(rows, form, frames, DICT, today=TODAY, **kw)


@pytest.fixture()
def classic() -> dict[str, pd.DataFrame]:
    base = pd.DataFrame({
        "patient_id": ["s:1", "s:2", "s:3"], "event": "", "instance": pd.array(
            [pd.NA] * 3, dtype="Int64"),
        "sex": pd.array(["Male", "Female", None], dtype="string"),
        "dob": pd.to_datetime(["1980-06-30", "2000-01-01", None]),
        "smoker": pd.array([True, False, None], dtype="boolean"),
    })
    drug = pd.DataFrame({
        "patient_id": ["s:1", "s:1", "s:2"], "event": "",
        "instance": pd.array([1, 2, 1], dtype="Int64"),
        "dose": pd.array([10, 20, 5], dtype="Int64"),
    })
    return {"base": base, "drug": drug}


def _eval(text: str, rows: pd.DataFrame, form: str, frames, **kw) -> list:
    value = evaluate(parse(text), _env(rows, form, frames, **kw))
    return [None if (not k or (np.isnan(n) and t == "")) else (n if not np.isnan(n) else t)
            for n, t, k in zip(value.num, value.text, value.known, strict=True)]


def test_comparisons_read_codes_numbers_and_blanks(classic) -> None:
    base = classic["base"]
    show = shown(parse("[sex] = '2'"), _env(base, "base", classic))
    assert show.tolist() == [True, False, pd.NA]  # an empty answer: unknown, not hidden
    assert shown(parse("[sex] = 2"), _env(base, "base", classic)).tolist()[:2] == [True, False]
    assert shown(parse("[sex] <> '2'"), _env(base, "base", classic)).tolist() == [
        False, True, pd.NA]
    assert shown(parse("[sex] = ''"), _env(base, "base", classic)).tolist() == [
        False, False, True]
    assert shown(parse("[smoker] = '1' or [sex] = '1'"), _env(base, "base", classic)) \
        .tolist() == [True, True, pd.NA]
    assert shown(parse("not ([smoker] = '1') and [sex] = '1'"),
                 _env(base, "base", classic)).tolist() == [False, True, pd.NA]
    # dates compare as REDCap's Y-M-D text, numbers as numbers ('10' > '9')
    assert shown(parse("[dob] > '1990-01-01'"), _env(base, "base", classic)).tolist() == [
        False, True, pd.NA]
    assert _eval("'10' > '9'", base, "base", classic) == [1.0, 1.0, 1.0]
    assert _eval("'abc' < 'abd'", base, "base", classic) == [1.0, 1.0, 1.0]


def test_functions_follow_redcap(classic) -> None:
    base = classic["base"]
    age = _eval("rounddown(datediff([dob], 'today', 'y'), 0)", base, "base", classic)
    assert age == [45.0, 25.0, None]
    assert _eval("datediff('2025-06-30', [dob], 'd', true)", base, "base", classic)[:2] == [
        -(TODAY - pd.Timestamp("1980-06-30")).days, -(TODAY - pd.Timestamp("2000-01-01")).days]
    assert _eval("datediff([dob], '30-06-2025', 'M', 'dmy')", base, "base", classic)[0] == \
        pytest.approx(16436 / 30.44)
    assert _eval("round(2.5) + round(-2.5) + round(1.2345, 2)", base, "base", classic)[0] == \
        pytest.approx(1.23)
    assert _eval("roundup(1.21, 1)", base, "base", classic)[0] == pytest.approx(1.3)
    assert _eval("if([sex] = '2', 'man', 'woman')", base, "base", classic)[:2] == [
        "man", "woman"]
    assert _eval("sum(1, '', 2) + mean(2, 4) + max(1, 5) + min(3, 1)", base, "base",
                 classic)[0] == 3 + 3 + 5 + 1
    assert _eval("3 + ''", base, "base", classic)[0] is None  # arithmetic on a blank
    assert _eval("contains('Pneumocystis', 'CYST') + length('abc') + mod(7, 3)", base, "base",
                 classic)[0] == 1 + 3 + 1
    assert _eval("left('abcdef', 2)", base, "base", classic)[0] == "ab"
    assert _eval("(2)^(3) * 2 - 1", base, "base", classic)[0] == 15
    assert _eval("year([dob])", base, "base", classic)[:2] == [1980.0, 2000.0]


def test_other_forms_other_instances_and_events(classic) -> None:
    base, drug = classic["base"], classic["drug"]
    # from a repeat instance, a non-repeating field is the record's own
    assert shown(parse("[sex] = '2'"), _env(drug, "drug", classic)).tolist() == [
        True, True, False]
    # from the record, a repeating field: instance 1 unless the reference names one
    rep = {"repeating": lambda form, event: form == "drug"}
    assert _eval("[dose]", base, "base", classic, **rep) == [10.0, 5.0, None]
    assert _eval("[dose][last-instance]", base, "base", classic, **rep) == [20.0, 5.0, None]
    assert _eval("[dose][2]", base, "base", classic, **rep) == [20.0, None, None]
    assert _eval("[dose][previous-instance]", drug, "drug", classic, **rep) == [
        None, 10.0, None]

    visits = pd.DataFrame({
        "patient_id": ["s:1", "s:1", "s:2"], "event": ["v1_arm_1", "v2_arm_1", "v1_arm_1"],
        "instance": pd.array([pd.NA] * 3, dtype="Int64"),
        "weight": pd.array([70.0, 74.0, 60.0], dtype="Float64"),
        "visit_date": pd.to_datetime(["2024-01-01", "2024-06-01", "2024-02-01"]),
        "symptoms___1": pd.array([True, False, False], dtype="boolean"),
        "symptoms___2": pd.array([False, True, False], dtype="boolean"),
        "symptoms____1": pd.array([False, False, True], dtype="boolean"),
    })
    frames = {**classic, "visit": visits}
    events = [("v1_arm_1", 1), ("v2_arm_1", 1)]
    assert _eval("[weight] - [v1_arm_1][weight]", visits, "visit", frames,
                 events=events) == [0.0, 4.0, 0.0]
    assert _eval("[previous-event-name][weight]", visits, "visit", frames,
                 events=events) == [None, 70.0, None]
    assert _eval("datediff([v1_arm_1][visit_date], [visit_date], 'd')", visits, "visit",
                 frames, events=events) == [0.0, 152.0, 0.0]
    assert shown(parse("[event-name] = 'v2_arm_1'"), _env(visits, "visit", frames,
                                                          events=events)).tolist() == [
        False, True, False]
    assert shown(parse("[symptoms(2)] = '1' or [symptoms(-1)] = '1'"),
                 _env(visits, "visit", frames, events=events)).tolist() == [False, True, True]


@pytest.mark.parametrize(("text", "needle"), [
    ("[a] = ", "unexpected"),
    ("[sex] == '1' xor [dob] = '2'", "unexpected 'xor'"),
    ("datediff([dob]) > 3", "takes 3 to 5 arguments"),
    ("([sex] = '1'", "expected ')'"),
    ("frobnicate([sex]) = 1", "frobnicate() is not supported"),
    ("[sex] = '1' {", "cannot read"),
])
def test_unreadable_logic_is_an_error_naming_it(text: str, needle: str) -> None:
    with pytest.raises(LogicError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_references_the_project_lacks_are_errors(classic) -> None:
    env = _env(classic["base"], "base", classic)
    for text, needle in (("[nope] = '1'", "not a field"), ("[symptoms] = '1'", "needs a choice"),
                         ("[sex(1)] = '1'", "only checkbox"),
                         ("[user-name] = 'x'", "not a field this reader knows")):
        with pytest.raises(LogicError, match=needle):
            evaluate(parse(text), env)


def test_describe_in_words() -> None:
    assert describe(parse("[sex] = '2'"), DICT) == "Sex is Male"
    assert describe(parse("[symptoms(2)] = '1'"), DICT) == "Symptoms: Fever ticked"
    assert describe(parse("[smoker] <> ''"), DICT) == "Smoker is filled in"
    words = describe(parse("([sex] = '1' or [smoker] = '1') and [v1_arm_1][weight] > 80"), DICT)
    assert words == "(Sex is Female or Smoker is Yes) and Weight (at v1_arm_1) > 80"
    assert describe(parse("datediff([dob], 'today', 'y') >= 18"), DICT) == \
        "datediff(Date of birth, 'today', 'y') >= 18"
