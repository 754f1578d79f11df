"""The STROBE checklist (cohort studies) as an appendix generated from the run.

Each item says where the study report answers it and with which of this run's numbers,
or that it is for the authors (background, interpretation, funding: nothing a registry
run can know). Reference: von Elm et al., STROBE statement, Lancet 2007;370:1453-7;
the cohort checklist of items 1-22.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.reports.format import fmt_hr_ci, fmt_int
from registry.reports.models import StudyReport

__all__ = ["StrobeItem", "strobe_items"]

AUTHORS = "for the authors (not something a registry run can know)"


@dataclass(frozen=True)
class StrobeItem:
    """One checklist item: its number, topic, and where / how this report answers it."""

    number: str
    topic: str
    answer: str


def strobe_items(report: StudyReport) -> tuple[StrobeItem, ...]:
    """The checklist for this run's report."""
    m, f, main = report.methods, report.flow, report.main
    sub = ", ".join(a.label for a in report.subgroups) or "none"
    sens = ", ".join(a.label for a in report.sensitivity) or "none"
    stale = [s.label for s in report.sites if not s.current]
    items = [
        ("1", "Title and abstract", "Title and headline (page 1): a risk-set-matched cohort "
         f"within the registry; HR {fmt_hr_ci(main.hr, main.ci_low, main.ci_high)}."),
        ("2", "Background / rationale", AUTHORS),
        ("3", "Objectives", "Headline: the estimand stated under the HR ("
         + (main.estimand or "see Methods") + ")."),
        ("4", "Study design", "Methods: risk-set-matched cohort (the paper's 'nested "
         "case-control'), and why the paper's words are kept."),
        ("5", "Setting", f"Data used: {len(report.sites)} site(s), snapshot {report.snapshot}"
         + (f"; not tonight's data for {', '.join(stale)}" if stale else "") + "."),
        ("6", "Participants", f"Methods (eligibility: {m.eligibility or 'registry patients'})"
         f"; matching on {', '.join(m.matching) or 'time since the origin'}, up to 1:{m.k}."),
        ("7", "Variables", f"Exposure {m.exposure}; outcome {m.outcome} within "
         f"{m.horizon_days} days; matching and Table 1 variables at the index day."),
        ("8", "Data sources / measurement", "Data used (per-site REDCap snapshots); Data "
         "quality per site (the checks and their failures)."),
        ("9", "Bias", "Blocking data-quality flags left out (cohort flow) with the "
         "all-records analysis beside; delayed entry when the study declares it; "
         "per-protocol analysis for crossover; the paper's single draw beside the "
         "combined headline."),
        ("10", "Study size", f"Cohort flow: {fmt_int(f.registry)} patients, "
         f"{fmt_int(f.eligible)} eligible, {fmt_int(f.exposed)} exposed, "
         f"{fmt_int(f.exposed_matched)} in matched sets; no sample-size calculation (the "
         "registry's patients)."),
        ("11", "Quantitative variables", "Table 1: continuous as mean (SD) and median "
         "[IQR], binary and categorical as n (%), with SMDs."),
        ("12a", "Statistical methods", f"Methods: {m.model}; {m.variance}; the headline "
         f"combines {fmt_int(m.n_seeds)} re-drawn matchings."
         + (f" Per-protocol row: {m.pp_ci}" if m.pp_ci else "")),
        ("12b", "Subgroups and interactions", f"Results: {sub}; the interaction test "
         "under the forest plot."),
        ("12c", "Missing data", "Table 1's Missing column; records with blocking flags left "
         "out (cohort flow)."),
        ("12d", "Loss to follow-up / matching", "Censoring at the last follow-up or the "
         "horizon; sets short of k controls and sets without one in the cohort flow."),
        ("12e", "Sensitivity analyses", f"Results: {sens}."),
        ("13", "Participants (flow)", "Cohort flow diagram (page 1)."),
        ("14", "Descriptive data", "Table 1 (at the index day) and the follow-up in the "
         "Kaplan-Meier numbers at risk."),
        ("15", "Outcome data", f"Headline: {fmt_int(main.events)} events"
         + (f" ({fmt_int(main.events_exposed)} exposed, {fmt_int(main.events_controls)} "
            "controls)" if main.events_exposed is not None else "")
         + "; Kaplan-Meier estimates at fixed days with CIs."),
        ("16", "Main results", "Headline HR with its 95% CI and p; results table and "
         "forest plot; every analysis that cannot be estimated says why."),
        ("17", "Other analyses", "Subgroups, interaction, sensitivity analyses"
         + (", infections" if report.infections else "")
         + ", the proportional-hazards test and its residual plot."),
        ("18", "Key results", AUTHORS),
        ("19", "Limitations", "Methods (the estimand, the assumptions: no unmeasured "
         "confounding beyond the matching variables; proportional hazards, tested); the "
         "rest " + AUTHORS),
        ("20", "Interpretation", AUTHORS),
        ("21", "Generalisability", AUTHORS),
        ("22", "Funding", AUTHORS),
    ]
    return tuple(StrobeItem(*i) for i in items)
