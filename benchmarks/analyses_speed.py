"""Wall time of `analyses.run_study` at 1x, 10x and 100x the study's cohort.

    PYTHONPATH=. python benchmarks/analyses_speed.py --patients 234 2340 23400 --repeats 20 200
    PYTHONPATH=. python benchmarks/analyses_speed.py --patients 23400 --repeats 20 --profile

Each size: `generate(GeneratorParams(seed=2025, patients=n))` (5 sites, the default
error rate) -> `registry.tidy.tidy` -> `run_study` of the JAK-CNI study
(`registries/anti_mda5/studies/jak_cni.toml`) with seed
20250101, every 20th patient_id (sorted) excluded as if it had a blocking flag (so the
all-records sensitivity analysis matches again), and `seed_repeats` re-drawn matchings.
Frame building is not timed. Prints a markdown table (and the HR of the main analysis,
which must not depend on the code version) for benchmarks/RESULTS.md; `--profile`
prints the top of a cProfile instead. To time another version of `analyses/`, put its
parent directory first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import cProfile
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
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    spec = parse_study(STUDY.read_text())
    print("| patients | sets | seed_repeats | run_study | main HR |")
    print("|---|---|---|---|---|")
    for n in args.patients:
        reg = generate(GeneratorParams(seed=2025, patients=n))
        fr = tidy(reg.rows_by_site(), reg.schema())
        excluded = set(sorted(fr.patients["patient_id"])[::20])
        for reps in args.repeats:
            prof = cProfile.Profile() if args.profile else None
            if prof:
                prof.enable()
            t0 = time.perf_counter()
            res = run_study(spec, fr, excluded=excluded, seed=SEED, seed_repeats=reps)
            took = time.perf_counter() - t0
            if prof:
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
            print(f"| {n:,} | {res.flow['sets']:,} | {reps} | {took:.1f} s | "
                  f"{res.main.estimate.hr!r} |", flush=True)


if __name__ == "__main__":
    main()
