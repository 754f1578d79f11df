"""A site's flags as spreadsheets: `flags-<site>.csv` and `flags-<site>.xlsx`.

The CSV keeps the columns other tools read (DESIGN.md) and adds `event`, `label` and
`suggestion` at the end; it is UTF-8 with a byte-order mark, so Excel reads the accents,
and its separator is a setting (`[reports] csv_separator = ";"` for the Excels of
locales whose decimal mark is a comma, which open a comma-separated file as one column).

The workbook is what a coordinator works from: a summary sheet, then one sheet per
form with one row per flag (the field's label, the value, the problem, the rule's
suggestion, severity, status, first seen and a clickable link to the REDCap form),
records in natural order and each record's blocking flags first, columns sized,
filters on, the header frozen.

Both contain only `site`'s flags. Every text cell that a spreadsheet would read as a
formula (a first character of `= + - @`, a tab or a carriage return: OWASP's CSV
injection) is written with a leading `'`, so a value typed into REDCap can never run
in the coordinator's Excel.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from registry.quality.lifecycle import OPEN_STATUSES
from registry.store.records import natural_key

__all__ = ["CSV_SEPARATORS", "FLAG_CSV_COLUMNS", "flags_csv", "flags_xlsx", "neutralise",
           "site_flags"]

#: `flags-<site>.csv`: DESIGN.md's columns, then event, label and suggestion.
FLAG_CSV_COLUMNS = ("site", "record_id", "form", "instance", "field", "rule_id", "severity",
                    "status", "first_seen", "message", "link", "event", "label", "suggestion")
#: What `[reports] csv_separator` accepts.
CSV_SEPARATORS = (",", ";", "\t")
#: `accepted`: confirmed correct in REDCap's DRW (docs/drw.md), listed, not open.
_LISTED = (*OPEN_STATUSES, "accepted", "resolved")
_SEVERITY_ORDER = {"blocking": 0, "warning": 1}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """`text` as a spreadsheet must show it: a leading `'` when it would start a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):  # first_seen: the day is enough
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _order(flag: Mapping[str, Any]) -> tuple[Any, ...]:
    """Records in natural order; within one, open before resolved, blocking first."""
    return (natural_key(str(flag.get("record_id"))), flag.get("status") == "resolved",
            _SEVERITY_ORDER.get(str(flag.get("severity")), 9), str(flag.get("event") or ""),
            str(flag.get("form")), natural_key(str(flag.get("instance") or "")),
            str(flag.get("field")), str(flag.get("rule_id")))


def site_flags(flags: Iterable[Mapping[str, Any]], site: str) -> list[Mapping[str, Any]]:
    """`site`'s open and accepted flags and the ones resolved this night (`reported`),
    in sheet order.

    `flags` as the quality stage made them (`registry.quality.stage.flags_from_store`).
    """
    rows = [f for f in flags if f.get("site") == site and f.get("status") in _LISTED
            and f.get("reported", True)]
    return sorted(rows, key=_order)


def flags_csv(flags: Iterable[Mapping[str, Any]], site: str, separator: str = ",") -> str:
    """`flags-<site>.csv` as text (the caller writes it with the BOM: `utf-8-sig`)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerow(FLAG_CSV_COLUMNS)
    for f in site_flags(flags, site):
        writer.writerow([neutralise(_text(f.get(col))) for col in FLAG_CSV_COLUMNS])
    return out.getvalue()


# ------------------------------------------------------------------------------ xlsx

#: (header, width cap, wrapped) of a form sheet's columns; Event only on a
#: longitudinal project.
_COLUMNS = (("Record", 14, False), ("Event", 22, False), ("Instance", 9, False),
            ("Field", 30, True), ("Value", 16, True), ("Problem", 60, True),
            ("Suggestion", 50, True), ("Severity", 10, False), ("Status", 10, False),
            ("First seen", 11, False), ("Rule", 30, False), ("Open in REDCap", 16, False),
            ("DRW query", 18, False))
#: A flag's DRW query (`drw_query`, set by the DRW sync) as the sheet says it.
_QUERY = {"open": "open", "closed": "closed", "accepted": "confirmed correct"}
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_name(title: str, taken: set[str]) -> str:
    """A worksheet name Excel accepts (31 characters, none of []:*?/\\), unique."""
    base = _SHEET_BAD.sub(" ", title).strip().strip("'") or "Form"
    name, n = base[:31], 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def _form_title(form: str, labels: Mapping[str, str]) -> str:
    return labels.get(form) or form.replace("_", " ").capitalize()


def _field_label(flag: Mapping[str, Any]) -> str:
    label = str(flag.get("label") or "").strip()
    if not flag.get("field"):
        return "(the whole instance)"
    return label or str(flag.get("field"))


def _web_link(link: str) -> str | None:
    """Only http(s) links become hyperlinks (never file:, javascript:, ...)."""
    return link if re.match(r"^https?://", link, re.I) else None


def _first_seen(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).date()
        except ValueError:
            return None
    return None


def flags_xlsx(flags: Iterable[Mapping[str, Any]], site: str, *, site_label: str = "",
               run_id: str = "", form_order: Sequence[str] = (),
               form_labels: Mapping[str, str] | None = None,
               when: datetime | None = None) -> bytes:
    """`flags-<site>.xlsx`: a summary sheet, then one sheet per form (REDCap's order).

    `when` (the run's start) dates the workbook and its parts, so the same flags give
    the same bytes: a rebuilt output folder equals the night's.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.hyperlink import Hyperlink

    labels = dict(form_labels or {})
    rows = site_flags(flags, site)
    by_form: dict[str, list[Mapping[str, Any]]] = {}
    for f in rows:
        by_form.setdefault(str(f.get("form")), []).append(f)
    order = list(form_order)
    forms = sorted(by_form, key=lambda f: (order.index(f), "") if f in order
                   else (len(order), f))
    longitudinal = any(f.get("event") for f in rows)
    synced = any(f.get("drw_query") for f in rows)  # a site with drw_sync (docs/drw.md)
    columns = [c for c in _COLUMNS if (longitudinal or c[0] != "Event")
               and (synced or c[0] != "DRW query")]
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDDDDD")
    link_font = Font(color="0563C1", underline="single")
    wrap = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")

    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    taken = {"summary"}
    sheets = {form: _sheet_name(_form_title(form, labels), taken) for form in forms}
    open_rows = [f for f in rows if f.get("status") in OPEN_STATUSES]
    blocking = [f for f in open_rows if f.get("severity") == "blocking"]
    summary.append([neutralise(f"Flags for {site_label or site}")])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append([f"run {run_id}" if run_id else ""])
    summary.append([])
    for what, n in (
            ("Records with an open flag", len({f.get("record_id") for f in open_rows})),
            ("Records with a blocking flag", len({f.get("record_id") for f in blocking})),
            ("Open flags", len(open_rows)), ("of which blocking", len(blocking)),
            ("New or back since the last run",
             sum(f.get("status") in ("new", "reopened") for f in open_rows)),
            ("Resolved since the last run", sum(f.get("status") == "resolved" for f in rows)),
            ("Confirmed correct in REDCap", sum(f.get("status") == "accepted" for f in rows))):
        summary.append([what, n])
    summary.append([])
    summary.append(["Form (sheet)", "Records", "Open flags", "Blocking", "Resolved"])
    header_row = summary.max_row
    for cell in summary[header_row]:
        cell.font, cell.fill = bold, head_fill
    for form in forms:
        items = by_form[form]
        still = [f for f in items if f.get("status") in OPEN_STATUSES]
        summary.append([neutralise(sheets[form]),
                        len({f.get("record_id") for f in still}), len(still),
                        sum(f.get("severity") == "blocking" for f in still),
                        sum(f.get("status") == "resolved" for f in items)])
        cell = summary.cell(row=summary.max_row, column=1)
        cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"'{sheets[form]}'!A1")
        cell.font = link_font
    summary.append([])
    summary.append(["Blocking: the record is left out of the analyses until fixed. "
                    "Warning: please check; the record is still analysed."])
    summary.column_dimensions["A"].width = 40
    for letter in "BCDE":
        summary.column_dimensions[letter].width = 12

    for form in forms:
        sheet = book.create_sheet(sheets[form])
        sheet.append([c[0] for c in columns])
        for cell in sheet[1]:
            cell.font, cell.fill = bold, head_fill
        widths = [len(c[0]) for c in columns]
        for f in by_form[form]:
            link = str(f.get("link") or "")
            values: dict[str, Any] = {
                "Record": neutralise(str(f.get("record_id"))),
                "Event": neutralise(str(f.get("event") or "")),
                "Instance": int(f["instance"]) if str(f.get("instance") or "").isdigit()
                else None,
                "Field": neutralise(_field_label(f)),
                "Value": neutralise(_text(f.get("value"))),
                "Problem": neutralise(str(f.get("message") or "")),
                "Suggestion": neutralise(str(f.get("suggestion") or "")),
                "Severity": str(f.get("severity") or ""), "Status": str(f.get("status") or ""),
                "First seen": _first_seen(f.get("first_seen")),
                "Rule": neutralise(str(f.get("rule_id") or "")),
                "Open in REDCap": "Open in REDCap" if _web_link(link) else neutralise(link),
                "DRW query": _QUERY.get(str(f.get("drw_query") or ""), ""),
            }
            sheet.append([values[c[0]] for c in columns])
            r = sheet.max_row
            for i, (name, _cap, wrapped) in enumerate(columns):
                cell = sheet.cell(row=r, column=i + 1)
                cell.alignment = wrap if wrapped else top
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # never a formula, whatever the text
                    widths[i] = max(widths[i], len(cell.value))
                if name == "First seen" and cell.value is not None:
                    cell.number_format = "yyyy-mm-dd"
                    widths[i] = max(widths[i], 10)
                if name == "Open in REDCap" and _web_link(link):
                    cell.hyperlink = link
                    cell.font = link_font
                if name == "Severity" and cell.value == "blocking":
                    cell.font = bold
        for i, (_name, cap, _wrapped) in enumerate(columns):
            sheet.column_dimensions[get_column_letter(i + 1)].width = min(cap, widths[i] + 2)
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{sheet.max_row}"
        sheet.freeze_panes = "B2"
    return _saved(book, when or datetime(2000, 1, 1))


def _saved(book: Any, when: datetime) -> bytes:
    """The workbook's bytes, every date in them `when` (openpyxl stamps "now")."""
    import zipfile

    from openpyxl.writer.excel import ExcelWriter

    moment = when.replace(tzinfo=None, microsecond=0)
    book.properties.created = book.properties.modified = moment
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()
    out = io.BytesIO()
    stamp = (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute,
             moment.second)
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=stamp), src.read(info),
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
