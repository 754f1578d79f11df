"""Wall time of `analyses.run_study` at 1x, 10x and 100x the study's cohort.

    PYTHONPATH=. python benchmarks/analyses_speed.py --patients 234 2340 23400 --repeats 20 200
    PYTHONPATH=. python benchmarks/analyses_speed.py --patients 23400 --repeats 20 --profile
    PYTHONPATH=. python benchmarks/analyses_speed.py --patients 23400 --repeats 5000 \
        --min-draws 50 20 10

Each size: `generate(GeneratorParams(seed=2025, patients=n))` (5 sites, the default
error rate) -> `registry.tidy.tidy` -> `run_study` of the JAK-CNI study
(`registries/anti_mda5/studies/jak_cni.toml`) with seed
20250101, every 20th patient_id (sorted) excluded as if it had a blocking flag (so the
all-records sensitivity analysis matches again), `seed_repeats` re-drawn matchings and
the study's per-protocol bootstrap (`--pp-bootstrap` replicates if given).
Frame building is not timed. Prints a markdown table (and the HR of the main analysis,
which must not depend on the code version) for benchmarks/RESULTS.md; `--profile`
prints the top of a cProfile instead. To time another version of `analyses/`, put its
parent directory first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from analyses import parse_study, run_study
from registry.sandbox.generator import REGISTRY_FOLDER, GeneratorParams, generate
from registry.tidy import tidy

STUDY = REGISTRY_FOLDER / "studies" / "jak_cni.toml"
SEED = 20250101


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, nargs="+", default=[234, 2340, 23400])
    ap.add_argument("--repeats", type=int, nargs="+", default=[20, 200])
    ap.add_argument("--min-draws", type=int, nargs="+", default=[50],
                    help="settings [analyses] min_draws to time (each with every --repeats)")
    ap.add_argument("--mc-se", type=float, default=0.005, help="[analyses] draws_mc_se")
    ap.add_argument("--pp-bootstrap", type=int, default=None,
                    help="per-protocol bootstrap replicates (default: the study's)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    spec = parse_study(STUDY.read_text())
    print("| patients | sets | max draws | min draws | draws used | run_study wall | CPU | "
          "main HR | Monte-Carlo SE | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.patients:
        reg = generate(GeneratorParams(seed=2025, patients=n))
        fr = tidy(reg.rows_by_site(), reg.schema())
        excluded = set(sorted(fr.patients["patient_id"])[::20])
        for reps in args.repeats:
            for low in args.min_draws:
                prof = cProfile.Profile() if args.profile else None
                if prof:
                    prof.enable()
                t0, c0 = time.perf_counter(), time.process_time()
                res = run_study(spec, fr, excluded=excluded, seed=SEED, seed_repeats=reps,
                                min_draws=low, mc_se=args.mc_se,
                                n_bootstrap=args.pp_bootstrap)
                took, cpu = time.perf_counter() - t0, time.process_time() - c0
                if prof:
                    prof.disable()
                    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
                est = res.main.estimate
                mc = "" if est.mc_se is None else f"{est.mc_se:.4f}"
                print(f"| {n:,} | {res.flow['sets']:,} | {reps} | {low} | {est.n_draws} | "
                      f"{took:.1f} s | {cpu:.1f} s | {est.hr!r} | {mc} | "
                      f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
