"""What a report says, as plain frozen data: the renderers read these and nothing else.

The models sit between the store (and the quality and analysis stages) and the PDF
templates, so the templates can be built and tested from fixtures while the other
stages evolve, and so a past run's report is rebuilt from exactly what the store holds
for that run (the builders in `registry.reports.from_store` fill these in).

Two documents:

* `SiteReport`: one site's coordinator; the open flags of that site only, with links
  straight to the REDCap form to fix.
* `StudyReport`: the PIs; the `<study>.json` numbers plus everything needed to read
  them (cohort flow, balance, survival curves, forest plot, infections, data quality,
  what changed since the last report, methods).

`models.site` holds the first, `models.study` the second.
"""

from __future__ import annotations

from registry.reports.models.site import (
    OPEN_STATUSES,
    Flag,
    FlagStatus,
    NightCount,
    Resolution,
    Severity,
    SiteReport,
    natural_key,
)
from registry.reports.models.study import (
    AnalysisRow,
    BalanceRow,
    CohortFlow,
    KMCurve,
    MethodsInputs,
    PreviousStudy,
    RuleResult,
    SeedSpread,
    SiteQuality,
    SiteSnapshot,
    StudyReport,
    Table,
)

__all__ = [
    "OPEN_STATUSES",
    "AnalysisRow",
    "BalanceRow",
    "CohortFlow",
    "Flag",
    "FlagStatus",
    "KMCurve",
    "MethodsInputs",
    "NightCount",
    "PreviousStudy",
    "Resolution",
    "RuleResult",
    "SeedSpread",
    "Severity",
    "SiteQuality",
    "SiteReport",
    "SiteSnapshot",
    "StudyReport",
    "Table",
    "natural_key",
]
