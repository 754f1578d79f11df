"""How fast the sandbox serves batch exports from a large registry, through PyCap.

Generates a registry (default 23,400 patients), serves it on loopback and pulls every
record in batches of 200 ids, the way the nightly pull does, then once in one piece.
Prints requests/s and records/s. By default the server runs in its own process
(`registry sandbox`, as a real pull meets it); `--in-process` shares the client's GIL.

    PYTHONPATH=. .venv/bin/python benchmarks/sandbox_export.py [--patients N] [--batch N]
        [--format json|csv|df] [--threads N] [--in-process]

Measured 2026-11-25 on 2 cores shared with other jobs (load average ~10), seed 1,
23,400 patients = 128,178 rows, server in a subprocess:
  batches of 200, json: 13.7 requests/s, 2,730 records/s (df: 10.1 requests/s)
  one full export (json): 8.4 s, 2,785 records/s; id list (fields=record_id): 0.2 s
Server CPU per 200-record json batch (~1 MB): 14.6 ms, i.e. ~13,000 records/s per core;
the rest is HTTP, PyCap's JSON decoding and the shared machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import redcap

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def _subprocess_server(patients: int) -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Path(tmp) / "settings.toml"
        proc = subprocess.Popen(
            [sys.executable, "-m", "registry", "sandbox", "--seed", "1", "--patients",
             str(patients), "--port", "0", "--write-settings", str(settings)],
            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if line.startswith("REDCap sandbox at"):
                url = line.split()[3]
            if line.startswith("serving"):
                break
        tokens = dict(ln.split("=", 1) for ln in (Path(tmp) / "sandbox.tokens").read_text()
                      .splitlines() if "=" in ln)
        try:
            yield url, tokens["REGISTRY_TOKEN_PROJECT"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


@contextmanager
def _thread_server(patients: int) -> Iterator[tuple[str, str]]:
    from registry.sandbox.generator import GeneratorParams, generate
    from registry.sandbox.server import SandboxServer

    with SandboxServer(generate(GeneratorParams(seed=1, patients=patients))) as server:
        yield server.url, server.tokens.project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=23_400)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--format", default="json", choices=["json", "csv", "df"])
    parser.add_argument("--threads", type=int, default=1, help="concurrent clients")
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()

    t0 = time.perf_counter()
    start = _thread_server if args.in_process else _subprocess_server
    with start(args.patients) as (url, token):
        where = "in process" if args.in_process else "subprocess"
        print(f"sandbox ({where}) up with {args.patients} patients in "
              f"{time.perf_counter() - t0:.1f} s")
        project = redcap.Project(url, token)
        t1 = time.perf_counter()
        ids = [r["record_id"] for r in project.export_records(fields=["record_id"])]
        print(f"id list: {len(ids)} ids in {time.perf_counter() - t1:.2f} s")
        batches = [ids[i:i + args.batch] for i in range(0, len(ids), args.batch)]

        def pull(batch: list[str]) -> int:
            return len(project.export_records(format_type=args.format, records=batch))

        began = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            rows = sum(pool.map(pull, batches))
        spent = time.perf_counter() - began
        print(f"batches of {args.batch} ({args.format}, {args.threads} client thread(s)): "
              f"{len(batches)} requests in {spent:.1f} s = {len(batches) / spent:.1f} "
              f"requests/s, {len(ids) / spent:.0f} records/s ({rows / spent:.0f} rows/s)")
        began = time.perf_counter()
        full = project.export_records(format_type=args.format)
        spent = time.perf_counter() - began
        print(f"one full export: {len(full)} rows in {spent:.1f} s = "
              f"{len(ids) / spent:.0f} records/s")


if __name__ == "__main__":
    main()
