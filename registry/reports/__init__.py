"""PDF reports: one per site for its coordinator, one per study for the PIs.

Built from explicit report models (`models.py`), filled from the store by
`from_store.py`, rendered jinja2 -> HTML -> WeasyPrint with matplotlib SVG figures.

The names below load on first use: the package also holds the flags spreadsheets
(`spreadsheets.py`), which a validate run writes without loading the PDF makers
(matplotlib).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.reports.models import SiteReport, StudyReport
    from registry.reports.site import render_site_pdf
    from registry.reports.study import render_study_pdf

__all__ = ["SiteReport", "StudyReport", "render_site_pdf", "render_study_pdf"]


def __getattr__(name: str) -> Any:
    if name in ("SiteReport", "StudyReport"):
        from registry.reports import models
        return getattr(models, name)
    if name == "render_site_pdf":
        from registry.reports.site import render_site_pdf
        return render_site_pdf
    if name == "render_study_pdf":
        from registry.reports.study import render_study_pdf
        return render_study_pdf
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
