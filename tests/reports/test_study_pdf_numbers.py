"""Every number of a real run's study PDF read back (pypdf) against its `<study>.json`:
the cohort flow, Table 1, the Kaplan-Meier table, infections, every analysis, the
proportional-hazards test and the clean-vs-all comparison; the estimand in words, by
the dictionary's labels (`reports.payloads.field_labels`), never by column names."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pdf_text
import pytest

from registry.reports.format import fmt_ci, fmt_hr, fmt_hr_ci, fmt_int, fmt_p, fmt_smd
from registry.reports.from_store import study_report_from_store
from registry.reports.payloads import (
    PP_CAPTIONS,
    field_labels,
    study_payloads,
    variance_rationale,
)
from registry.reports.study import render_study_pdf
from registry.store import Store
from tests import anti_mda5

RESULTS_MD = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"


@pytest.fixture(scope="module")
def run_pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """A generated registry (2 sites), the real study with a few draws, saved to a real
    SQLite store, the PDF rebuilt from it: (the study JSON, the PDF's text)."""
    from analyses.run import run_study
    from analyses.study import parse_study
    from registry.sandbox.generator import GeneratorParams, generate
    from registry.tidy import tidy

    reg = generate(GeneratorParams(seed=5, patients=160, sites=2, error_rate=0.0))
    by_site = reg.rows_by_site()
    tmp = tmp_path_factory.mktemp("numbers")
    store = Store.open(f"sqlite:///{tmp / 'registry.sqlite'}")
    when = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    run_id = store.start_run("nightly", started_at=when)
    for site, rows in by_site.items():
        records: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            records.setdefault(row["record_id"], []).append(row)
        info = store.write_snapshot(site, records, metadata=reg.metadata, created_at=when)
        store.use_snapshot(run_id, site, info.id, fresh=True)
    spec = parse_study(anti_mda5.STUDY.read_text())
    frames = tidy(by_site, reg.schema())
    labels = field_labels(reg.metadata)
    excluded = set(sorted(frames.patients["patient_id"])[::15])
    # 10 bootstrap replicates, not the study's 100: the PDF's numbers are the JSON's either
    # way, and the per-protocol row's CI is still the bootstrap's
    result = run_study(spec, frames, excluded, seed_repeats=4, min_draws=4, labels=labels,
                       n_bootstrap=10)
    payloads = study_payloads(result, spec, snapshot="S1", run_id=run_id, labels=labels,
                              exposed_label=spec.exposure.label)
    for kind, payload in payloads.items():
        store.save_result(run_id, spec.name, kind, payload)
    store.finish_run(run_id, "succeeded", 0)
    saved = store.result(run_id, spec.name, "study")
    path = render_study_pdf(study_report_from_store(store, run_id, spec.name),
                            tmp / "jak_cni.pdf")
    store.close()
    return saved, pdf_text.text(path)


def _after(content: str, heading: str) -> str:
    return content[content.index(heading):]


def test_cohort_flow(run_pdf: tuple[dict[str, Any], str]) -> None:
    doc, content = run_pdf
    f = doc["flow"]
    matched = f["sets"]                  # sets with a control (the JSON's own count)
    assert f["excluded_flags"] > 0
    for piece in (f"{fmt_int(f['registry'])} patients in the registry",
                  f"{fmt_int(f['excluded_flags'])} patients left out for blocking",
                  f"{fmt_int(f['registry'] - f['excluded_flags'])} patients with usable",
                  f"{fmt_int(f['eligible'])} eligible patients",
                  f"{fmt_int(f['exposed'])} exposed to JAK-CNI",
                  f"{fmt_int(matched)} exposed + {fmt_int(f['control_rows'])} controls in "
                  f"{fmt_int(matched)} matched sets",
                  f"the controls are {fmt_int(f['distinct_controls'])} distinct patients"):
        assert piece in content, piece


def test_table_1(run_pdf: tuple[dict[str, Any], str]) -> None:
    doc, content = run_pdf
    table = _after(content, "Baseline characteristics (Table 1)")
    rows = [r for r in doc["table1"] if r["kind"] != "count"]
    assert rows
    for r in rows:
        cells = [*r["exposed"].split("; "), *r["control"].split("; ")]
        if r["smd"] is not None:
            cells.append(fmt_smd(r["smd"]))
        pattern = r"\s".join(re.escape(c) for c in cells)
        assert re.search(pattern, table), (r["variable"], r["level"], cells)
    n = next(r for r in doc["table1"] if r["kind"] == "count")
    assert f"n = {n['exposed']}" in table and f"n = {n['control']}" in table


def test_kaplan_meier_table(run_pdf: tuple[dict[str, Any], str]) -> None:
    doc, content = run_pdf
    table = _after(content, "Kaplan-Meier estimates from the index day")
    for arm in doc["km"]:
        cells = []
        for t in arm["times"]:
            cells.append(f"{t['survival'] * 100:.1f}%")
            if t["ci_low"] is not None:
                cells.append(f"{t['ci_low'] * 100:.1f}-{t['ci_high'] * 100:.1f}")
        assert re.search(r"\s".join(re.escape(c) for c in cells), table), (arm["arm"], cells)


def test_infections(run_pdf: tuple[dict[str, Any], str]) -> None:
    doc, content = run_pdf
    inf = doc["infections"]
    table = _after(content, "Infections")
    e, c = ({a["arm"]: a for a in inf["arms"]}[k] for k in ("exposed", "control"))
    assert (f"{e['patients_with_infection']:,} of {e['patients']:,} "
            f"({e['pct_patients_with_infection']:.1f}%) {c['patients_with_infection']:,} of "
            f"{c['patients']:,} ({c['pct_patients_with_infection']:.1f}%)") in table
    assert f"Infections {e['infections']:,} {c['infections']:,}" in table
    assert (f"Patient-years of follow-up {e['patient_years']:,.1f} "
            f"{c['patient_years']:,.1f}") in table
    assert (f"{e['rate_per_100py']:,.1f} {c['rate_per_100py']:,.1f} "
            f"{fmt_hr_ci(inf['rate_ratio'], inf['ci_low'], inf['ci_high'])}") in table
    assert f"p = {fmt_p(inf['p'])}" in table


def test_every_analysis_and_the_tests_beside_them(run_pdf: tuple[dict[str, Any], str]) -> None:
    doc, content = run_pdf
    table = _after(content, "Results Analysis Sets")
    for a in doc["analyses"]:
        sets = "–" if a["method"] == "cohort" else fmt_int(a["n_sets"])   # no sets
        row = " ".join([sets, fmt_int(a["n_exposed"]),
                        fmt_int(a["n_controls"]), fmt_int(a["events"]), fmt_hr(a["hr"]),
                        fmt_ci(a["ci_low"], a["ci_high"]), fmt_p(a["p"])])
        assert row in table, (a["name"], row)
    main = doc["analyses"][0]
    assert f"{fmt_int(main['n_draws'])} re-drawn matchings" in content
    ph = doc["ph_test"]
    assert ph["times"] and len(ph["times"]) == len(ph["scaled_residuals"])
    assert f"chi-square {ph['statistic']:.2f}, p = {fmt_p(ph['p'])}" in content
    head = ph["headline"]                 # the headline's own test, over its draws
    assert head["n_draws"] == main["n_draws"] and head["p"] is not None
    assert (f"combined over {head['n_draws']} of its draws as the hazard ratio is): "
            f"chi-square {head['statistic']:.2f}, p = {fmt_p(head['p'])}") in content
    pp = next(a for a in doc["analyses"] if a["name"] == "per protocol")
    assert pp["variance"] == "bootstrap" and pp["bootstrap_ci"] == [pp["ci_low"],
                                                                    pp["ci_high"]]
    assert (f"CI from a patient-level bootstrap ({pp['n_bootstrap']} replicates "
            "redoing the matching and the weights; ") in content
    assert "Scaled Schoenfeld residuals" in content or "scaled Schoenfeld residuals" in content
    cva = doc["clean_vs_all"]
    assert f"all records / clean records = {cva['ratio']:.2f}" in content
    for it in doc["interaction"]:
        assert f"p = {fmt_p(it['p'])}" in content


def test_the_estimand_is_in_the_dictionarys_words(run_pdf: tuple[dict[str, Any], str]) -> None:
    doc, content = run_pdf
    estimand = doc["analyses"][0]["estimand"]
    assert ("matched on rapidly progressive ILD (RP-ILD) and in ICU by the index day"
            in estimand)
    assert "death or lung transplant within 365 days" in estimand
    assert f"Estimand: {estimand}." in content
    for name in ("rp_ild", "icu_at_index", "lung_tx", "lung tx"):
        assert name not in content, name


def test_the_variance_claims_quote_results_md() -> None:
    """The coverage and stability figures the PDF quotes (the methods' paragraph and the
    results table's sentence on the per-protocol CI, whichever way it was made) are the
    simulations' in benchmarks/RESULTS.md."""
    results = RESULTS_MD.read_text()
    for mode in ("bootstrap", "model", "failed", "size"):
        figures = re.findall(r"\d+\.\d%", variance_rationale(mode, limit=5000, n=23400))
        assert len(figures) >= 7
        figures += re.findall(r"\d+\.\d%", PP_CAPTIONS[mode])
        for figure in figures:
            assert f"**{figure[:-1]} %**" in results, (mode, figure)


def test_a_cohort_above_the_bootstraps_limit_gets_the_model_based_ci_and_says_so() -> None:
    """`[study] pp_bootstrap_max_patients`: above it no bootstrap is run, the row's CI is
    the model-based one with a note, and the report's sentence and methods say which
    CI it is, why, and quote its coverage."""
    from analyses.run import run_study
    from tests.analyses.synth import frames, jak_cni, simulate

    spec = jak_cni(seed_repeats=3, pp_bootstrap_max_patients=50)
    result = run_study(spec, frames(simulate(80, 5, 0.6)), min_draws=3)
    payloads = study_payloads(result, spec, snapshot="S1", run_id="r1")
    pp = next(a for a in payloads["study"]["analyses"] if a["name"] == "per protocol")
    assert pp["variance"] == "model" and "n_bootstrap" not in pp
    assert "at most 50 eligible patients" in pp["note"] and "this cohort has 80" in pp["note"]
    methods = payloads["report"]["methods"]
    assert methods["pp_ci"].startswith("CI model-based: the bootstrap runs for at most 50 "
                                       "eligible patients and this cohort has 80")
    assert "runs for at most 50 eligible patients" in methods["variance_rationale"]


def test_the_headlines_spread_and_the_infection_models(
        run_pdf: tuple[dict[str, Any], str]) -> None:
    """The numbers in the headline box's small print and the infections' note."""
    doc, content = run_pdf
    main = doc["analyses"][0]
    spread = doc["seed_spread"]
    assert (f"another master seed would move it by about {main['mc_se'] * 100:.1f}% "
            "(Monte-Carlo SE)") in content
    assert (f"One draw alone gives HRs between {fmt_hr(spread['hr_low'])} and "
            f"{fmt_hr(spread['hr_high'])} (middle 95% of the {spread['n_draws']} draws, "
            f"median {fmt_hr(spread['hr_median'])})") in content
    tv = doc["infections"]["time_varying"]
    note = _after(content, "Poisson regression")
    assert (f"rate per band of days since the index day: rate ratio "
            f"{tv['rate_ratio']:.2f} ({tv['ci_low']:.2f} to {tv['ci_high']:.2f})") in note
    assert (f"start): {tv['per_protocol_rate_ratio']:.2f} "
            f"({tv['per_protocol_ci_low']:.2f} to {tv['per_protocol_ci_high']:.2f})") in note
