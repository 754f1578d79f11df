"""Per-site, per-rule result rows: checked, failed, percent, status.

Every rule gives one row per site on every run (DQD style), so a night's quality can
be compared with the previous ones: `passed` (checked > 0, none failed), `failed`,
`not_applicable` (nothing to check at that site, e.g. no ICU stays) or `error` (the rule
could not run; the message says why, the other rules still ran).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from registry.quality.gx_adapter import Outcome
from registry.quality.rowcodes import text_codes
from registry.quality.suites import Rule

__all__ = ["RESULT_COLUMNS", "STATUSES", "SiteCodes", "SiteCounts", "result_row",
           "rule_results"]

RESULT_COLUMNS = ["site", "rule_id", "suite", "frame", "field", "severity", "dimension",
                  "checked", "failed", "percent", "status", "error"]
STATUSES = ("passed", "failed", "not_applicable", "error")


class SiteCodes:
    """Each frame's rows' site as a number, the site column hashed once per frame.

    The sites of a run, the result rows and the type check's counts all ask "which site
    is this row's"; reading the text of ~10^5 rows once per question cost more than
    the rules themselves. Each distinct value is read as the text it was before
    (`astype(str)`, a missing site included) and looked up in the caller's numbering.
    """

    def __init__(self, frames: Mapping[str, pd.DataFrame]) -> None:
        self._codes = {name: _factorize(frame["site"]) + (frame["site"],)
                       for name, frame in frames.items() if "site" in frame.columns}

    def names(self) -> set[str]:
        """The sites with rows (the text of every present site value)."""
        return {str(v) for _, uniques, _ in self._codes.values() for v in uniques}

    def of(self, name: str, index: Mapping[str, int], missing: int) -> np.ndarray:
        """Per row of frame `name`: `index` of its site's text, `missing` if not there."""
        codes, _, column = self._codes[name]
        if len(codes) == 0:
            return np.zeros(0, dtype=int)
        # one row per distinct value, a missing site (code -1) sorting first: the text
        # of each, looked up once, then every row by its code
        present, first = np.unique(codes, return_index=True)
        lookup = column.iloc[first].astype(str).map(index).fillna(missing).to_numpy(int)
        return lookup[codes - present[0]]  # present[0] is -1 when a site is missing


class SiteCounts:
    """Per site, how many of a frame's rows a mask (or a count per row) holds.

    `codes`: each row's site number (0..size-1; negative: counted nowhere). Tidy
    frames hold their rows site by site, so the rows are a few runs of one site each,
    and a count is a sum per run; otherwise a bincount over every row.
    """

    def __init__(self, codes: np.ndarray, size: int) -> None:
        self.codes, self.size = codes, size
        cut = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        self.runs: list[tuple[int, int, int]] | None = None
        if len(cut) < 64:
            starts, ends = [0, *cut.tolist()], [*cut.tolist(), len(codes)]
            self.runs = [(a, b, int(codes[a])) for a, b in zip(starts, ends, strict=True)
                         if b > a and codes[a] >= 0]

    def count(self, per_row: np.ndarray) -> list[int]:
        """Per site: the rows where `per_row` (a boolean mask) holds, or its sum."""
        if self.runs is None:
            keep = self.codes >= 0
            return [int(v) for v in np.bincount(self.codes[keep], weights=per_row[keep],
                                                minlength=self.size)]
        out = [0] * self.size
        boolean = per_row.dtype == bool
        for a, b, code in self.runs:
            out[code] += int(np.count_nonzero(per_row[a:b]) if boolean
                             else per_row[a:b].sum())
        return out


def _factorize(column: pd.Series) -> tuple[np.ndarray, Any]:
    """`pd.factorize` of a column; a text column's by `rowcodes.text_codes`."""
    factorized = text_codes(column)
    return factorized if factorized is not None else pd.factorize(column)


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
                 sites: Sequence[str], site_codes: SiteCodes | None = None) -> list[
                     dict[str, object]]:
    """Result rows of the outcomes, per site (failed = distinct failing rows).

    `site_codes`: the frames' sites already hashed (`SiteCodes` of these frames).
    """
    site_codes = site_codes or SiteCodes(frames)
    rows: list[dict[str, object]] = []
    index = {s: i for i, s in enumerate(sites)}
    codes_of: dict[str, tuple[np.ndarray, SiteCounts]] = {}
    for outcome in outcomes:
        frame = frames.get(outcome.rule.frame)
        if outcome.error is not None or frame is None:
            rows += [result_row(outcome.rule, s, 0, 0, outcome.error or "no frame")
                     for s in sites]
            continue
        name = outcome.rule.frame
        if name not in codes_of:
            codes = site_codes.of(name, index, len(sites))
            codes_of[name] = codes, SiteCounts(codes, len(sites) + 1)
        codes, counts = codes_of[name]
        checked = counts.count(np.asarray(outcome.checked, dtype=bool))
        failed = np.bincount(codes[np.unique(outcome.failing)], minlength=len(sites) + 1)
        rows += [result_row(outcome.rule, site, checked[i], int(failed[i]))
                 for i, site in enumerate(sites)]
    return rows
