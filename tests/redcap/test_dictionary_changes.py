"""Dictionary comparison: added, removed, renamed, re-coded, re-validated fields."""

from __future__ import annotations

import copy

from registry.redcap.dictionary import compare_dictionaries
from registry.sandbox.dictionary import metadata


def _field(rows, name):
    return next(r for r in rows if r["field_name"] == name)


def test_same_dictionary_has_no_change():
    changes = compare_dictionaries(metadata(), metadata())
    assert changes.empty
    assert changes.summary() == "no change"


def test_added_removed_renamed_and_recoded_fields_are_told_apart():
    old = metadata()
    new = copy.deepcopy(old)
    new.append({**_field(old, "ferritin"), "field_name": "crp", "field_label": "CRP (mg/L)"})
    new = [r for r in new if r["field_name"] != "mda5_titre"]
    _field(new, "ferritin")["field_name"] = "ferritin_ngml"           # same form, type, label
    _field(new, "sex")["select_choices_or_calculations"] = "1, Female | 2, Male | 3, Other"
    _field(new, "birth_date")["text_validation_min"] = "1910-01-01"

    changes = compare_dictionaries(old, new)

    assert changes.added == ("crp",)
    assert changes.removed == ("mda5_titre",)
    assert changes.renamed == (("ferritin", "ferritin_ngml"),)
    assert changes.choices_changed == ("sex",)
    assert changes.validation_changed == ("birth_date",)
    assert not changes.empty
    summary = changes.summary()
    assert "renamed: ferritin -> ferritin_ngml" in summary and "choices changed: sex" in summary
    assert changes.to_dict()["renamed"] == [["ferritin", "ferritin_ngml"]]


def test_choice_spacing_is_not_a_change_but_a_type_change_is():
    old = metadata()
    new = copy.deepcopy(old)
    _field(new, "sex")["select_choices_or_calculations"] = "1,Female|2,Male"
    assert compare_dictionaries(old, new).empty
    _field(new, "sex")["field_type"] = "dropdown"
    assert compare_dictionaries(old, new).type_changed == ("sex",)
