"""Seeded report models for the report tests (and for looking at the pages).

Two sites whose record ids follow distinct patterns (`P0001`... at paris, `L0001`...
at lyon) so a test can prove that no record of one site shows in the other's PDF, a
third site (nice) with nothing to fix, and a study report whose numbers are
consistent with each other (the KM curves are real Kaplan-Meier estimates of seeded
survival data).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from registry.reports.models import (
    AnalysisRow,
    BalanceRow,
    CohortFlow,
    Flag,
    KMCurve,
    MethodsInputs,
    NightCount,
    PreviousStudy,
    Resolution,
    RuleResult,
    SeedSpread,
    SiteQuality,
    SiteReport,
    SiteSnapshot,
    StudyReport,
    Table,
)

RUN_ID = "20261125T021400Z"
PREVIOUS_RUN_ID = "20261124T021300Z"
SNAPSHOT_TIME = datetime(2026, 11, 25, 2, 14)
REDCAP = "http://127.0.0.1:8765/redcap_v14.0.0/DataEntry/index.php"
PIDS = {"paris": 101, "lyon": 102, "nice": 103}
PREFIX = {"paris": "P", "lyon": "L", "nice": "N"}

_RULES = (
    ("dates.death_after_diagnosis", "outcome", None, "death_date", "blocking",
     "Date of death ({v}) is before the date of diagnosis: check both dates."),
    ("dates.fu_after_diagnosis", "outcome", None, "last_fu_date", "blocking",
     "Date of last follow-up ({v}) is before the diagnosis: correct it."),
    ("icu.ever_matches_stays", "baseline", None, "icu_ever", "blocking",
     "'Ever admitted to ICU' says No but an ICU stay is recorded: answer Yes or remove the stay."),
    ("required.mda5_titre", "baseline", None, "mda5_titre", "warning",
     "Anti-MDA5 titre is empty: enter the ELISA value (0-500 U/mL)."),
    ("range.ferritin", "baseline", None, "ferritin", "warning",
     "Ferritin {v} ng/mL is outside 0-50,000: check the unit."),
    ("treatments.stop_after_start", "treatments", 1, "trt_stop", "blocking",
     "Treatment stop date ({v}) is before its start date."),
    ("infections.date_in_followup", "infections", 2, "inf_date", "warning",
     "Infection date ({v}) is after the last follow-up: check it or update follow-up."),
    ("icu.discharge_after_admit", "icu_stay", 1, "icu_discharge_date", "warning",
     "ICU discharge ({v}) is before admission: check both dates."),
)


def link(site: str, record: str, form: str, instance: int | None) -> str:
    """The REDCap data-entry URL of one record's form (DESIGN's link format)."""
    url = f"{REDCAP}?pid={PIDS[site]}&id={record}&page={form}"
    return url if instance is None else f"{url}&instance={instance}"


FIELD_LABELS = {"death_date": "Date of death", "last_fu_date": "Date of last follow-up",
          "icu_ever": "Ever admitted to ICU?", "mda5_titre": "Anti-MDA5 titre",
          "ferritin": "Ferritin", "trt_stop": "Stop date", "inf_date": "Infection date",
          "icu_discharge_date": "ICU discharge date", "trt_start": "Start date",
          "diagnosis_date": "Date of diagnosis", "birth_date": "Date of birth",
          "age_at_diagnosis": "Age at diagnosis"}
SUGGESTIONS = {"death_date": "Check the date of death against the diagnosis.",
               "mda5_titre": "Enter the titre from the lab report.",
               "trt_stop": "Check the stop date.", "inf_date": "Check the infection date.",
               "trt_start": "Check the start date and the end of follow-up."}
#: The fields each fixture rule reads (its own first).
INVOLVES = {"dates.death_after_diagnosis": ("death_date", "diagnosis_date"),
            "dates.fu_after_diagnosis": ("last_fu_date", "diagnosis_date"),
            "treatments.stop_after_start": ("trt_stop", "trt_start"),
            "infections.date_in_followup": ("inf_date", "death_date", "last_fu_date")}
FIELD_FORMS = {"death_date": "outcome", "last_fu_date": "outcome", "diagnosis_date": "baseline",
               "birth_date": "baseline", "age_at_diagnosis": "baseline", "trt_start": "treatments",
               "trt_stop": "treatments", "inf_date": "infections"}


def root_record(site: str, record: str = "0990", treatments: int = 6) -> tuple[Flag, ...]:
    """One record whose death date is typed before the diagnosis: a death flag, every
    treatment "after the end of follow-up", and REDCap's calculated age off too."""
    rid = f"{PREFIX[site]}{record}"
    seen = date(2026, 11, 18)

    def flag(form: str, instance: int | None, field: str, rule: str, severity: str,
             message: str, **extra: object) -> Flag:
        return Flag(site=site, record_id=rid, form=form, instance=instance, field=field,
                    rule_id=rule, severity=severity, status="open",  # type: ignore[arg-type]
                    first_seen=seen, last_seen=date(2026, 11, 25), message=message,
                    link=link(site, rid, form, instance), label=FIELD_LABELS.get(field, ""),
                    suggestion=SUGGESTIONS.get(field, ""), **extra)  # type: ignore[arg-type]

    out = [flag("outcome", None, "death_date", "dates.death_after_diagnosis", "blocking",
                "Death 2001-01-01 is before the diagnosis 2022-12-23", value="2001-01-01",
                involves=("death_date", "diagnosis_date"))]
    for i in range(1, treatments + 1):
        out.append(flag("treatments", i, "trt_start", "dates.trt_start_before_end", "blocking",
                        f"Treatment start 2023-0{i}-02 is after the end of follow-up "
                        "2001-01-01 (death or last follow-up)",
                        involves=("trt_start", "death_date", "last_fu_date")))
    out.append(flag("baseline", None, "age_at_diagnosis", "dates.age_at_diagnosis_plausible",
                    "warning", "Age at diagnosis (calculated by REDCap) is 2 years, outside "
                    "the plausible 5 to 105", computed_from=("birth_date", "diagnosis_date"),
                    involves=("age_at_diagnosis",)))
    return tuple(out)


def make_flags(site: str, n: int, *, seed: int = 7, resolved: int = 3) -> tuple[Flag, ...]:
    """`n` open flags (plus `resolved` just-resolved ones) on about n/2 records of `site`."""
    rng = random.Random(f"{seed}-{site}")
    n_records = max(1, n // 2)
    records = [f"{PREFIX[site]}{i:04d}" for i in rng.sample(range(1, 999), n_records)]
    flags: list[Flag] = []
    seen: set[tuple[str, str]] = set()
    while len(flags) < n + resolved:
        record = rng.choice(records)
        rule_id, form, instance, field, severity, message = rng.choice(_RULES)
        if (record, rule_id) in seen:
            continue
        seen.add((record, rule_id))
        status = ("resolved" if len(flags) >= n
                  else rng.choices(["new", "open", "reopened"], [3, 6, 1])[0])
        first = date(2026, 11, 25) - timedelta(days=rng.randrange(0, 20))
        value = f"20{rng.randrange(10, 26)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}"
        flags.append(Flag(
            site=site, record_id=record, form=form, instance=instance, field=field,
            rule_id=rule_id, severity=severity, status=status,  # type: ignore[arg-type]
            first_seen=first, last_seen=date(2026, 11, 25),
            message=message.format(v=value), link=link(site, record, form, instance),
            label=FIELD_LABELS.get(field, ""), suggestion=SUGGESTIONS.get(field, ""), value=value,
            involves=INVOLVES.get(rule_id, (field,)),
        ))
    return tuple(flags)


def make_history(nights: int = 14, *, seed: int = 3, end_total: int = 20) -> tuple[NightCount,
                                                                                     ...]:
    rng = random.Random(seed)
    out = []
    for i in range(nights):
        total = max(0, end_total + (nights - 1 - i) * 2 + rng.randrange(-3, 4))
        blocking = total // 3
        out.append(NightCount(date(2026, 11, 25) - timedelta(days=nights - 1 - i), blocking,
                              total - blocking))
    return tuple(out)


def site_report(site: str = "paris", n_flags: int = 12, *, root: bool | None = None,
                **changes: object) -> SiteReport:
    """A site report for `site` with `n_flags` open flags (0 gives the all-clear page);
    paris (`root`) also has `root_record`'s 8 flags, one wrong death date behind 7."""
    flags = make_flags(site, n_flags, resolved=3 if n_flags else 2) if n_flags else ()
    if (site == "paris" if root is None else root) and n_flags:
        flags = root_record(site) + flags
    report = SiteReport(
        site=site, site_label={"paris": "Paris – Hôpital Saint-Louis", "lyon": "Lyon",
                               "nice": "Nice"}[site],
        run_id=RUN_ID, snapshot_id=f"{site}-{RUN_ID}", snapshot_time=SNAPSHOT_TIME,
        n_records=61, flags=flags,
        history=make_history(end_total=n_flags) if n_flags else make_history(end_total=0),
        previous_run_id=PREVIOUS_RUN_ID, previous_time=SNAPSHOT_TIME - timedelta(days=1),
        field_labels=FIELD_LABELS, field_forms=FIELD_FORMS,
        form_labels={"baseline": "Baseline", "outcome": "Outcome", "treatments": "Treatments",
                     "infections": "Infections", "icu_stay": "ICU stay"},
        form_order=("baseline", "treatments", "icu_stay", "infections", "outcome"),
        repeating_forms=frozenset({"treatments", "icu_stay", "infections"}),
        run_time=SNAPSHOT_TIME,
        resolution=Resolution(days=90, resolved=37, median_days=6.5, reopened=3),
    )
    if changes:
        from dataclasses import replace
        report = replace(report, **changes)  # type: ignore[arg-type]
    return report


# ---------------------------------------------------------------------------- study

STUDY_JSON: dict[str, object] = {
    "study": "jak_cni",
    "snapshot": "S-20261125T021400Z",
    "run_id": RUN_ID,
    "analyses": [
        {"name": "main", "filter": {}, "n_sets": 27, "n_exposed": 27, "n_controls": 52,
         "events": 39, "hr": 1.0213, "ci_low": 0.4821, "ci_high": 2.1634, "p": 0.9561},
        {"name": "icu_at_index", "filter": {"icu_at_index": 1}, "n_sets": 12, "n_exposed": 12,
         "n_controls": 22, "events": 24, "hr": 1.3377, "ci_low": 0.5203, "ci_high": 3.4391,
         "p": 0.5461},
        {"name": "no_icu_at_index", "filter": {"icu_at_index": 0}, "n_sets": 15,
         "n_exposed": 15, "n_controls": 30, "events": 15, "hr": 0.5862, "ci_low": 0.1934,
         "ci_high": 1.7768, "p": 0.3451},
        {"name": "rp_ild", "filter": {"rp_ild": 1}, "n_sets": 20, "n_exposed": 20,
         "n_controls": 38, "events": 33, "hr": 1.1094, "ci_low": 0.5011, "ci_high": 2.4562,
         "p": 0.7983},
        {"name": "all_records", "filter": None, "basis": "all records, flagged ones included",
         "n_sets": 29, "n_exposed": 29, "n_controls": 56, "events": 42, "hr": 0.9712,
         "ci_low": 0.4695, "ci_high": 2.0089, "p": 0.9373},
        {"name": "censor_at_crossover", "filter": None,
         "basis": "controls censored when they start JAK-CNI", "n_sets": 27, "n_exposed": 27,
         "n_controls": 52, "events": 36, "hr": 1.0844, "ci_low": 0.5002, "ci_high": 2.3508,
         "p": 0.0004},
    ],
}

LABELS = {"main": "All matched sets", "icu_at_index": "In ICU at index",
          "no_icu_at_index": "Not in ICU at index", "rp_ild": "RP-ILD only",
          "all_records": "All records (flagged included)",
          "censor_at_crossover": "Controls censored at crossover"}


def _km(seed: int, n: int, rate: float, arm: str, horizon: int = 365) -> KMCurve:
    from lifelines import KaplanMeierFitter

    rng = random.Random(seed)
    times, events = [], []
    for _ in range(n):
        t = rng.expovariate(rate)
        c = rng.uniform(60, 700)
        times.append(min(t, c, horizon))
        events.append(int(t <= min(c, horizon)))
    km = KaplanMeierFitter().fit(times, events)
    sf = km.survival_function_.iloc[:, 0]
    ci = km.confidence_interval_
    grid = (0, 60, 120, 180, 240, 300, 365)
    at_risk = tuple((float(t), int(sum(1 for x in times if x >= t))) for t in grid)
    return KMCurve(arm=arm, times=tuple(float(t) for t in sf.index),
                   survival=tuple(float(s) for s in sf.values), at_risk=at_risk,
                   ci_low=tuple(float(v) for v in ci.iloc[:, 0]),
                   ci_high=tuple(float(v) for v in ci.iloc[:, 1]))


def study_report(*, previous: bool = True, stale_site: bool = True) -> StudyReport:
    """A JAK-CNI study report shaped like the published study (27 exposed, 52 controls)."""
    analyses = tuple(AnalysisRow.from_json(e, index=i, label=LABELS[e["name"]])  # type: ignore
                     for i, e in enumerate(STUDY_JSON["analyses"]))  # type: ignore[arg-type]
    sites = (
        SiteSnapshot("paris", "Paris – Hôpital Saint-Louis", f"paris-{RUN_ID}", SNAPSHOT_TIME),
        SiteSnapshot("lyon", "Lyon", f"lyon-{RUN_ID}", SNAPSHOT_TIME),
        SiteSnapshot("nice", "Nice", "nice-20261122T021100Z", datetime(2026, 11, 22, 2, 11),
                     current=not stale_site,
                     note="REDCap was unreachable on 25 Nov 2026." if stale_site else None),
    )
    rules = (
        ("dates.death_after_diagnosis", "blocking"), ("dates.fu_after_diagnosis", "blocking"),
        ("icu.ever_matches_stays", "blocking"), ("required.mda5_titre", "warning"),
        ("range.ferritin", "warning"), ("treatments.stop_after_start", "blocking"),
    )
    quality = []
    for i, (s, records) in enumerate((("paris", 98), ("lyon", 75), ("nice", 61))):
        rr = tuple(
            RuleResult(rid, records, (i + j) % 4 if j % 2 else 0,
                       100.0 * ((i + j) % 4 if j % 2 else 0) / records,
                       "failed" if j % 2 and (i + j) % 4 else "passed", sev)
            for j, (rid, sev) in enumerate(rules))
        quality.append(SiteQuality(s, sites[i].label, records, 3 - i, 9 - 2 * i, 2 - i // 2,
                                   rr))
    flow = CohortFlow(registry=234, excluded_blocking=6, not_eligible=11, eligible=217,
                      exposed=29, exposed_matched=27, exposed_unmatched=2, controls=52,
                      distinct_controls=49, k=2, sets_short=2)
    balance = (
        BalanceRow("Age at diagnosis, years, mean (SD)", "52.1 (12.4)", "54.3 (13.0)", -0.17),
        BalanceRow("Female, n (%)", "19 (70.4)", "35 (67.3)", 0.07),
        BalanceRow("RP-ILD, n (%)", "20 (74.1)", "38 (73.1)", 0.02),
        BalanceRow("In ICU at index, n (%)", "12 (44.4)", "22 (42.3)", 0.04),
        BalanceRow("Ferritin, ng/mL, median (IQR)", "1,210 (640–2,300)", "980 (520–1,900)",
                   0.21, missing="3"),
        BalanceRow("Anti-MDA5 titre, U/mL, median (IQR)", "142 (88–260)", "150 (95–270)", -0.05),
        BalanceRow("Days from diagnosis to index, median (IQR)", "41 (18–90)", "41 (18–90)",
                   0.00),
    )
    infections = Table(
        columns=("", "JAK-CNI (n=27)", "Controls (n=52)", "Rate ratio (95% CI)"),
        rows=(
            ("Any infection, n (%)", "17 (63.0)", "32 (61.5)", "1.04 (0.57 to 1.89)"),
            ("Infections per 100 patient-years", "142.3", "131.8", ""),
            ("Severe or life-threatening, n (%)", "8 (29.6)", "15 (28.8)", "1.02 (0.43 to 2.41)"),
            ("Pneumocystis, n (%)", "2 (7.4)", "3 (5.8)", ""),
            ("CMV reactivation, n (%)", "6 (22.2)", "9 (17.3)", ""),
        ),
        numeric=(False, True, True, True),
        note="Infections from the index day to the end of follow-up (365 days at most).",
    )
    prev = None
    if previous:
        old = {**STUDY_JSON, "run_id": PREVIOUS_RUN_ID, "snapshot": "S-20261124T021300Z",
               "analyses": [{**STUDY_JSON["analyses"][0],  # type: ignore[index]
                             "n_exposed": 26, "n_controls": 50, "n_sets": 26, "events": 37,
                             "hr": 0.9874, "ci_low": 0.4602, "ci_high": 2.1185, "p": 0.9741}]}
        prev = PreviousStudy(PREVIOUS_RUN_ID, SNAPSHOT_TIME - timedelta(days=1), old,
                             registry_patients=231)
    methods = MethodsInputs(
        exposure="a Janus kinase inhibitor taken together with a calcineurin inhibitor "
                 "(JAK-CNI)",
        comparator="patients not yet exposed to JAK-CNI on that day",
        outcome="death or lung transplant", horizon_days=365, k=2,
        matching=("site", "RP-ILD", "ICU at index", "days since diagnosis (±30)"),
        time_zero="the first day both drugs were taken", model="a Cox model stratified on "
        "matched set (Efron ties)", variance="a robust sandwich variance clustered on patient",
        subgroups=("in ICU at index", "not in ICU at index", "RP-ILD only"),
        sensitivity=("all records including flagged ones",
                     "controls censored when they start JAK-CNI"),
        n_seeds=20, eligibility="anti-MDA5 positive dermatomyositis diagnosed from 2010",
        versions={"python": "3.11.2", "registry": "0.1.0", "pandas": "2.3.3",
                  "lifelines": "0.30.3", "great_expectations": "1.24.1",
                  "weasyprint": "70.0", "matplotlib": "3.11.2"},
    )
    return StudyReport(
        study="jak_cni", title="JAK-CNI combination in anti-MDA5 dermatomyositis",
        run_id=RUN_ID, generated_at=SNAPSHOT_TIME + timedelta(minutes=6),
        snapshot=str(STUDY_JSON["snapshot"]), sites=sites, result=STUDY_JSON, flow=flow,
        analyses=analyses, ci_method="robust (sandwich) variance clustered on patient",
        methods=methods, balance=balance,
        km=(_km(11, 27, 1 / 420, "JAK-CNI"), _km(12, 52, 1 / 400, "Matched controls")),
        seed_spread=SeedSpread(20, 0.9130, 1.0150, 1.1280),
        infections=infections, quality=tuple(quality), previous=prev,
        exposed_label="JAK-CNI", control_label="Matched controls",
    )
