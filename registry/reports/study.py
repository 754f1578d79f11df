"""The PIs' study PDF: the headline result first, then how it was reached and how sure.

Page one answers "what is the result and what changed": the main hazard ratio with
the primary CI, the numbers behind it, the change since the last report, the data
each site contributed (and whether it is tonight's) and the cohort flow. Then the
results table and forest plot, the Kaplan-Meier curves with numbers at risk, Table 1
with SMDs, infections, sensitivity analyses, data quality per site, and a methods
paragraph generated from the study file with the software versions.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.errors import RegistryError
from registry.reports.figures import forest_svg, km_svg, schoenfeld_svg
from registry.reports.format import fmt_hr, fmt_hr_ci, fmt_int
from registry.reports.models import AnalysisRow, RuleResult, StudyReport, natural_key
from registry.reports.render import epoch_of, render_html, svg_data_uri, write_pdf
from registry.reports.strobe import strobe_items

__all__ = [
    "Change",
    "changes_since",
    "clean_vs_all",
    "methods_paragraph",
    "render_study_html",
    "render_study_pdf",
]


@dataclass(frozen=True)
class Change:
    """One line of "what changed since the last report": then, now, difference."""

    what: str
    then: str
    now: str
    diff: str


def _diff(now: float | None, then: float | None) -> str:
    if now is None or then is None:
        return ""
    d = now - then
    if d == 0:
        return "no change"
    return f"{int(d):+d}" if float(d).is_integer() else f"{d:+.1f}"


def changes_since(report: StudyReport) -> tuple[Change, ...]:
    """Patients, sets, events and the main HR in the last report and in this one."""
    prev = report.previous
    if prev is None:
        return ()
    old_entries = prev.result.get("analyses") or []
    old = AnalysisRow.from_json(old_entries[0], index=0) if old_entries else None
    now = report.main

    def count(what: str, new_value: float, old_value: float | None) -> Change:
        return Change(what, fmt_int(old_value), fmt_int(new_value), _diff(new_value, old_value))

    rows = [count("Patients in the registry", report.flow.registry, prev.registry_patients)]
    rows.append(count("Exposed patients in matched sets", now.n_exposed,
                      old.n_exposed if old else None))
    rows.append(count("Matched controls", now.n_controls, old.n_controls if old else None))
    rows.append(count(f"Events ({report.methods.outcome})" if report.methods.outcome
                      else "Events", now.events, old.events if old else None))
    rows.append(Change("Hazard ratio (95% CI)",
                       fmt_hr_ci(old.hr, old.ci_low, old.ci_high) if old else fmt_hr(None),
                       fmt_hr_ci(now.hr, now.ci_low, now.ci_high), ""))
    return tuple(rows)


def clean_vs_all(report: StudyReport) -> AnalysisRow | None:
    """The sensitivity analysis on all records, flagged ones included, if there is one."""
    for row in report.sensitivity:
        basis = (row.basis or "").lower()
        if row.name in ("all_records", "all") or "all records" in basis or "flagged" in basis:
            return row
    return None


def _join(items: Sequence[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def methods_paragraph(report: StudyReport) -> str:
    """The methods paragraph, written from the study file's declarations."""
    m = report.methods
    parts = [
        "Risk-set-matched cohort within the multi-centre registry (the paper calls it a "
        "nested case-control study; the matched sets are sampled on the exposure and the "
        "outcome is followed forward, so it is a matched cohort).",
    ]
    if m.eligibility:
        parts.append(f"Eligible patients: {m.eligibility}.")
    parts.append(
        "Patients with a blocking data-quality flag on the day of the snapshot were left out "
        "(see the cohort flow).")
    parts.append(
        f"Exposure: {m.exposure}. Each exposed patient was matched on the index day "
        f"({m.time_zero}) with up to {m.k} controls, {m.comparator}"
        + (f", on {_join(m.matching)}" if m.matching else "") + "; a patient may serve as a "
        "control in several sets and later become exposed.")
    parts.append(
        f"Outcome: {m.outcome} within {m.horizon_days} days of the index day; follow-up was "
        "censored at the last visit or at the horizon.")
    parts.append(f"Hazard ratios come from {m.model}; confidence intervals use {m.variance}.")
    if m.subgroups:
        parts.append(f"Subgroups: {_join(m.subgroups)}.")
    if m.sensitivity:
        parts.append("Sensitivity analyses: " + "; ".join(
            f"({i}) {what}" for i, what in enumerate(m.sensitivity, start=1)) + ".")
    if m.n_seeds:
        parts.append(
            f"The matching was drawn {fmt_int(m.n_seeds)} times; the headline is the mean of "
            "the draws' log hazard ratios, so it does not depend on which eligible controls one "
            "draw picks, and the single draw with the study's seed is shown as the paper's "
            "design.")
    parts.append("Survival curves are Kaplan-Meier estimates from the index day.")
    return " ".join(parts)


def _quality_matrix(report: StudyReport) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    """Rules failing at one site at least: one row per rule, one cell per site."""
    sites = [q.site for q in report.quality]
    names = [q.label for q in report.quality]
    by_rule: dict[str, dict[str, RuleResult]] = {}
    severity: dict[str, str] = {}
    for q in report.quality:
        for r in q.rules:
            by_rule.setdefault(r.rule_id, {})[q.site] = r
            severity[r.rule_id] = r.severity
    rows = []
    for rule_id in sorted(by_rule, key=natural_key):
        results = by_rule[rule_id]
        if not any(r.failed or r.status in ("failed", "error") for r in results.values()):
            continue
        cells = []
        for s in sites:
            cell = results.get(s)
            if cell is None:
                cells.append("")
            elif cell.status == "error":
                cells.append("error")
            else:
                cells.append(f"{cell.failed} ({cell.percent:.1f}%)" if cell.failed else "0")
        rows.append((rule_id, severity.get(rule_id, ""), cells))
    rows.sort(key=lambda row: (row[1] != "blocking", natural_key(row[0])))
    return names, rows


def _check(report: StudyReport) -> None:
    if not report.analyses:
        raise RegistryError(
            f"study report for '{report.study}' has no analyses: run `registry analyse` first")
    if report.analyses[0].kind != "main":
        raise RegistryError(f"study report for '{report.study}': the first analysis must be "
                            "the main one (empty filter)")


def render_study_html(report: StudyReport) -> str:
    """The study report as HTML (what `render_study_pdf` lays out)."""
    _check(report)
    horizon = float(report.methods.horizon_days)
    forest = svg_data_uri(forest_svg(
        report.analyses, left_label=f"favours {report.exposed_label}",
        right_label=f"favours {report.control_label.lower()}"))
    km = (svg_data_uri(km_svg(report.km, horizon=horizon,
                              ylabel=f"Free of {report.methods.outcome}"))
          if report.km else None)
    sites, rule_rows = _quality_matrix(report)
    ph = report.ph_test or {}
    design = next((a for a in report.analyses if a.name == "paper's design"), None)
    residuals = (svg_data_uri(schoenfeld_svg(
        ph["times"], ph["scaled_residuals"], horizon=horizon,
        beta=math.log(design.hr) if design is not None and design.hr else None))
        if ph.get("times") and ph.get("p") is not None else None)
    context: Mapping[str, Any] = dict(
        r=report, main=report.main, changes=changes_since(report),
        clean_vs_all=clean_vs_all(report), methods=methods_paragraph(report),
        forest=forest, km=km, residuals=residuals, quality_sites=sites, quality_rules=rule_rows,
        quality_codes=[q.site for q in report.quality],
        quality_legend=[(q.site, q.label) for q in report.quality if q.label != q.site],
        strobe=strobe_items(report),
        stale=[s for s in report.sites if not s.current],
    )
    return render_html("study.html.j2", **context)


def render_study_pdf(report: StudyReport, path: str | os.PathLike[str]) -> Path:
    """Write the PIs' PDF for one study to `path` (whole or not at all)."""
    return write_pdf(render_study_html(report), path, epoch=epoch_of(report.generated_at))
