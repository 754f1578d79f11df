"""What the analysis stage saves in the store so the study report can be rebuilt from it.

Two payloads per run and study (`Store.save_result(run_id, study, kind, payload)`):

* `"study"`: `<study>.json` exactly (DESIGN.md);
* `"report"`: everything else the PDF shows, already in display form (cohort flow, KM
  steps and numbers at risk, Table 1 rows, infections table, seed spread, the methods
  inputs and the software versions of the run), as plain JSON.

`study_payloads(result, spec, ...)` makes both from `analyses.run.StudyResult` and its
`StudySpec`; it reads them by attribute, so this module does not import `analyses`.
Keeping the versions and labels in the payload is what makes a rebuilt report equal to
the night's one even after an upgrade.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping
from importlib import metadata as _metadata
from typing import Any

from analyses.study import date_word
from registry.reports.format import with_article

__all__ = ["MATCHED_KIND", "PP_CAPTIONS", "REPORT_KIND", "STUDY_KIND", "field_labels",
           "field_levels", "pp_ci_mode", "software_versions", "study_labels",
           "study_payloads", "variance_rationale"]

#: The kinds of a study's results in the store: `<study>.json`, the report payload and
#: `<study>-matched.csv` (text).
STUDY_KIND = "study"
REPORT_KIND = "report"
MATCHED_KIND = "matched"

_PACKAGES = ("pandas", "numpy", "lifelines", "statsmodels", "great_expectations", "weasyprint",
             "matplotlib", "registry")
_ANALYSIS_LABELS = {"main": "Headline: all matched sets",
                    "all records": "All records (flagged included)",
                    "paper's design": "The paper's design (one draw)",
                    "per protocol": "Per protocol (IPC-weighted)",
                    "full cohort": "Full cohort, time-varying exposure"}
#: Why the CIs are what they are: each figure a simulation's in benchmarks/RESULTS.md.
_HEADLINE_RATIONALE = (
    "The headline combines many re-drawn matchings (the mean of their log hazard ratios), "
    "so it does not depend on the seed; its CI carries both the sampling of patients and "
    "the draw of the controls (the multiple-outputation variance: the mean of the draws' "
    "model variances minus their spread, Follmann et al., Biometrics 2003). A patient-level "
    "bootstrap redoing the matching would need B x M matchings a night; the analytic "
    "combination needs none beyond the M draws. In 300 simulated study-size cohorts "
    "(234 patients, HR 1) its 95% CI covered the true HR in 94.3% (Monte-Carlo SE 1.3), "
    "and in 100 cohorts ten times that size in 97.0% (1.7); two master seeds gave "
    "headline HRs within 2% of each other in 99.7% and 100% of them. ")
PP_BOOTSTRAP_RATIONALE = (
    "The per-protocol CI comes from a patient-level bootstrap: each replicate resamples "
    "the patients and redoes the matching (one draw), the model of starting the exposure "
    "that gives the weights, and the weighted Cox model; the replicates' variance minus "
    "the real draws' spread (as for the headline) is the CI's variance. With 100 "
    "replicates it gave a CI in 72 of 73 simulated study-size cohorts (234 patients, "
    "HR 1) and covered the true HR in 97.2% (Monte-Carlo SE 1.9) of them, a median SE "
    "of 0.403 for an empirical SD of log HR of 0.408; in 400 cohorts ten times that "
    "size (2,340 patients) it gave a CI in 399 and covered 94.0% (1.2), a median SE of "
    "0.113 for an empirical SD of 0.118. The draws' weighted model-based variances it "
    "replaces covered 88.0% at study size and 91.8% at ten times that size (too narrow: "
    "each draw's is ~25% low at study size, ~10% at ten times it, and the draws' spread "
    "is subtracted from it), the "
    "robust sandwich ones 61-70% "
    "(analyses_pp_sim.py). ")
PP_MODEL_RATIONALE = (
    "The per-protocol CI combines the draws' IPC-weighted model-based variances in the "
    "same way ({why}); it "
    "covered 88.0% (Monte-Carlo SE 2.3) of 200 simulated study-size cohorts and 91.8% "
    "(1.4) of 400 at ten times that size, so read it as approximate (too narrow); the "
    "robust sandwich variances covered 61-70% and are not used "
    "(analyses_pp_sim.py). ")
#: The per-protocol CI of a cohort above the bootstrap's size limit ({limit}, {n}: the
#: limit and the cohort's eligible patients).
PP_SIZE_RATIONALE = (
    "The per-protocol CI combines the draws' IPC-weighted model-based variances in the "
    "same way: the patient-level bootstrap that gives it at study size runs for at most "
    "{limit} eligible patients ([study] pp_bootstrap_max_patients) and this cohort has "
    "{n} (the bootstrap's cost grows with the cohort). The model-based CI is too narrow "
    "in small cohorts and less so in larger ones: it covered 88.0% of simulated "
    "study-size cohorts (234 patients) and 91.8% of cohorts ten times that size, where "
    "the bootstrap covered 94.0%; it has not been simulated at this cohort's size, so "
    "read it as approximate, probably a little narrow (analyses_pp_sim.py). ")
#: The results table's sentence on the per-protocol CI, by how it was made.
PP_CAPTIONS = {
    "bootstrap": "CI from a patient-level bootstrap ({b} replicates redoing the matching "
                 "and the weights; 97.2% coverage in simulated study-size cohorts, 94.0% "
                 "at ten times that size).",
    "model": "CI approximate (model-based), too narrow at study size (88.0% coverage in "
             "simulated study-size cohorts): Methods.",
    "failed": "CI approximate (model-based): the bootstrap gave none ({note}); too "
              "narrow at study size (88.0% coverage in simulated study-size cohorts).",
    "size": "CI model-based: the bootstrap runs for at most {limit} eligible patients and "
            "this cohort has {n}; approximate (the model-based CI covered 91.8% of "
            "simulated cohorts of 2,340 patients; not simulated at this size): Methods.",
}


def pp_ci_mode(pp_row: Mapping[str, Any] | None, spec: Any, eligible: int) -> str:
    """How the per-protocol row's CI was made: "bootstrap", "size" (a cohort above
    `pp_bootstrap_max_patients`: model-based), "failed" (the bootstrap gave no CI: the
    row's note says why; model-based) or "model" (no bootstrap asked)."""
    if pp_row is not None and pp_row.get("variance") == "bootstrap":
        return "bootstrap"
    if int(getattr(spec, "pp_bootstrap", 0) or 0) < 2:
        return "model"
    limit = int(getattr(spec, "pp_bootstrap_max_patients", 0) or 0)
    if limit and eligible > limit:
        return "size"
    return "failed" if pp_row is not None and pp_row.get("n_bootstrap") else "model"


_PH_RATIONALE = (
    "The proportional-hazards test of the headline combines the draws' Grambsch-Therneau "
    "scores the same way (mean score; mean variance minus the scores' spread); under "
    "proportional hazards it rejected at the 5% level in 5.6% (Monte-Carlo SE 2.1) of "
    "124 simulated study-size cohorts, the one-draw test in 3.2% (1.6) "
    "(analyses_ph_sim.py). ")
_TV_RATIONALE = (
    "The full-cohort row is stratified on the matching variables as they are on each day, "
    "for exposed and unexposed time alike; in 160 "
    "simulated cohorts of 2,340 patients its bias was within one Monte-Carlo SE and its "
    "CI covered 99.0% (HR 1) and 98.3% (HR 0.5); freezing the time-dependent ones at the "
    "index day, as a matched set does, had biased its log hazard ratio by +0.08 "
    "(analyses_fullcohort_sim.py).")


def variance_rationale(mode: str, *, limit: int = 0, n: int = 0) -> str:
    """The methods' paragraph on the CIs; `mode`: how the per-protocol CI was made
    (`pp_ci_mode`); `limit`, `n`: the bootstrap's size limit and the cohort's eligible
    patients (for "size")."""
    why = {"model": "this study asks for no bootstrap of it: [study] pp_bootstrap = 0",
           "failed": "the bootstrap gave no CI in this run, the results table says why"}
    pp = {"bootstrap": PP_BOOTSTRAP_RATIONALE, "size": PP_SIZE_RATIONALE}.get(
        mode, PP_MODEL_RATIONALE).format(limit=f"{limit:,}", n=f"{n:,}", why=why.get(mode, ""))
    return _HEADLINE_RATIONALE + pp + _PH_RATIONALE + _TV_RATIONALE


#: Variables the analyses derive (not fields of the dictionary, not named by the study);
#: `{origin}` is day 0 in words (`[time] origin_label`, else the origin field's label).
_DERIVED_LABELS = {"index_day": "Days from {origin} to the index day"}
_VARIANCE = {"robust": "robust (sandwich) variance clustered on patient",
             "model": "model-based (inverse information) variance"}


def software_versions() -> dict[str, str]:
    """Python and the installed versions of the packages the numbers and PDFs rest on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = _metadata.version(name.replace("_", "-"))
        except _metadata.PackageNotFoundError:
            if name == "registry":
                from registry import __version__ as version  # type: ignore[attr-defined]

                out[name] = str(version)
    return out


def field_labels(metadata: Any) -> dict[str, str]:
    """Field name -> its label in the REDCap data dictionary (metadata rows), for Table 1."""
    out = {}
    for row in metadata or ():
        label = str(row.get("field_label") or "").strip().rstrip("?").strip()
        if label:
            out[str(row["field_name"])] = label
    return out


def field_levels(metadata: Any) -> dict[str, tuple[str, ...]]:
    """Field name -> its choice labels in the data dictionary's order, for the radio and
    dropdown fields (`registry.tidy` reads those as labels, keeping a code outside the
    choices verbatim): Table 1 counts any other value as missing (`analyses.balance`)."""
    from registry.fieldtypes import choices

    return {str(row["field_name"]): tuple(choices(row).values()) for row in metadata or ()
            if row.get("field_type") in ("radio", "dropdown")}


def study_labels(spec: Any, labels: Mapping[str, str]) -> dict[str, str]:
    """Display names of a study's variables: the study file's `label`, else the field's
    label in the data dictionary (`labels`, from `field_labels`), for every variable
    whose source column has one. The one label source of the study's JSON and PDF."""
    out = dict(labels)
    for v in spec.variables:
        if v.label:
            out[v.name] = v.label
        elif v.column and v.column in labels:
            out[v.name] = labels[v.column]
    return out


def _in_sentence(text: str) -> str:
    """A label inside a sentence: first letter lowered unless it starts an acronym."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _label(name: str, labels: Mapping[str, str]) -> str:
    """The display name: given label, else the name with its first letter raised
    ("rp_ild" -> "Rp ild", "RP-ILD" stays)."""
    if labels.get(name):
        return labels[name]
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def _flow(result: Any, spec: Any) -> dict[str, int]:
    """The cohort-flow diagram's counts. `result.flow["sets"]` and `["sets_short"]`
    already leave out the sets without a control; the exposed patients who are in no
    set are split by why: no eligible control, exposure on or after the last follow-up,
    exposure before entry (prevalent users)."""
    f = {k: int(v) for k, v in dict(result.flow).items()}
    registry, excluded, eligible = f["registry"], f.get("excluded_flags", 0), f["eligible"]
    matched = f.get("sets", 0)
    return {"registry": registry, "excluded_blocking": excluded,
            "not_eligible": registry - excluded - eligible, "eligible": eligible,
            "exposed": f["exposed"], "exposed_matched": matched,
            "exposed_unmatched": f.get("sets_without_control", 0),
            "exposed_after_end": f.get("exposed_after_end", 0),
            "exposed_before_entry": f.get("exposed_before_entry", 0),
            "controls": f.get("control_rows", 0),
            "distinct_controls": f.get("distinct_controls", 0), "k": int(spec.ratio),
            "sets_short": f.get("sets_short", 0)}


def _km(result: Any, arms: Mapping[str, str]) -> list[dict[str, Any]]:
    """The curves the PDF draws: combined over the headline's draws (a daily grid) when
    there are draws, else the paper's-design draw's steps."""
    k = getattr(result, "km_draws", None)
    if k is not None:
        out = []
        for i, label in enumerate(arms.values()):
            at = [[float(t), int(round(float(k.at_risk[i, min(int(t), len(k.days) - 1)])))]
                  for t in result.km.at_risk["time"].unique()]
            out.append({"arm": label, "times": [float(d) for d in k.days],
                        "survival": [float(v) for v in k.survival[i]],
                        "ci_low": [float(v) for v in k.ci_low[i]],
                        "ci_high": [float(v) for v in k.ci_high[i]], "at_risk": at})
        return out
    km = result.km
    out = []
    for arm, label in arms.items():
        steps = km.steps[km.steps["arm"] == arm].sort_values("time")
        risk = km.at_risk[km.at_risk["arm"] == arm].sort_values("time")
        if steps.empty:
            continue
        times = [float(t) for t in steps["time"]]
        surv = [float(s) for s in steps["survival"]]
        low = [float(v) for v in steps["ci_low"].fillna(0.0)]
        high = [float(v) for v in steps["ci_high"].fillna(1.0)]
        if times[0] > 0:
            times, surv, low, high = [0.0, *times], [1.0, *surv], [1.0, *low], [1.0, *high]
        out.append({"arm": label, "times": times, "survival": surv, "ci_low": low,
                    "ci_high": high,
                    "at_risk": [[float(t), int(n)] for t, n in zip(risk["time"], risk["n"],
                                                                    strict=True)]})
    return out


def _balance(result: Any, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    for r in result.balance.table.to_dict("records"):
        if r["variable"] == "n":
            continue
        label = _label(str(r["variable"]), labels).rstrip("?")  # a question as a row name
        if r.get("level"):
            label = f"{label}: {r['level']}"
        kind = r.get("kind")
        label += {"binary": ", n (%)", "categorical": ", n (%)"}.get(str(kind), "")
        missing = int(r.get("missing_exposed") or 0) + int(r.get("missing_control") or 0)
        rows.append({"label": label, "exposed": str(r["exposed"]),
                     "controls": str(r["control"]), "smd": _num(r.get("smd")),
                     "missing": str(missing) if missing else ""})
    return rows


def _infections(result: Any, exposed_label: str, control_label: str) -> dict[str, Any] | None:
    inf = result.infections
    if inf is None:
        return None
    t = inf.table
    e, c = t.loc["exposed"], t.loc["control"]

    def pct(row: Any) -> str:
        return f"{int(row['with_infection'])} ({float(row['pct_with_infection']):.1f}%)"

    det = getattr(result, "infection_detail", None)
    patients_row = ["Patients with an infection, n (%) of matched rows", pct(e), pct(c), ""]
    if det is not None:
        def of(row: Any) -> str:
            return (f"{int(row['with_infection']):,} of {int(row['patients']):,} "
                    f"({float(row['pct_with_infection']):.1f}%)")
        patients_row = ["Distinct patients with an infection, n of N (%)",
                        of(det.patients.loc["exposed"]), of(det.patients.loc["control"]), ""]

    rr = "–"
    if inf.rate_ratio is not None:
        rr = f"{inf.rate_ratio:.2f} ({inf.ci_low:.2f} to {inf.ci_high:.2f})"
    rows = [
        patients_row,
        ["Infections", f"{int(e['infections']):,}", f"{int(c['infections']):,}", ""],
        ["Patient-years of follow-up", f"{float(e['patient_years']):,.1f}",
         f"{float(c['patient_years']):,.1f}", ""],
        ["Infections per 100 patient-years", f"{float(e['rate_per_100py']):,.1f}",
         f"{float(c['rate_per_100py']):,.1f}", rr],
    ]
    note = inf.method + "." + (f" {inf.message}." if inf.message else "")
    if inf.p is not None:
        note += f" p = {inf.p:.3f}." if inf.p >= 0.001 else " p < 0.001."
    if det is not None and det.rate_ratio is not None:
        note += (f" With a rate per band of days since the index day: rate ratio "
                 f"{det.rate_ratio:.2f} ({det.ci_low:.2f} to {det.ci_high:.2f}).")
    if det is not None and det.pp_rate_ratio is not None:
        note += (f" Per protocol (controls' follow-up cut when they start): "
                 f"{det.pp_rate_ratio:.2f} ({det.pp_ci_low:.2f} to {det.pp_ci_high:.2f}).")
    note += (" Infections after a control starts the exposure count for the control, as "
             "the headline's estimand says; a patient matched twice counts once per arm.")
    # "(n = 54)" kept on one line (a narrow column broke it after "=")
    return {"columns": ["", f"{exposed_label} (n\u00a0=\u00a0{int(e['rows']):,})",
                        f"{control_label} (n\u00a0=\u00a0{int(c['rows']):,})",
                        "Rate ratio (95% CI)"],
            "rows": rows, "numeric": [False, True, True, True], "note": note}


def study_payloads(result: Any, spec: Any, *, snapshot: str | int | None, run_id: str,
                   labels: Mapping[str, str] | None = None, exposed_label: str = "Exposed",
                   control_label: str = "Matched controls",
                   versions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`{"study": <study>.json, "report": ...}` for one run of one study.

    `labels`: display names of variables and analyses (e.g. the dictionary's field
    labels); anything missing falls back to the column name.
    """
    field_words = dict(labels or {})
    words = dict(getattr(result, "words", None) or {})
    outcome = words.get("outcome") or spec.outcome_label or " or ".join(
        date_word(r.column, field_words) for r in spec.outcome_dates)
    origin = (words.get("origin") or getattr(spec, "origin_label", "")
              or date_word(spec.origin.column, field_words))
    derived = {k: v.format(origin=origin) for k, v in _DERIVED_LABELS.items()}
    labels = {**derived, **_ANALYSIS_LABELS, **study_labels(spec, field_words)}
    if "timedep" in words and not words["timedep"]:      # no weights: say what it is
        labels["per protocol"] = "Per protocol (censored at crossover)"
    study_json = result.to_json(snapshot=snapshot, run_id=run_id)
    spread = study_json.get("seed_spread")
    pp_row = next((a for a in study_json["analyses"] if a.get("name") == "per protocol"),
                  None)
    eligible = int(study_json["flow"].get("eligible", 0))
    limit = int(getattr(spec, "pp_bootstrap_max_patients", 0) or 0)
    mode = pp_ci_mode(pp_row, spec, eligible)
    methods = {
        "exposure": " taken together with ".join(
            " or ".join(with_article(x) for x in g) for g in spec.exposure.groups)
        + f" ({exposed_label})",
        "comparator": "patients alive, free of the outcome, still followed and not yet "
                      "exposed on that day",
        "outcome": outcome, "horizon_days": int(spec.horizon_days), "k": int(spec.ratio),
        "matching": [_in_sentence(_label(v, labels)) for v in spec.matching_exact],
        "time_zero": "the first day all the drugs were taken together",
        "model": "a Cox model stratified on matched set (Efron ties)",
        "variance": _VARIANCE.get(spec.variance, spec.variance),
        "subgroups": [a.name for a in result.analyses[1:] if a.filter],
        "sensitivity": [a.basis for a in result.analyses if a.filter is None],
        "n_seeds": int(spread["n_draws"]) if spread else 0,
        "eligibility": f"registry patients with a date of {origin} and follow-up after it",
        "origin": origin,
        "versions": dict(versions or software_versions()),
        "variance_rationale": variance_rationale(mode, limit=limit, n=eligible),
        "pp_ci": PP_CAPTIONS[mode].format(
            b=int((pp_row or {}).get("n_bootstrap") or 0), limit=f"{limit:,}",
            n=f"{eligible:,}", note=str((pp_row or {}).get("note") or "")),
    }
    report = {
        "title": spec.title, "exposed_label": exposed_label, "control_label": control_label,
        "ci_method": _VARIANCE.get(spec.variance, spec.variance),
        "labels": {a.name: _label(a.name, labels) for a in result.analyses},
        "flow": _flow(result, spec),
        "km": _km(result, {"exposed": exposed_label, "control": control_label}),
        "balance": _balance(result, labels),
        "infections": _infections(result, exposed_label, control_label),
        "seed_spread": None if not spread else {
            "n_seeds": int(spread["n_draws"]), "hr_low": float(spread["hr_low"]),
            "hr_median": float(spread["hr_median"]), "hr_high": float(spread["hr_high"])},
        "methods": methods,
        "clean_vs_all": study_json.get("clean_vs_all"),
        "interaction": study_json.get("interaction") or [],
        "km_table": study_json.get("km") or [],
        "ph_test": study_json.get("ph_test"),
        "notes": list(study_json.get("notes") or []),
    }
    return {STUDY_KIND: study_json, REPORT_KIND: report}
