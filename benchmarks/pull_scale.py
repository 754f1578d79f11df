"""Pull a 100-fold registry (23,400 patients) from the sandbox and time it.

Usage: PYTHONPATH=. python benchmarks/pull_scale.py [--patients N] [--sites N] [--rpm N]
       [--batch-size N] [--churn F] [--store URL] [--json]

The sandbox runs in this process (a thread) over real loopback HTTP; each site is a
DAG of one project, pulled with the project-wide token. Prints, per pass (a first full
pull, then an incremental pull after `--churn` (1 %) of records are edited): wall time, HTTP
requests, records/s and rows/s. `--rpm` paces requests as in production (REDCap's limit
is 600/min per address; the default setting is 300); the default here is unpaced, to
measure the pull itself.

Recorded 2026-11-25 (2 cores, SQLite in a temp dir, sandbox in the same process so it
competes for the GIL: a pessimistic setup), 23,400 patients = 126,811 flat rows, 5 DAG
sites, batch 200, project-wide token:
- unpaced:  full 17.2-19.2 s, 150 requests, ~1,200-1,360 records/s; incremental (234
  records edited) 4.9-7.9 s, 40 requests, about 70% of it reading the previous
  snapshots' records back to learn their ids. With the ids-only read
  (`Store.snapshot_record_ids`, same day, loaded machine, interleaved runs): incremental
  1.7-3.9 s before, 0.8-1.7 s after; see RESULTS.md.
- --rpm 300 (the default setting): full 37.4 s, 150 requests, ~625 records/s;
  incremental 13.4 s, 40 requests.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from registry.pulling import pull_all  # noqa: E402
from registry.sandbox.clock import ManualClock  # noqa: E402
from registry.sandbox.generator import GeneratorParams, generate  # noqa: E402
from registry.sandbox.server import SandboxServer  # noqa: E402
from registry.settings import PullSettings, Settings, Site, StoreSettings  # noqa: E402
from registry.store import Store  # noqa: E402


def _edit(server: SandboxServer, ids: list[str]) -> None:
    rows = [{"record_id": rid, "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
             "ferritin": "999"} for rid in ids]
    response = requests.post(server.url, data={
        "token": server.tokens.project, "content": "record", "format": "json",
        "type": "flat", "data": json.dumps(rows), "returnFormat": "json"}, timeout=60)
    response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=23_400)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--rpm", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--store", default=None, help="store URL (default: a temp SQLite file)")
    parser.add_argument("--churn", type=float, default=0.01,
                        help="fraction of records edited before the incremental pull")
    parser.add_argument("--json", action="store_true", help="one JSON line with both passes")
    parser.add_argument("--profile", metavar="PATH",
                        help="cProfile (CPU time) each pass into PATH.<pass>")
    args = parser.parse_args()

    started = time.perf_counter()
    registry = generate(GeneratorParams(seed=2025, patients=args.patients, sites=args.sites))
    print(f"generated {args.patients} patients, {len(registry.records)} rows "
          f"in {time.perf_counter() - started:.1f} s")
    clock = ManualClock("2025-07-01 02:00:00")
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(registry, clock=clock) as server:
        clock.advance(hours=1)
        os.environ["BENCH_TOKEN"] = server.tokens.project
        sites = tuple(Site(name=d["unique_group_name"], url=server.url, token_env="BENCH_TOKEN",
                           dag=d["unique_group_name"]) for d in registry.dags)
        pull = dataclasses.replace(PullSettings(), requests_per_minute=args.rpm,
                                   batch_size=args.batch_size, backoff_seconds=0.5)
        url = args.store or f"sqlite:///{Path(tmp) / 'store.sqlite'}"
        settings = Settings(path=Path(tmp) / "settings.toml", store=StoreSettings(url),
                            reports_dir=Path(tmp), sites=sites, pull=pull)
        passes: dict[str, dict[str, float]] = {}
        with Store.open(url) as store:
            for label in ("full", "incremental"):
                if label == "incremental":
                    clock.advance(hours=20)
                    ids = sorted({r["record_id"] for r in registry.records})
                    _edit(server, ids[:: max(1, round(1 / args.churn))])
                    clock.advance(hours=1)
                profiler = cProfile.Profile(time.process_time) if args.profile else None
                t0, cpu0 = time.perf_counter(), time.process_time()
                if profiler:
                    profiler.enable()
                outcomes = pull_all(settings, store, clock=clock.now, show_progress=False)
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(f"{args.profile}.{label}")
                seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                failed = [o.error for o in outcomes if not o.ok]
                if failed:
                    raise SystemExit("\n".join(str(f) for f in failed))
                fetched = sum(o.stats["fetched"] for o in outcomes)
                records = sum(o.n_records for o in outcomes)
                reqs = sum(o.stats["requests"] for o in outcomes)
                passes[label] = {"seconds": round(seconds, 2), "requests": reqs,
                                 "fetched": fetched, "cpu": round(cpu, 2)}
                print(f"{label:>11}: {seconds:6.1f} s ({cpu:.1f} s CPU, this process and "
                      f"its sandbox thread), {reqs} requests, {records} records in "
                      f"snapshots, {fetched} fetched, {fetched / seconds:,.0f} fetched records/s, "
                      f"rpm={args.rpm}, batch={args.batch_size}")
    full, inc = passes["full"], passes["incremental"]
    print(f"incremental / full: {inc['seconds'] / full['seconds']:.1%} of the time, "
          f"{inc['requests'] / full['requests']:.1%} of the requests")
    if args.json:
        print("BENCH " + json.dumps({"benchmark": "pull", "patients": args.patients,
                                     "sites": args.sites, "rpm": args.rpm, "churn": args.churn,
                                     "load": list(os.getloadavg()), **{
                                         f"{k}_{m}": v for k, p in passes.items()
                                         for m, v in p.items()}}), flush=True)


if __name__ == "__main__":
    main()
