"""Shared fixtures: rendered PDFs are made once per session (rendering is the slow part)."""

from __future__ import annotations

from pathlib import Path

import pytest
import report_fixtures as fx

from registry.reports.site import render_site_pdf
from registry.reports.study import render_study_pdf


@pytest.fixture(scope="session")
def pdf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pdfs")


@pytest.fixture(scope="session")
def site_pdfs(pdf_dir: Path) -> dict[str, tuple[object, Path]]:
    """paris (12 flags), lyon (100 flags), nice (nothing to fix): report model and PDF."""
    out = {}
    for site, n in (("paris", 12), ("lyon", 100), ("nice", 0)):
        report = fx.site_report(site, n)
        out[site] = (report, render_site_pdf(report, pdf_dir / f"site-{site}.pdf"))
    return out


@pytest.fixture(scope="session")
def study_pdf(pdf_dir: Path) -> tuple[object, Path]:
    report = fx.study_report()
    return report, render_study_pdf(report, pdf_dir / "jak_cni.pdf")
