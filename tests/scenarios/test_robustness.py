"""Any project the sandbox can serve pulls, validates and reports: exit 0 or 1, no
traceback. Hand-made nasty projects, each served from a folder and run through
`registry pull`, `validate` and `report` as a user runs them (`tests.scenarios.e2e`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from registry.sandbox.folder import METADATA_COLUMNS
from registry.settings import load_settings
from registry.store import Store
from tests.reports.pdf_text import text as pdf_text
from tests.scenarios.e2e import Night


def _field(name: str, form: str, ftype: str, label: str = "A field", **kw: str) -> dict:
    row = dict.fromkeys(METADATA_COLUMNS, "")
    row.update(field_name=name, form_name=form, field_type=ftype, field_label=label, **kw)
    return row


def _write(folder: Path, fields: list[dict], columns: list[str], rows: list[list[str]]) -> Path:
    folder.mkdir(parents=True)
    with (folder / "dictionary.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=METADATA_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(fields)
    with (folder / "records.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return folder


def _clean_exit(night: Night) -> None:
    for name, done in night.results.items():
        assert done.code in (0, 1), (name, done.code, done.stderr)
        assert "Traceback" not in done.stdout + done.stderr, (name, done.stderr)


def test_an_empty_project_with_no_records(tmp_path):
    """Only the record id field, records.csv with its header only."""
    folder = _write(tmp_path / "empty", [_field("record_id", "only_form", "text", "Record ID")],
                    ["record_id", "only_form_complete"], [])
    night = Night(folder, tmp_path / "work").run()
    _clean_exit(night)
    assert "0 records" in night.results["pull"].stdout
    assert night.flags() == []
    assert len(list(night.out_dir.glob("site-*.pdf"))) == 1


def test_fields_named_like_key_columns_and_other_oddities(tmp_path):
    """Fields called `site`, `patient_id`, `event`, `instance`, `form`, `arm` (REDCap
    allows them; they are tidy's key columns); a form with only descriptive fields;
    checkbox codes -1, A, 0, 10; an unparsable calc and branching logic; an unknown
    validation; a slider, a file field, a D-M-Y datetime with seconds."""
    fields = [
        _field("record_id", "main", "text", "Record ID"),
        _field("site", "main", "text", "Site named like a key", required_field="y"),
        _field("patient_id", "main", "calc", select_choices_or_calculations="[arm] * 2"),
        _field("event", "main", "radio", select_choices_or_calculations="1, Yes | 2, No"),
        _field("instance", "main", "text", text_validation_type_or_show_slider_number="integer",
               text_validation_min="0", text_validation_max="10"),
        _field("form", "main", "dropdown", select_choices_or_calculations="a, A | b, B"),
        _field("arm", "main", "yesno"),
        _field("cb", "main", "checkbox", "Codes", required_field="y",
               select_choices_or_calculations="-1, Minus | A, Alpha | 0, Zero | 10, Ten"),
        _field("calc_bad", "main", "calc", select_choices_or_calculations="[site] +* ((("),
        _field("logic_bad", "main", "text", branching_logic="[cb(-1)] = '1' and (((",
               required_field="y"),
        _field("weird_val", "main", "text",
               text_validation_type_or_show_slider_number="my_custom_thing"),
        _field("slide", "main", "slider", select_choices_or_calculations="Low | Mid | High"),
        _field("upload", "main", "file"),
        _field("dt", "main", "text", text_validation_type_or_show_slider_number=
               "datetime_seconds_dmy", text_validation_max="now"),
        _field("desc1", "notes_only", "descriptive", "Just text"),
        _field("desc2", "notes_only", "descriptive", "More text"),
    ]
    columns = ["record_id", "site", "patient_id", "event", "instance", "form", "arm", "cb____1",
               "cb___a", "cb___0", "cb___10", "calc_bad", "logic_bad", "weird_val", "slide",
               "upload", "dt", "main_complete", "notes_only_complete"]
    rows = [["1", "paris", "x", "1", "3", "a", "1", "1", "0", "0", "0", "", "x", "abc", "50", "",
             "2020-12-31 10:00:00", "2", ""],
            ["2", "", "", "3", "abc", "z", "", "0", "0", "0", "0", "7", "", "", "150",
             "[document]", "2020-13-45 10:00:00", "0", "0"],
            ["3", "lyon", "p:1", "", "-5", "", "0", "", "", "", "", "", "", "", "", "", "", "", ""]]
    night = Night(_write(tmp_path / "odd", fields, columns, rows), tmp_path / "work").run()
    _clean_exit(night)
    flags = night.flags()
    assert {f["site"] for f in flags} == {"odd"}  # the key column kept the site's name
    by_rule = {(f["record_id"], f["rule_id"]) for f in flags}
    assert {("2", "dictionary.dt.type"), ("2", "dictionary.slide.range"),
            ("2", "dictionary.cb.required"), ("3", "dictionary.cb.required")} <= by_rule
    assert not any(f["field"] in ("site", "instance", "event", "form", "arm", "patient_id")
                   for f in flags)
    with Store.open(load_settings(night.settings).store.url) as store:
        results = {r["rule_id"]: r for r in store.rule_results(site="odd")}
    for name in ("site", "instance", "event", "form"):
        clash = [r for rid, r in results.items() if rid.startswith(f"dictionary.{name}.")]
        assert clash and all(r["status"] == "error" and "named like the key column"
                             in (r["detail"] or "") for r in clash), (name, clash)
    assert results["dictionary.logic_bad.required"]["status"] == "error"
    text = pdf_text(next(night.out_dir.glob("site-*.pdf")))
    assert "is 150" in text and "anti-MDA5" not in text  # not another registry's title
