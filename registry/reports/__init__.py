"""PDF reports: one per site for its coordinator, one per study for the PIs.

Built from explicit report models (`models.py`), filled from the store by
`from_store.py`, rendered jinja2 -> HTML -> WeasyPrint with matplotlib SVG figures.

The names below load on first use: the package also holds the flags spreadsheets
(`spreadsheets.py`), which a validate run writes without loading the PDF makers
(matplotlib).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.reports.models import SiteReport, StudyReport
    from registry.reports.site import render_site_pdf
    from registry.reports.study import render_study_pdf

__all__ = ["SiteReport", "StudyReport", "render_site_pdf", "render_study_pdf"]

#: each name's module, loaded on its first use (as `analyses/__init__.py` does)
_HOME = {"SiteReport": "registry.reports.models", "StudyReport": "registry.reports.models",
         "render_site_pdf": "registry.reports.site",
         "render_study_pdf": "registry.reports.study"}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later reads do not come here
    return value
