"""The full-cohort time-varying sensitivity row: which stratification recovers the HR.

    PYTHONPATH=. python benchmarks/analyses_fullcohort_sim.py --patients 2340 --reps 100
    PYTHONPATH=. python benchmarks/analyses_fullcohort_sim.py --patients 2340 --reps 40 \
        --delayed 0.5 --first-seed 11000
    PYTHONPATH=. python benchmarks/analyses_fullcohort_sim.py --patients 2340 --reps 60 \
        --true-hr 0.5

Each replicate: `generate(GeneratorParams(seed, patients, 5, error_rate=0, true_hr,
delayed_entry=q))` -> `registry.tidy.tidy` -> the cohort of
`registries/anti_mda5/studies/jak_cni.toml` (with `[time] entry` when q > 0) -> the
full-cohort Cox model with exposure as a time-varying covariate, three ways:

current   `analyses.perprotocol.full_cohort` as shipped: strata are RP-ILD and ICU
          admission by each day, in exposed and unexposed time alike;
at index  the former definition (reimplemented below): unexposed time moves to the ICU
          stratum on admission, exposed time keeps the index day's stratum;
no ICU    strata RP-ILD only (no time-dependent adjustment at all).

The generator's hazard of death or transplant is multiplicative in RP-ILD, age, ICU
admission so far and current JAK-CNI (from the day after its start), and ICU
admission is not changed by JAK-CNI; so the HR of current exposure given current ICU
status is the generator's `true_hr`, whatever the entry. Prints a markdown table for
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

from analyses import parse_study
from analyses.candidates import in_intervals, presence_records
from analyses.cohort import Cohort, build_cohort
from analyses.coxph import fit_counting
from analyses.matching import MatchPlan, matching_keys, plan_matching
from analyses.perprotocol import _stratum, full_cohort
from analyses.study import StudySpec
from registry.sandbox.generator import GeneratorParams, generate
from registry.tidy import tidy

TEXT = (Path(__file__).resolve().parents[1] / "registries" / "anti_mda5" / "studies"
        / "jak_cni.toml").read_text()
ENTRY = '[time]\nentry = { frame = "patients", column = "registry_entry_date" }'
Z = 1.959964
VARIANTS = ("current", "at index", "no ICU")


def _specs(delayed: bool) -> tuple[StudySpec, StudySpec]:
    text = TEXT.replace("[time]", ENTRY) if delayed else TEXT
    no_icu = text.replace('exact = ["rp_ild", "icu_at_index"]', 'exact = ["rp_ild"]')
    assert no_icu != text
    return parse_study(text), parse_study(no_icu)


def _at_index_day(cohort: Cohort, spec: StudySpec, plan: MatchPlan
                  ) -> tuple[float | None, float | None]:
    """The former full-cohort model: exposed time keeps the index day's strata."""
    codes, intervals = matching_keys(cohort.table.reindex(plan.pids), cohort, spec)
    entry = cohort.table.reindex(plan.pids)["entry_day"].to_numpy(float)
    horizon = float(spec.horizon_days)
    n = len(plan.pids)
    exp_day = plan.exp_day
    exposed = ~np.isnan(exp_day) & (exp_day < plan.end) & (exp_day >= entry)
    prevalent = ~np.isnan(exp_day) & (exp_day < entry)
    ok = np.all(codes >= 0, axis=1) & ~prevalent
    u_stop = np.where(exposed, exp_day, plan.end)
    rows, lo, hi, z = presence_records(np.where(ok, entry, np.inf), u_stop, codes, intervals)
    ev_u = plan.event[rows] & (hi == plan.end[rows]) & ~exposed[rows]
    e_rows = np.flatnonzero(exposed & ok)
    t = exp_day[e_rows]
    e_hi = np.minimum(plan.end[e_rows], t + horizon)
    ze = np.concatenate([codes[e_rows]] + [
        in_intervals(e_rows, t, p, a, b, n)[:, None].astype(np.int64)
        for p, a, b in intervals], axis=1)
    ev_e = plan.event[e_rows] & (plan.end[e_rows] <= t + horizon)
    d = pd.DataFrame({"entry": np.concatenate([lo, t]), "stop": np.concatenate([hi, e_hi]),
                      "event": np.concatenate([ev_u, ev_e]),
                      "x": np.concatenate([np.zeros(len(rows)), np.ones(len(e_rows))]),
                      "s": _stratum(np.concatenate([z, ze]))})
    d = d[d["stop"] > d["entry"]]
    fit = fit_counting(d["entry"].to_numpy(), d["stop"].to_numpy(), d["event"].to_numpy(),
                       d[["x"]].to_numpy(), d["s"].to_numpy())
    return (float(fit.beta[0]), float(fit.se[0])) if fit.converged else (None, None)


def _replicate(args: tuple[int, int, float, float]) -> dict[str, float]:
    seed, patients, true_hr, delayed = args
    reg = generate(GeneratorParams(seed=seed, patients=patients, sites=5, error_rate=0.0,
                                   true_hr=true_hr, delayed_entry=delayed))
    fr = tidy(reg.rows_by_site(), reg.schema())
    spec, no_icu = _specs(delayed > 0)
    cohort = build_cohort(spec, fr)
    plan = plan_matching(cohort, spec)
    out: dict[str, float] = {"patients": float(len(cohort.table))}
    cur = full_cohort(cohort, spec, plan)
    old = _at_index_day(cohort, spec, plan)
    bare = full_cohort(cohort, no_icu, plan_matching(cohort, no_icu))
    for tag, (b, se) in zip(VARIANTS, ((cur.beta, cur.se), old, (bare.beta, bare.se)),
                            strict=True):
        out[f"{tag}_b"] = math.nan if b is None else b
        out[f"{tag}_se"] = math.nan if se is None else se
    out["events"] = float(cur.events)
    out["events_exposed"] = float(cur.events_exposed)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=2340)
    ap.add_argument("--true-hr", type=float, default=1.0)
    ap.add_argument("--delayed", type=float, default=0.0)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=13000)
    a = ap.parse_args()
    t0, load0 = time.time(), os.getloadavg()[0]
    jobs = [(a.first_seed + i, a.patients, a.true_hr, a.delayed) for i in range(a.reps)]
    with Pool(a.workers) as pool:
        res = pool.map(_replicate, jobs, chunksize=1)
    col = {k: np.array([r[k] for r in res]) for k in res[0]}
    truth = math.log(a.true_hr)
    print(f"### full cohort (patients={a.patients} simulated, true_hr={a.true_hr}, "
          f"delayed_entry={a.delayed}, {a.reps} replicates, seeds {a.first_seed}.., "
          f"load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end)\n")
    print(f"patients per replicate {col['patients'].mean():.0f}; events "
          f"{col['events'].mean():.0f} ({col['events_exposed'].mean():.0f} in exposed "
          f"time)\n")
    print("| strata | mean log HR (MC SE) | bias / MC SE | HR | empirical SD | median SE "
          "| CI coverage (MC SE) |")
    print("|---|---|---|---|---|---|---|")
    for tag in VARIANTS:
        b, se = col[f"{tag}_b"], col[f"{tag}_se"]
        ok = np.isfinite(b) & np.isfinite(se)
        b, se = b[ok], se[ok]
        mc = float(b.std(ddof=1) / math.sqrt(len(b)))
        p = float((np.abs(b - truth) <= Z * se).mean())
        print(f"| {tag} | {b.mean():+.4f} ({mc:.4f}) | {(b.mean() - truth) / mc:+.1f} | "
              f"{math.exp(b.mean()):.3f} | {b.std(ddof=1):.3f} | {np.median(se):.3f} | "
              f"{100 * p:.1f} % ({100 * math.sqrt(p * (1 - p) / len(b)):.1f}) |")
    print(f"\n({time.time() - t0:.0f} s on {a.workers} worker(s))")


if __name__ == "__main__":
    main()
