"""Each flag's DRW query in the coordinator's workbook (`flags-<site>.xlsx`)."""

from __future__ import annotations

import io
from datetime import datetime

from openpyxl import load_workbook

from registry.reports.spreadsheets import flags_xlsx


def _flag(field: str, status: str, query: str | None) -> dict:
    return {"site": "paris", "record_id": "10", "event": "", "form": "baseline",
            "instance": "", "field": field, "rule_id": f"range.{field}",
            "severity": "blocking", "status": status, "first_seen": datetime(2026, 11, 20),
            "message": f"{field} is out of range", "link": "", "label": field,
            "suggestion": "", "reported": True,
            **({"drw_query": query} if query else {})}


def test_the_sheet_shows_each_flags_query_and_lists_accepted_ones():
    flags = [_flag("cpk", "open", "open"), _flag("mda5_titre", "accepted", "accepted"),
             _flag("ferritin", "resolved", "closed")]
    book = load_workbook(io.BytesIO(flags_xlsx(flags, "paris")))
    sheet = book["Baseline"]
    header = [c.value for c in sheet[1]]
    assert header[-1] == "DRW query"
    rows = {r[header.index("Field")]: r for r in sheet.iter_rows(2, values_only=True)}
    assert {f: (r[header.index("Status")], r[-1]) for f, r in rows.items()} == {
        "cpk": ("open", "open"), "mda5_titre": ("accepted", "confirmed correct"),
        "ferritin": ("resolved", "closed")}
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True) if r and r[0]}
    assert (summary["Open flags"], summary["Resolved since the last run"],
            summary["Confirmed correct in REDCap"]) == (1, 1, 1)
    # a site without the sync gets no such column
    plain = load_workbook(io.BytesIO(flags_xlsx([_flag("cpk", "open", None)], "paris")))
    assert "DRW query" not in [c.value for c in plain["Baseline"][1]]
