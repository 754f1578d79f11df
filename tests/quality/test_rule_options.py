"""Dictionary rules in the cases the small projects of test_derived_messages.py leave
out: a calculated field's inputs on its rules, a required checkbox without branching
logic and one whose logic cannot be read, a check turned "off" for one field, a field
named like a key column of the tidy frames."""

from __future__ import annotations

import datetime as dt

from registry.quality.derived import DerivedRules, derive_rules, parse_derived_config
from registry.sandbox.dictionary import METADATA_COLUMNS
from registry.schema import build_schema


def _f(name: str, ftype: str, label: str, v: str = "", choices: str = "", logic: str = "",
       req: str = "") -> dict[str, str]:
    return dict.fromkeys(METADATA_COLUMNS, "") | {
        "field_name": name, "form_name": "enrol", "field_type": ftype, "field_label": label,
        "text_validation_type_or_show_slider_number": v,
        "select_choices_or_calculations": choices, "branching_logic": logic,
        "required_field": req}


DICTIONARY = [
    _f("study_id", "text", "Study ID"), _f("w", "text", "Weight", "number"),
    _f("h", "text", "Height", "number"), _f("bmi", "calc", "BMI", choices="[w] / ([h] * [h])"),
    _f("sym", "checkbox", "Symptoms", choices="1, Cough | 2, Fever", req="y"),
    _f("pain", "checkbox", "Pain", choices="1, Back | 2, Head", req="y", logic="[w] = = 1"),
    _f("site", "text", "Site", req="y"), _f("age", "text", "Age", "integer", req="y")]
BAD_LOGIC = "branching logic of pain cannot be read: '[w] = = 1' (unexpected '=' in '[w] = = 1')"


def _rules() -> DerivedRules:
    config = parse_derived_config({"fields": {"age": {"required": "off"}}})
    return derive_rules(build_schema(DICTIONARY, repeating=[]), today=dt.date(2025, 6, 30),
                        config=config)


def test_a_calculated_fields_rules_name_its_inputs() -> None:
    rules = {r.id: r for r in _rules().rules}
    assert rules["dictionary.bmi.calc"].computed_from == ("w", "h")
    assert rules["dictionary.bmi.type"].computed_from == ("w", "h")
    assert rules["dictionary.w.type"].computed_from == ()


def test_required_checkboxes_with_and_without_logic() -> None:
    derived = _rules()
    rules = {r.id: r for r in derived.rules}
    assert rules["dictionary.sym.required"].kwargs == {"column": "checked__sym", "min_value": 1}
    assert rules["dictionary.sym.required"].message == "Symptoms: no box is ticked"
    assert rules["dictionary.pain.required"].message == (
        "Pain: no box is ticked, but an answer is needed because [w] = = 1")
    assert derived.problems["dictionary.pain.required"] == BAD_LOGIC
    assert derived.problems["dictionary.pain.hidden"] == BAD_LOGIC


def test_an_off_check_is_left_out_and_a_key_named_field_cannot_be_checked() -> None:
    derived = _rules()
    ids = {r.id for r in derived.rules}
    assert "dictionary.age.type" in ids and "dictionary.age.required" not in ids
    assert "dictionary.site.required" in ids
    assert derived.problems["dictionary.site.required"] == (
        "field site is named like the key column 'site' of the tidy frames, so it cannot be "
        "checked; rename it in REDCap")
    assert set(derived.problems) == {"dictionary.pain.required", "dictionary.pain.hidden",
                                     "dictionary.site.required"}
