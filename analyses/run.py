"""One entry point: `run_study(spec, frames, excluded) -> StudyResult`.

Pure: tidy frames in, a frozen result out; the registry side writes `<study>.json`
(`StudyResult.to_json`, schema docs/study-json.schema.json), `<study>-matched.csv`
(`StudyResult.matched`) and the report.

The design is a risk-set-matched cohort: each exposed patient, on its index day, gets
up to k controls drawn among patients then at risk and not yet exposed, equal on the
exact-matching variables; all are followed forward for the outcome. (The paper calls
it a nested case-control study; sets are sampled on the exposure, not the outcome.)

Analyses, in `<study>.json` order:
1. the headline: records without blocking flags, the stratified Cox model combined
   over M re-drawn matchings (`analyses.headline`, `analyses.combine`), so that it does
   not depend on the seed; estimand "start now vs not now" (controls stay controls);
2. one per subgroup (the same draws' rows whose columns equal the filter);
3. sensitivity analyses: the paper's design (one draw, the study's seed); all records,
   flagged ones included (the same draws' random numbers); per protocol (controls
   censored at crossover, inverse-probability-of-censoring weights); the full cohort
   with exposure as a time-varying covariate.
Beside them: the ICU-subgroup interaction, KM at fixed days, Table 1 at the index day,
infections, the proportional-hazards test (of the headline, combined over its draws;
and of the paper's-design draw, whose residuals the report plots), the spread of the
HR over the draws.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from analyses.balance import balance_table
from analyses.cohort import build_cohort, get_frame
from analyses.combine import combine_draws
from analyses.errors import StudyDataError
from analyses.headline import DrawFit, Draws, fit_stack, km_over_draws, subgroup_mask
from analyses.infections import compare_infections, count_infections, infection_detail
from analyses.matching import match, plan_matching
from analyses.perprotocol import full_cohort, per_protocol
from analyses.ph import ph_over_draws, schoenfeld_test
from analyses.ppboot import pp_bootstrap
from analyses.results import Analysis, Counts, Estimate, StudyResult
from analyses.study import StudySpec, date_word
from analyses.survival import cox, kaplan_meier

__all__ = ["censor_at_crossover", "date_word", "run_study"]

HEADLINE_ESTIMAND = ("hazard ratio of {outcome} within {h} days of starting {exp} now versus "
                     "not starting now, among patients at risk on that day matched on "
                     "{matching}; controls who start later stay controls")
PP_ESTIMAND = ("hazard ratio of {outcome} within {h} days of starting {exp} now versus never "
               "starting within {h} days (controls censored when they start, {weights})")
PP_WEIGHTS = ("weighted by the inverse probability of staying unexposed, from a model of "
              "starting given the time-dependent matching variables ({timedep}) on each day")
PP_NO_WEIGHTS = ("unweighted: the study matches on no time-dependent variable, so the "
                 "censoring is taken to depend on the matching variables alone")
TV_ESTIMAND = ("hazard ratio of {outcome} in the {h} days after starting {exp} versus time "
               "not yet exposed, over all eligible patients (no sampling), by time since "
               "the origin and stratified on the matching variables ({matching}){tv_now}")
TV_NOW = (", the time-dependent ones ({timedep}) taken on each day, in exposed and "
          "unexposed time alike; the effect of {exp} only if {exp} does not itself change "
          "them")
ALL_RECORDS_BASIS = "all records, including those with blocking flags (the same draws)"
DESIGN_BASIS = "the paper's design: one matching drawn with the study's seed {seed}"
PP_BASIS = "per protocol: controls censored when they start the exposure, IPC-weighted"
PP_BASIS_UNWEIGHTED = ("per protocol: controls censored when they start the exposure "
                       "(unweighted: no time-dependent matching variable)")
TV_BASIS = "full cohort, exposure as a time-varying covariate (all eligible controls)"
CLEAN_BASIS = "records without blocking flags"


def censor_at_crossover(rows: pd.DataFrame) -> pd.DataFrame:
    """Censor each control on the day it starts the exposure (if within its follow-up)."""
    out = rows.copy()
    cross = (out["exposed"] == 0) & out["crossover_day"].notna() & (
        out["crossover_day"] < out["time"])
    out.loc[cross, "time"] = out.loc[cross, "crossover_day"]
    out.loc[cross, "event"] = 0
    return out


def _subset(rows: pd.DataFrame, flt: dict[str, Any]) -> pd.DataFrame:
    keep = np.ones(len(rows), bool)
    for col, val in flt.items():
        keep &= (rows[col] == val).fillna(False).to_numpy(bool)
    return rows[keep]


def _row_counts(rows: pd.DataFrame) -> Counts:
    ctrl = rows["exposed"] == 0
    return Counts(int(rows["set_id"].nunique()), int((rows["exposed"] == 1).sum()),
                  float(ctrl.sum()), float(rows.loc[ctrl, "patient_id"].nunique()),
                  float(rows["event"].sum()), float(rows.loc[~ctrl, "event"].sum()),
                  float(rows.loc[ctrl, "event"].sum()))


def _with_control(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of sets with at least one control (a set without one is not counted)."""
    n = rows.groupby("set_id")["exposed"].transform("size")
    return rows[n > 1].reset_index(drop=True)


def run_study(spec: StudySpec, frames: Any, excluded: Collection[str] = frozenset(),
              seed: int | None = None, seed_repeats: int | None = None,
              engine: Literal["lifelines", "fast"] = "lifelines", *,
              min_draws: int = 50, mc_se: float = 0.005,
              labels: Mapping[str, str] | None = None,
              n_bootstrap: int | None = None,
              levels: Mapping[str, Sequence[str]] | None = None) -> StudyResult:
    """Run the whole study on tidy `frames` (mapping or object with the frame attributes).

    `excluded`: patient_ids with flags of the study's `exclude_severities`; the headline
    leaves them out, a sensitivity analysis keeps them. `seed`: the master seed (default
    the study's `seed`). `seed_repeats`: at most this many re-drawn matchings (default
    the study's; 0 = none, the one draw is then the headline); the draws stop once the
    Monte-Carlo SE of the headline log HR is `mc_se` (at least `min_draws`).
    `labels`: field name -> display label (the data dictionary's), for the estimand
    text; a variable's own `label` in the study file comes first. `n_bootstrap`: the
    per-protocol CI's bootstrap replicates (default the study's `pp_bootstrap`).
    `levels`: field name -> its allowed values in order (the data dictionary's choice
    labels); in Table 1 a categorical variable read from such a field shows them in that
    order and counts any other value as missing.
    Raises `StudyDataError` when the data cannot give a headline analysis at all.
    """
    seed = spec.seed if seed is None else seed
    max_draws = spec.seed_repeats if seed_repeats is None else seed_repeats
    cohort = build_cohort(spec, frames, excluded)
    if cohort.flow["exposed"] == 0:
        drugs = " + ".join("/".join(g) for g in spec.exposure.groups)
        raise StudyDataError(
            f"study {spec.name!r}: no exposed patient ({drugs} taken at once) among "
            f"{cohort.flow['eligible']} eligible patients; nothing to match — check the "
            f"treatments frame and the study's exposure labels")
    words = _words(spec, labels or {})
    plan = plan_matching(cohort, spec)
    design = match(cohort, spec, seed, plan)
    rows = _with_control(design.rows)
    design_cox = cox(rows, "paper's design", spec.variance, engine)
    design_an = Analysis("paper's design", "sensitivity", None,
                         DESIGN_BASIS.format(seed=seed), HEADLINE_ESTIMAND.format(**words),
                         Estimate.from_cox(design_cox), _row_counts(rows))
    analyses: list[Analysis] = []
    draws = None
    interaction = None
    clean_vs_all = None
    pp = None
    if max_draws > 0:
        draws = Draws.make(plan, spec, seed=seed, min_draws=min_draws, max_draws=max_draws,
                           mc_se=mc_se)
        head = draws.headline
        analyses.append(Analysis("main", "headline", {}, CLEAN_BASIS,
                                 HEADLINE_ESTIMAND.format(**words),
                                 Estimate.from_combined(head.combined, spec.variance),
                                 head.counts))
        sub_fits = {}
        for sg in spec.subgroups:
            keep = subgroup_mask(draws.stack, cohort, spec, plan, sg.filter)
            f = fit_stack(draws.stack.subset(keep))
            sub_fits[sg.name] = (sg, f)
            analyses.append(Analysis(sg.name, "subgroup", sg.filter, "",
                                     HEADLINE_ESTIMAND.format(**words),
                                     Estimate.from_combined(f.combined, spec.variance),
                                     f.counts))
        interaction = _interactions(sub_fits, spec.variance)
    else:
        analyses.append(Analysis("main", "headline", {}, CLEAN_BASIS + " (one draw)",
                                 HEADLINE_ESTIMAND.format(**words),
                                 Estimate.from_cox(design_cox), _row_counts(rows)))
        for sg in spec.subgroups:
            sub = _subset(rows, sg.filter)
            analyses.append(Analysis(sg.name, "subgroup", sg.filter, "",
                                     HEADLINE_ESTIMAND.format(**words),
                                     Estimate.from_cox(cox(sub, sg.name, spec.variance,
                                                           engine)), _row_counts(sub)))
    analyses.append(design_an)
    # all records, flagged ones included: the same draws (common random numbers)
    if cohort.flow["excluded_flags"] == 0:
        everyone, all_plan, all_draws = cohort, plan, draws
    else:
        everyone = build_cohort(spec, frames, frozenset())
        all_plan = plan_matching(everyone, spec)
        all_draws = (Draws.make(all_plan, spec, seed=seed, min_draws=min_draws,
                                max_draws=max_draws, mc_se=mc_se, n_draws=draws.n_draws)
                     if draws is not None else None)
    if all_draws is not None and draws is not None:
        f_all = all_draws.headline
        analyses.append(Analysis("all records", "sensitivity", None, ALL_RECORDS_BASIS,
                                 HEADLINE_ESTIMAND.format(**words),
                                 Estimate.from_combined(f_all.combined, spec.variance),
                                 f_all.counts))
        clean_vs_all = _clean_vs_all(draws.headline, f_all)
        pp = per_protocol(draws.stack, cohort, spec, plan)
        analyses.append(Analysis("per protocol", "sensitivity", None,
                                 PP_BASIS if words["timedep"] else PP_BASIS_UNWEIGHTED,
                                 PP_ESTIMAND.format(**words),
                                 _pp_estimate(pp.combined, cohort, spec, seed, n_bootstrap),
                                 pp.counts))
    else:
        all_rows = _with_control(match(everyone, spec, seed, all_plan).rows)
        analyses.append(Analysis("all records", "sensitivity", None, ALL_RECORDS_BASIS,
                                 HEADLINE_ESTIMAND.format(**words),
                                 Estimate.from_cox(cox(all_rows, "all records",
                                                       spec.variance, engine)),
                                 _row_counts(all_rows)))
    tv = full_cohort(cohort, spec, plan)
    analyses.append(Analysis(
        "full cohort", "sensitivity", None, TV_BASIS, TV_ESTIMAND.format(**words),
        Estimate("cohort", "model", tv.beta, tv.se, None, not_estimable=tv.message,
                 note="model-based variance (each patient's rows are disjoint in time)"),
        Counts(0, tv.n_exposed, float(tv.n_patients - tv.n_exposed), float(tv.n_patients),
               float(tv.events), float(tv.events_exposed),
               float(tv.events - tv.events_exposed))))

    infections = detail = None
    if spec.infections is not None:
        inf_frame = get_frame(frames, spec.infections.frame, spec.infections.event)
        if spec.infections.severities:
            sev = spec.infections.severity_column
            if sev not in inf_frame.columns:
                raise StudyDataError(f"infections frame lacks column {sev!r} named by the "
                                     f"study's [infections] severity_column")
            inf_frame = inf_frame[inf_frame[sev].isin(spec.infections.severities)]
        counts = count_infections(rows, inf_frame, spec.infections.date,
                                  cohort.table["origin"])
        infections = compare_infections(rows, counts)
        detail = infection_detail(rows, inf_frame, spec.infections.date,
                                  cohort.table["origin"])
    km_draws = km_over_draws(draws.stack, spec.horizon_days) if draws is not None else None
    flow = {**cohort.flow, "exposed_after_end": design.exposed_after_end,
            "exposed_before_entry": design.exposed_before_entry,
            "sets": design.n_sets - design.n_without_control,
            "sets_short": design.n_short - design.n_without_control,
            "sets_without_control": design.n_without_control,
            "control_rows": int((rows["exposed"] == 0).sum()),
            "distinct_controls": int(rows.loc[rows["exposed"] == 0, "patient_id"].nunique()),
            "controls_later_exposed": int(rows["crossover_day"].notna().sum())}
    return StudyResult(
        study=spec.name, seed=seed, analyses=tuple(analyses), matched=_csv_rows(rows, spec),
        match=design, design_rows=rows, balance=balance_table(rows, spec.balance,
                                                                _variable_levels(spec, levels)),
        infections=infections, infection_detail=detail,
        km=kaplan_meier(rows, "paper's design", spec.km_times), km_draws=km_draws,
        km_times=tuple(t for t in spec.km_times if t > 0), draws=draws,
        interaction=interaction, clean_vs_all=clean_vs_all, per_protocol=pp,
        ph=schoenfeld_test(rows, None if design_cox.hr is None else math.log(design_cox.hr),
                           design_cox.se_model),
        ph_draws=None if draws is None else ph_over_draws(
            draws.stack, draws.headline.fit.beta, draws.headline.fit.se_model),
        flow=flow, words=words, horizon=spec.horizon_days, ratio=spec.ratio,
        notes=_notes(spec, cohort, design, analyses))


def _variable_levels(spec: StudySpec, levels: Mapping[str, Sequence[str]] | None
                     ) -> dict[str, Sequence[str]]:
    """Variable name -> the allowed levels of its source column (`run_study`'s `levels`)."""
    levels = levels or {}
    return {v.name: levels[v.column] for v in spec.variables
            if v.column and v.column in levels}


def _pp_estimate(combined: Any, cohort: Any, spec: StudySpec, seed: int,
                 n_bootstrap: int | None) -> Estimate:
    """The per-protocol row: combined over the draws; its primary CI from the patient-
    level bootstrap (`analyses.ppboot`) when the study asks for one, the cohort has at
    most `pp_bootstrap_max_patients` eligible patients and it succeeds; otherwise the
    draws' model-based one (`analyses.combine`)."""
    est = Estimate.from_combined(combined, spec.variance)
    n_boot = spec.pp_bootstrap if n_bootstrap is None else n_bootstrap
    if n_boot < 2 or combined.log_hr is None:
        return est
    if len(cohort.table) > spec.pp_bootstrap_max_patients:
        note = (f"model-based CI: the bootstrap runs for at most "
                f"{spec.pp_bootstrap_max_patients:,} eligible patients "
                f"([study] pp_bootstrap_max_patients), this cohort has {len(cohort.table):,}")
        return replace(est, note="; ".join(m for m in (est.note, note) if m))
    boot = pp_bootstrap(cohort, spec, combined, n_boot, seed)
    note = "; ".join(m for m in (est.note, boot.message) if m)
    return replace(est, variance="bootstrap" if boot.se is not None else est.variance,
                   se_bootstrap=boot.se, n_bootstrap=n_boot, note=note)


def _interactions(sub_fits: dict[str, Any], variance: str) -> list[dict[str, Any]]:
    """Ratio of the HRs of two subgroups that split on one variable, per draw, combined."""
    out = []
    items = list(sub_fits.values())
    for i, (a, fa) in enumerate(items):
        for b, fb in items[i + 1:]:
            if len(a.items) != 1 or len(b.items) != 1 or a.items[0][0] != b.items[0][0]:
                continue
            d = fa.fit.beta - fb.fit.beta
            se_m = np.sqrt(fa.fit.se_model ** 2 + fb.fit.se_model ** 2)
            se_r = np.sqrt(fa.fit.se_robust ** 2 + fb.fit.se_robust ** 2)
            reasons = [ra or rb for ra, rb in zip(fa.reasons, fb.reasons, strict=True)]
            c = combine_draws(d, se_m, se_r, reasons)
            est = Estimate.from_combined(c, variance)
            out.append({"variable": a.items[0][0], "subgroups": [a.name, b.name],
                        "ratio_of_hr": est.hr, **{k: v for k, v in est.to_json().items()
                                                   if k != "hr"}})
    return out


def _clean_vs_all(clean: DrawFit, everyone: DrawFit) -> dict[str, Any]:
    """Clean vs all records over the same draws: the ratio of HRs and whether the draws
    can tell it from 20 % (|log ratio| vs log 1.25, beyond 1.96 Monte-Carlo SEs)."""
    d = everyone.fit.beta - clean.fit.beta
    d = d[np.isfinite(d)]
    if not len(d):
        return {"ratio": None, "verdict": "not estimable", "n_draws": 0}
    mean = float(d.mean())
    mc = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.inf
    edge = math.log(1.25)
    if abs(mean) - 1.96 * mc > edge:
        verdict = "differs"
    elif abs(mean) + 1.96 * mc < edge:
        verdict = "within 20%"
    else:
        verdict = "cannot tell"
    return {"ratio": math.exp(mean), "log_ratio": mean, "mc_se": mc,
            "ratio_low": math.exp(mean - 1.96 * mc), "ratio_high": math.exp(mean + 1.96 * mc),
            "verdict": verdict, "n_draws": int(len(d)), "threshold": 0.2}


def _in_sentence(text: str) -> str:
    """A label inside a sentence: first letter lowered unless it starts an acronym."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _words(spec: StudySpec, labels: Mapping[str, str]) -> dict[str, str]:
    """The estimands' and the report's words: the outcome, the origin (day 0), horizon,
    exposure and matching variables, by their labels (the study file's `[outcome]
    label`, `[time] origin_label` and variable labels, else the dictionary's `labels`,
    else the name)."""
    outcome = spec.outcome_label or " or ".join(
        date_word(r.column, labels) for r in spec.outcome_dates)
    origin = spec.origin_label or date_word(spec.origin.column, labels)

    def label(name: str) -> str:
        var = next((v for v in spec.variables if v.name == name), None)
        text = (var.label if var is not None and var.label else
                labels.get(var.column if var is not None and var.column else name)
                or name.replace("_", " "))
        return _in_sentence(text)

    timedep = [label(v) for v in spec.matching_exact if spec.variable(v).kind != "baseline"]
    words = {"outcome": outcome, "origin": origin, "h": str(spec.horizon_days),
             "exp": spec.exposure.label,
             "matching": " and ".join(label(v) for v in spec.matching_exact)
             or "time since the origin", "timedep": " and ".join(timedep)}
    words["weights"] = PP_WEIGHTS.format(**words) if timedep else PP_NO_WEIGHTS
    words["tv_now"] = TV_NOW.format(**words) if timedep else ""
    return words


def _notes(spec: StudySpec, cohort: Any, m: Any, analyses: list[Analysis]
           ) -> tuple[str, ...]:
    notes = list(cohort.notes)
    short = m.n_short - m.n_without_control
    if short:
        notes.append(f"{short} exposed patient(s) found fewer than {spec.ratio} eligible "
                     "controls; their sets are kept.")
    if m.n_without_control:
        notes.append(f"{m.n_without_control} exposed patient(s) found no eligible control; "
                     "their sets add nothing to the conditional Cox model and are not "
                     "counted as sets or exposed patients.")
    if m.exposed_after_end:
        notes.append(f"{m.exposed_after_end} exposed patient(s) started the exposure on or "
                     f"after their last day of follow-up and were left out.")
    if m.exposed_before_entry:
        notes.append(f"{m.exposed_before_entry} exposed patient(s) started the exposure "
                     "before entering the registry (prevalent users) and were left out.")
    notes.extend(f"{a.name}: {a.estimate.not_estimable}" for a in analyses
                 if a.estimate.not_estimable)
    return tuple(notes)


def _csv_rows(rows: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    extra = list(dict.fromkeys([*spec.matching_exact,
                                *(c for sg in spec.subgroups for c in sg.filter)]))
    out = rows[["set_id", "record_id", "site", "exposed", "index_day", "time", "event",
                *extra]].copy()
    for col in extra:        # booleans written one way, as exposed and event are: 0/1
        values = out[col]
        if pd.api.types.is_bool_dtype(values) or set(values.dropna().unique()) <= {True,
                                                                                   False}:
            out[col] = values.astype("boolean").astype("Int64")
    return out.astype({"set_id": int, "exposed": int, "index_day": int, "time": int,
                       "event": int})
