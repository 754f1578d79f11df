"""The dictionary's rules as the coordinator reads them: every message and suggestion.

`derive_rules` on a small classic project (a required yes/no, a required integer and a
required checkbox shown by branching logic, a radio, a field whose logic cannot be
read): each rule's expectation, its arguments (the row condition on the `show__`
column included), its message, its suggestion and its severity, word for word.
"""

from __future__ import annotations

import datetime as dt

from registry.quality.derived import derive_rules
from registry.sandbox.dictionary import METADATA_COLUMNS
from registry.schema import build_schema


def _f(
    name: str,
    ftype: str,
    label: str,
    v: str = "",
    choices: str = "",
    logic: str = "",
    req: str = "",
) -> dict[str, str]:
    return dict.fromkeys(METADATA_COLUMNS, "") | {
        "field_name": name,
        "form_name": "enrol",
        "field_type": ftype,
        "field_label": label,
        "text_validation_type_or_show_slider_number": v,
        "select_choices_or_calculations": choices,
        "branching_logic": logic,
        "required_field": req,
    }


DICTIONARY = [
    _f("study_id", "text", "Study ID"),
    _f("smoker", "yesno", "Smoker", req="y"),
    _f("packs", "text", "Packs", "integer", logic="[smoker] = '1'", req="y"),
    _f(
        "sym",
        "checkbox",
        "Symptoms",
        choices="1, Cough | 2, Fever",
        logic="[smoker] = '1'",
        req="y",
    ),
    _f("sex", "radio", "Sex", choices="1, Female | 2, Male"),
    _f("odd", "text", "Odd", "integer", logic="[smoker] = = '1'"),
]

EXPECTED = [
    (
        "dictionary.smoker.type",
        "conformance",
        {"column": "smoker"},
        "Smoker holds '{value}', which is not Yes (1) or No (0)",
        "Re-enter the value as Yes (1) or No (0).",
        "blocking",
        (),
    ),
    (
        "dictionary.smoker.required",
        "expect_column_values_to_not_be_null",
        {"column": "smoker"},
        "Smoker is empty",
        "Fill in the field; it is required.",
        "warning",
        (),
    ),
    (
        "dictionary.packs.type",
        "conformance",
        {"column": "packs"},
        "Packs holds '{value}', which is not a whole number",
        "Re-enter the value as a whole number.",
        "blocking",
        (),
    ),
    (
        "dictionary.packs.required",
        "expect_column_values_to_not_be_null",
        {
            "column": "packs",
            "row_condition": {
                "type": "comparison",
                "column": {"name": "show__packs"},
                "operator": "==",
                "parameter": True,
            },
        },
        "Packs is empty, but it is needed because Smoker is Yes",
        "Fill in the field; it is required.",
        "warning",
        (),
    ),
    (
        "dictionary.packs.hidden",
        "expect_column_values_to_be_null",
        {
            "column": "packs",
            "row_condition": {
                "type": "comparison",
                "column": {"name": "show__packs"},
                "operator": "==",
                "parameter": False,
            },
        },
        "Packs holds {packs} but should be empty: it applies only when Smoker is Yes",
        "Either clear the value or correct the answer that hides the field.",
        "warning",
        (),
    ),
    (
        "dictionary.sym.type",
        "conformance",
        {"column": "sym"},
        "Symptoms holds '{value}', which is not ticked (1) or not (0)",
        "Re-enter the value as ticked (1) or not (0).",
        "blocking",
        (),
    ),
    (
        "dictionary.sym.required",
        "expect_column_values_to_be_between",
        {
            "column": "checked__sym",
            "min_value": 1,
            "row_condition": {
                "type": "comparison",
                "column": {"name": "show__sym"},
                "operator": "==",
                "parameter": True,
            },
        },
        "Symptoms: no box is ticked, but an answer is needed because Smoker is Yes",
        "Tick at least one box; the field is required.",
        "warning",
        (),
    ),
    (
        "dictionary.sym.hidden",
        "expect_column_values_to_be_between",
        {
            "column": "checked__sym",
            "max_value": 0,
            "row_condition": {
                "type": "comparison",
                "column": {"name": "show__sym"},
                "operator": "==",
                "parameter": False,
            },
        },
        "Symptoms has boxes ticked but should be empty: it applies only when Smoker is Yes",
        "Either clear the value or correct the answer that hides the field.",
        "warning",
        (),
    ),
    (
        "dictionary.sex.choices",
        "expect_column_values_to_be_in_set",
        {"column": "sex", "value_set": ["Female", "Male"]},
        "Sex holds code '{sex}', not one of the choices (Female, Male)",
        "Pick one of the choices offered in the form.",
        "blocking",
        (),
    ),
    (
        "dictionary.odd.type",
        "conformance",
        {"column": "odd"},
        "Odd holds '{value}', which is not a whole number",
        "Re-enter the value as a whole number.",
        "blocking",
        (),
    ),
    (
        "dictionary.odd.hidden",
        "expect_column_values_to_be_null",
        {
            "column": "odd",
            "row_condition": {
                "type": "comparison",
                "column": {"name": "show__odd"},
                "operator": "==",
                "parameter": False,
            },
        },
        "Odd holds {odd} but should be empty: it applies only when [smoker] = = '1'",
        "Either clear the value or correct the answer that hides the field.",
        "warning",
        (),
    ),
]


def test_every_rule_says_what_the_coordinator_reads() -> None:
    derived = derive_rules(build_schema(DICTIONARY, repeating=[]), today=dt.date(2025, 6, 30))
    got = [
        (r.id, r.type, r.kwargs, r.message, r.suggestion, r.severity, r.computed_from)
        for r in derived.rules
    ]
    assert got == EXPECTED
    assert derived.problems == {
        "dictionary.odd.hidden": (
            "branching logic of odd cannot be read: \"[smoker] = = '1'\" "
            "(unexpected '=' in \"[smoker] = = '1'\")"
        )
    }
