"""The night's spreadsheets, as a coordinator opens them: BOM, separator, workbook, links."""

from __future__ import annotations

import csv
import io
import stat

from openpyxl import load_workbook

from registry.outputs import write_run_outputs
from registry.quality.stage import flags_from_store
from registry.reports.spreadsheets import FLAG_CSV_COLUMNS
from registry.settings import load_settings
from registry.store import Store


def test_the_nights_csv_and_xlsx_hold_the_sites_flags_with_labels_and_links(baseline):
    out = baseline.folder / "var" / "reports" / baseline.run_id
    settings = load_settings(baseline.settings)
    with Store.open(settings.store.url) as store:
        stored = flags_from_store(store.flags(baseline.run_id))
    counted = suggested = 0
    for site in ("lille", "lyon", "paris"):
        raw = (out / f"flags-{site}.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the accents
        reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
        rows = list(reader)
        assert tuple(reader.fieldnames or ()) == FLAG_CSV_COLUMNS
        assert {r["site"] for r in rows} <= {site}
        mine = [f for f in stored if f["site"] == site and f.get("reported", True)]
        assert len(rows) == len(mine)
        counted += len(rows)
        # the rules' suggestions and the fields' labels reach the CSV
        suggested += sum(bool(r["suggestion"]) for r in rows)
        assert all(r["label"] or not r["field"] for r in rows)
        for name in (f"flags-{site}.csv", f"flags-{site}.xlsx"):
            assert stat.S_IMODE((out / name).stat().st_mode) == 0o600

        book = load_workbook(out / f"flags-{site}.xlsx")
        assert book.sheetnames[0] == "Summary" and (len(book.sheetnames) > 1) == bool(rows)
        listed, linked = [], 0
        for name in book.sheetnames[1:]:
            sheet = book[name]
            assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:")
            header = [c.value for c in sheet[1]]
            for row in sheet.iter_rows(2):
                cells = dict(zip(header, row, strict=True))
                listed.append(cells["Record"].value)
                link = cells["Open in REDCap"].hyperlink
                if link is not None:
                    linked += 1
                    assert link.target.startswith(settings.site(site).redcap_base.rsplit(
                        "/api", 1)[0])
        assert sorted(listed) == sorted(str(r["record_id"]) for r in rows)
        assert linked == len(rows)
    assert counted > 0 and suggested > 0


def test_a_semicolon_separator_setting_reaches_the_csv(night_dir):
    path = night_dir / "settings.toml"
    text = path.read_text(encoding="utf-8").replace(
        "[reports]\n", '[reports]\ncsv_separator = ";"\n', 1)
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path)
    assert settings.csv_separator == ";"
    with Store.open(settings.store.url) as store:
        run_id = store.runs(limit=1)[0].id
        folder = write_run_outputs(settings, store, run_id, pdfs=False)
    first = (folder / "flags-paris.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert first == ";".join(FLAG_CSV_COLUMNS)
