"""Words the reports build from data: articles and case of category names."""

from __future__ import annotations

from registry.reports.format import with_article


def test_a_category_reads_as_running_text():
    assert with_article("Calcineurin inhibitor") == "a calcineurin inhibitor"
    assert with_article("JAK inhibitor") == "a JAK inhibitor"
    assert with_article("IVIG") == "an IVIG"
    assert with_article("Immunoglobulin") == "an immunoglobulin"
    assert with_article("MMF") == "an MMF" and with_article("TNF blocker") == "a TNF blocker"
