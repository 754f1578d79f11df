"""PDF reports: one per site for its coordinator, one per study for the PIs.

Built from explicit report models (`models.py`), filled from the store by
`from_store.py`, rendered jinja2 -> HTML -> WeasyPrint with matplotlib SVG figures.
"""

from registry.reports.models import SiteReport, StudyReport
from registry.reports.site import render_site_pdf
from registry.reports.study import render_study_pdf

__all__ = ["SiteReport", "StudyReport", "render_site_pdf", "render_study_pdf"]
