"""Reading a night's snapshots: the store against the per-snapshot frame cache.

    PYTHONPATH=. python benchmarks/frame_cache.py --patients 23400 --sites 10 --runs 3

The synthetic registry (generator, `--sites` sites) is written to a fresh SQLite store,
one full snapshot per site; then `--churn` of each site's records get one value edited
and an incremental snapshot is written (night 2). Timed, min / median of `--runs`:

- store: every site's frame read from the store (`snapshot_frame`, no cache);
- cold: the same through an empty cache (reads everything and writes the entries);
- hit: the same snapshots again through the cache (a re-run of validate or analyse);
- night 2: the night-2 snapshots through night 1's cache entries (reads the changed
  records only, then rewrites the entries);
- tidy: `tidy` of night 2's frames (what the cache does not save).

Each figure is printed with its CPU seconds and the load average; `--json` adds one
`BENCH {...}` line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from registry.sandbox.generator import GeneratorParams, generate
from registry.snapshot_frames import FrameCache, snapshot_frame
from registry.store import Store
from registry.tidy import tidy


def _timed(fn: Callable[[], Any], runs: int, before: Callable[[], None] | None = None
           ) -> tuple[list[float], list[float], Any]:
    walls, cpus, out = [], [], None
    for _ in range(runs):
        if before:
            before()
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, out


def _edit(records: dict[str, list[dict[str, str]]], share: float, rng: random.Random
          ) -> dict[str, list[dict[str, str]]]:
    changed = {}
    for rid in rng.sample(sorted(records), max(1, round(share * len(records)))):
        rows = [dict(r) for r in records[rid]]
        row = rows[0]
        field = rng.choice([k for k, v in row.items() if v and k != "record_id"] or ["x"])
        row[field] = f"{row.get(field, '')}e"
        changed[rid] = rows
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=23400)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reg = generate(GeneratorParams(seed=11, patients=args.patients, sites=args.sites))
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        night1: dict[str, int] = {}
        night2: dict[str, int] = {}
        with Store.open(f"sqlite:///{tmp / 'store.sqlite'}") as store:
            for site, rows in reg.rows_by_site().items():
                by_record: dict[str, list[dict[str, str]]] = {}
                for row in rows:
                    by_record.setdefault(str(row["record_id"]), []).append(
                        {k: str(v) for k, v in row.items()})
                night1[site] = store.write_snapshot(site, by_record,
                                                    metadata=reg.metadata).id
                night2[site] = store.write_incremental(
                    site, night1[site], _edit(by_record, args.churn, rng)).id
            cache_dir, saved = tmp / "frames", tmp / "frames-night1"

            def read(ids: dict[str, int], cache: FrameCache | None) -> dict[str, Any]:
                if cache is None:
                    return {s: snapshot_frame(store, i) for s, i in ids.items()}
                return {s: cache.frame(store, s, i) for s, i in ids.items()}

            def clear() -> None:
                shutil.rmtree(cache_dir, ignore_errors=True)

            def restore() -> None:
                clear()
                shutil.copytree(saved, cache_dir)

            results: dict[str, tuple[list[float], list[float]]] = {}
            w, c, _ = _timed(lambda: read(night1, None), args.runs)
            results["store"] = (w, c)
            w, c, _ = _timed(lambda: read(night1, FrameCache(cache_dir)), args.runs, clear)
            results["cold"] = (w, c)
            shutil.copytree(cache_dir, saved)
            w, c, _ = _timed(lambda: read(night1, FrameCache(cache_dir)), args.runs)
            results["hit"] = (w, c)
            w, c, frames = _timed(lambda: read(night2, FrameCache(cache_dir)), args.runs,
                                  restore)
            results["night 2"] = (w, c)
            w, c, _ = _timed(lambda: tidy(frames, reg.metadata), args.runs)
            results["tidy"] = (w, c)
            size = sum(p.stat().st_size for p in cache_dir.iterdir())
    load = os.getloadavg()
    rows = sum(len(f) for f in frames.values())
    print(f"{args.patients} patients, {args.sites} sites, {rows} rows; churn {args.churn}; "
          f"cache {size / 2**20:.1f} MiB; load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    figures: dict[str, Any] = {"benchmark": "frame_cache", "patients": args.patients,
                               "sites": args.sites, "rows": rows, "load": list(load),
                               "cache_mib": round(size / 2**20, 1)}
    for name, (walls, cpus) in results.items():
        print(f"  {name:8s} wall min {min(walls):.3f} s, median {statistics.median(walls):.3f} s;"
              f" CPU min {min(cpus):.3f} s")
        figures[name] = {"wall_min": round(min(walls), 4),
                         "wall_median": round(statistics.median(walls), 4),
                         "cpu_min": round(min(cpus), 4)}
    if args.json:
        print("BENCH " + json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
