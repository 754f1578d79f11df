"""How long `registry.quality.validate` takes on the default and a 100-fold registry.

Run: PYTHONPATH=. python benchmarks/quality_speed.py [patients ...]
Prints, per size: rows, flags, rules, the whole validate() time and the share spent in
Great Expectations suite runs (GX import excluded: ~2 s once per process).

Recorded 2026-11-25 on the 2-core build machine while other jobs ran (load ~5-10,
so times are upper bounds): 234 patients (1,493 rows): 3.2-4.0 s, of which GX
2.6-3.4 s; 23,400 patients (151,330 rows): 14-18 s, of which GX 9-11 s; 120 rules
(about 95 GX expectations in five suite runs, one per frame).
"""

from __future__ import annotations

import sys
import time

import great_expectations  # noqa: F401  (import cost kept out of the timings)

import registry.quality.gx_adapter as adapter
from registry.quality import validate
from registry.sandbox.generator import REGISTRY_FOLDER, GeneratorParams, generate
from registry.tidy import tidy


def main(sizes: list[int]) -> None:
    original = adapter._run_batch
    spent = {"gx": 0.0}

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent["gx"] += time.perf_counter() - start

    adapter._run_batch = timed
    for n in sizes:
        reg = generate(GeneratorParams(seed=7, patients=n, error_rate=0.3))
        frames = tidy(reg.rows_by_site(), reg.schema())
        rows = sum(len(getattr(frames, k)) for k in (
            "patients", "treatments", "icu_stays", "infections", "outcomes"))
        spent["gx"] = 0.0
        start = time.perf_counter()
        result = validate(frames, reg.metadata, REGISTRY_FOLDER / "expectations",
                          site_links=None, today=reg.params.as_of)
        took = time.perf_counter() - start
        print(f"{n} patients, {rows} rows: validate {took:.1f} s (GX runs "
              f"{spent['gx']:.1f} s), {len(result.failures)} flags, "
              f"{result.rule_results['rule_id'].nunique()} rules")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [234, 23400])
