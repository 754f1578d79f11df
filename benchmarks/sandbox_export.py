"""How fast the sandbox serves batch exports from a large registry, through PyCap.

Generates a registry (default 23,400 patients), serves it on loopback and pulls every
record in batches of 200 ids, the way the nightly pull does, then once in one piece.
Prints requests/s and records/s. Run:

    PYTHONPATH=. .venv/bin/python benchmarks/sandbox_export.py [--patients N] [--batch N]
"""

from __future__ import annotations

import argparse
import time

import redcap

from registry.sandbox.generator import GeneratorParams, generate
from registry.sandbox.server import SandboxServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=23_400)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--format", default="json", choices=["json", "csv", "df"])
    args = parser.parse_args()

    t0 = time.perf_counter()
    registry = generate(GeneratorParams(seed=1, patients=args.patients, sites=5))
    t1 = time.perf_counter()
    with SandboxServer(registry) as server:
        t2 = time.perf_counter()
        print(f"generated {args.patients} patients ({len(registry.records)} rows) in "
              f"{t1 - t0:.1f} s; server loaded in {t2 - t1:.1f} s")
        project = redcap.Project(server.url, server.tokens.project)
        ids = [r["record_id"] for r in project.export_records(fields=["record_id"])]
        t3 = time.perf_counter()
        print(f"id list: {len(ids)} ids in {t3 - t2:.2f} s")
        rows = requests = 0
        start = time.perf_counter()
        for i in range(0, len(ids), args.batch):
            out = project.export_records(format_type=args.format, records=ids[i:i + args.batch])
            rows += len(out)
            requests += 1
        spent = time.perf_counter() - start
        print(f"batches of {args.batch} ({args.format}): {requests} requests in {spent:.1f} s = "
              f"{requests / spent:.1f} requests/s, {len(ids) / spent:.0f} records/s "
              f"({rows / spent:.0f} rows/s)")
        start = time.perf_counter()
        full = project.export_records(format_type=args.format)
        spent = time.perf_counter() - start
        print(f"one full export: {len(full)} rows in {spent:.1f} s = {len(ids) / spent:.0f} "
              "records/s")


if __name__ == "__main__":
    main()
