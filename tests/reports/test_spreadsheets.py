"""flags-<site>.csv and flags-<site>.xlsx from flag rows: columns, order, links, injection."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from registry.reports.spreadsheets import (
    FLAG_CSV_COLUMNS,
    flags_csv,
    flags_xlsx,
    neutralise,
)

LINK = "http://127.0.0.1:8765/redcap_v15.0.0/DataEntry/index.php?pid=7&id={r}&page={f}"
SEEN = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _flag(record: str, form: str, field: str, rule: str, severity: str = "warning",
          status: str = "open", site: str = "paris", **extra: object) -> dict[str, object]:
    return {"site": site, "record_id": record, "event": "", "form": form, "instance": "",
            "field": field, "rule_id": rule, "severity": severity, "status": status,
            "first_seen": SEEN, "message": f"{field} is wrong", "reported": True,
            "link": LINK.format(r=record, f=form), "label": field.replace("_", " ").title(),
            "suggestion": f"Check {field}.", "value": "2052-01-01", **extra}


FLAGS = [
    _flag("10", "treatments", "trt_stop", "dates.stop_after_start", instance="2"),
    _flag("2", "baseline", "sex", "required.sex"),
    _flag("10", "outcome", "death_date", "dates.death_after_diagnosis", "blocking"),
    _flag("2", "outcome", "death_date", "dates.death_after_diagnosis", "blocking",
          status="resolved"),
    _flag("3", "baseline", "ferritin", "range.ferritin", value="=HYPERLINK(\"http://x\")",
          message="+cmd|' /C calc'!A0", suggestion="@SUM(1+1)", record_id="3"),
    _flag("L1", "baseline", "sex", "required.sex", site="lyon"),
    _flag("4", "baseline", "sex", "required.sex", status="resolved", reported=False),
]


def test_neutralise_prefixes_every_formula_start_and_nothing_else():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert neutralise(f"{start}1+1") == f"'{start}1+1"
    assert neutralise("Date of death is 2020-01-01") == "Date of death is 2020-01-01"
    assert neutralise("") == ""


@pytest.mark.parametrize("separator", [",", ";"])
def test_csv_keeps_its_columns_groups_records_and_neutralises(separator):
    text = flags_csv(FLAGS, "paris", separator)
    rows = list(csv.reader(io.StringIO(text), delimiter=separator))
    assert tuple(rows[0]) == FLAG_CSV_COLUMNS
    assert FLAG_CSV_COLUMNS[:11] == ("site", "record_id", "form", "instance", "field",
                                     "rule_id", "severity", "status", "first_seen", "message",
                                     "link")
    assert FLAG_CSV_COLUMNS[-2:] == ("label", "suggestion")
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    # paris only, the unreported resolved flag left out; records in natural order, each
    # record's flags together (open blocking, open warning, then resolved)
    assert [(r["record_id"], r["field"], r["status"]) for r in body] == [
        ("2", "sex", "open"), ("2", "death_date", "resolved"), ("3", "ferritin", "open"),
        ("10", "death_date", "open"), ("10", "trt_stop", "open")]
    assert body[0]["label"] == "Sex" and body[0]["suggestion"] == "Check sex."
    assert body[0]["first_seen"] == "2026-11-20"
    cells = [c for r in rows[1:] for c in r]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'+cmd|' /C calc'!A0" in cells and "'@SUM(1+1)" in cells


def test_xlsx_has_a_summary_then_one_sheet_per_form_with_links_and_filters():
    data = flags_xlsx(FLAGS, "paris", site_label="Hôpital Saint-Louis", run_id="RUN1",
                      form_order=("baseline", "treatments", "outcome"),
                      form_labels={"baseline": "Baseline", "outcome": "Outcome: death/tx"})
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Summary", "Baseline", "Treatments", "Outcome  death tx"]
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True) if r and r[0]}
    assert summary["Flags for Hôpital Saint-Louis"] is None
    assert summary["Records with an open flag"] == 3  # 2, 3 and 10
    assert summary["Open flags"] == 4 and summary["of which blocking"] == 1
    assert summary["Resolved since the last run"] == 1
    jump = next(c for row in book["Summary"].iter_rows() for c in row if c.value == "Baseline")
    assert jump.hyperlink.location == "'Baseline'!A1"

    sheet = book["Baseline"]
    header = [c.value for c in sheet[1]]
    assert header == ["Record", "Instance", "Field", "Value", "Problem", "Suggestion",
                      "Severity", "Status", "First seen", "Rule", "Open in REDCap"]
    assert sheet.auto_filter.ref == f"A1:K{sheet.max_row}"
    assert sheet.freeze_panes == "B2"
    rows = [dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(2)]
    assert [r["Record"] for r in rows] == ["2", "3"]
    assert rows[0]["Field"] == "Sex" and rows[0]["Suggestion"] == "Check sex."
    assert rows[0]["First seen"].date().isoformat() == "2026-11-20"
    link_cell = sheet.cell(row=2, column=header.index("Open in REDCap") + 1)
    assert link_cell.hyperlink.target == LINK.format(r="2", f="baseline")
    # a value typed as a formula stays text, shown with its neutralising quote
    for row in sheet.iter_rows(2):
        for cell in row:
            assert cell.data_type != "f"
    assert rows[1]["Value"] == "'=HYPERLINK(\"http://x\")"
    assert rows[1]["Problem"].startswith("'+cmd")
    widths = {sheet.cell(row=1, column=i + 1).value: sheet.column_dimensions[chr(65 + i)].width
              for i in range(len(header))}
    assert widths["Problem"] > widths["Record"]
    # the same flags give the same bytes (a rebuilt folder equals the night's)
    again = flags_xlsx(FLAGS, "paris", site_label="Hôpital Saint-Louis", run_id="RUN1",
                       form_order=("baseline", "treatments", "outcome"),
                       form_labels={"baseline": "Baseline", "outcome": "Outcome: death/tx"})
    assert again == data


def test_xlsx_holds_no_record_of_another_site_and_no_unsafe_link():
    flags = [*FLAGS, _flag("9", "baseline", "sex", "required.sex", link="javascript:alert(1)")]
    book = load_workbook(io.BytesIO(flags_xlsx(flags, "paris")))
    records = {c.value for name in book.sheetnames[1:] for c in book[name]["A"][1:]}
    assert records == {"2", "3", "9", "10"}
    row = next(r for r in book["Baseline"].iter_rows(2) if r[0].value == "9")
    assert row[-1].hyperlink is None and row[-1].value == "javascript:alert(1)"
    empty = load_workbook(io.BytesIO(flags_xlsx(flags, "nice")))
    assert empty.sheetnames == ["Summary"]
