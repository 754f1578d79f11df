"""Per-site, per-rule result rows: checked, failed, percent, status.

Every rule gives one row per site on every run (DQD style), so a night's quality can
be compared with the previous ones: `passed` (checked > 0, none failed), `failed`,
`not_applicable` (nothing to check at that site, e.g. no ICU stays) or `error` (the rule
could not run; the message says why, the other rules still ran).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from registry.quality.gx_adapter import Outcome
from registry.quality.suites import Rule

__all__ = ["RESULT_COLUMNS", "STATUSES", "result_row", "rule_results"]

RESULT_COLUMNS = ["site", "rule_id", "suite", "frame", "field", "severity", "dimension",
                  "checked", "failed", "percent", "status", "error"]
STATUSES = ("passed", "failed", "not_applicable", "error")


def result_row(rule: Rule, site: str, checked: int, failed: int,
               error: str | None = None) -> dict[str, object]:
    """One result row; status derived from the counts (or `error`)."""
    if error is not None:
        status, checked, failed = "error", 0, 0
    elif checked == 0:
        status = "not_applicable"
    else:
        status = "failed" if failed else "passed"
    percent = round(100.0 * failed / checked, 2) if checked else 0.0
    return {"site": site, "rule_id": rule.id, "suite": rule.suite, "frame": rule.frame,
            "field": rule.field, "severity": rule.severity, "dimension": rule.dimension,
            "checked": int(checked), "failed": int(failed), "percent": percent,
            "status": status, "error": error or ""}


def rule_results(frames: dict[str, pd.DataFrame], outcomes: Iterable[Outcome],
                 sites: Sequence[str]) -> list[dict[str, object]]:
    """Result rows of the outcomes, per site (failed = distinct failing rows)."""
    rows: list[dict[str, object]] = []
    index = {s: i for i, s in enumerate(sites)}
    codes_of: dict[str, np.ndarray] = {}
    for outcome in outcomes:
        frame = frames.get(outcome.rule.frame)
        if outcome.error is not None or frame is None:
            rows += [result_row(outcome.rule, s, 0, 0, outcome.error or "no frame")
                     for s in sites]
            continue
        name = outcome.rule.frame
        if name not in codes_of:
            codes_of[name] = frame["site"].astype(str).map(index).fillna(len(sites)) \
                .to_numpy(int)
        codes = codes_of[name]
        checked = np.bincount(codes[outcome.checked], minlength=len(sites) + 1)
        failed = np.bincount(codes[np.unique(outcome.failing)], minlength=len(sites) + 1)
        rows += [result_row(outcome.rule, site, int(checked[i]), int(failed[i]))
                 for i, site in enumerate(sites)]
    return rows
