"""Text from the data cannot hide, reorder or run off a report (issue 11.7).

Before: an RLO character in a value reversed a coordinator's message, a 100 kB value
ran off the page and pushed the form link out of sight, and autoescaping was the only
defence against a value naming a file or a server. Now they are spelled out, cut with
a note, and the renderer loads nothing but the report's own `data:` figures.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pdf_text
import report_fixtures as fx

from registry.quality.flags import format_value
from registry.reports.render import write_pdf_now
from registry.reports.site import render_site_html, render_site_pdf
from registry.visible import visible

RLO = "\u202e"


def test_hidden_characters_are_spelled_out_and_long_values_cut() -> None:
    assert visible(f"ok{RLO}txt.exe") == "ok<U+202E>txt.exe"
    assert visible("a\u200bb\x07c\ufeff") == "a<U+200B>b\\x07c<U+FEFF>"
    assert visible("Zoë – 東京") == "Zoë – 東京"  # ordinary text as it is
    long = visible("x" * 100_000)
    assert len(long) < 600 and long.endswith("[cut: 100,000 characters in all]")
    assert format_value(f"12{RLO}34") == "12<U+202E>34"  # what a flag message quotes


def test_a_site_pdf_shows_the_override_and_cuts_a_huge_value(tmp_path: Path) -> None:
    report = fx.site_report("paris", 4)
    first = report.flags[0]
    odd = replace(first, message=f"value 2025{RLO}-10-01 then " + "y" * 100_000)
    report = replace(report, flags=(odd, *report.flags[1:]))
    pdf = render_site_pdf(report, tmp_path / "site-paris.pdf")
    content = pdf_text.text(pdf)
    assert "<U+202E>" in content and RLO not in content
    assert "characters in all]" in content
    assert first.link in pdf_text.links(pdf)  # the form's link is still there


def test_the_renderer_fetches_no_file_and_no_server(tmp_path: Path, caplog) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not really a picture")
    html = render_site_html(fx.site_report("paris", 0))
    targets = [f"file://{secret}", "http://127.0.0.1:9/x"]
    evil = html.replace("</body>", "".join(f'<img src="{t}">' for t in targets) + "</body>")
    with caplog.at_level("ERROR", logger="weasyprint"):
        write_pdf_now(evil, tmp_path / "x.pdf")
    refused = [r.getMessage() for r in caplog.records if "disallowed protocol" in r.getMessage()]
    assert [t for t in targets if any(t in m for m in refused)] == targets
    # the report's own figures (data: URIs) still load
    caplog.clear()
    with caplog.at_level("WARNING", logger="weasyprint"):
        render_site_pdf(fx.site_report("paris", 4), tmp_path / "site-paris.pdf")
    assert not [r for r in caplog.records if "Failed to load" in r.getMessage()]
