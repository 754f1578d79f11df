"""Whole-nightly timing: pull -> validate -> analyse -> report against the sandbox.

Serves a synthetic registry of `--patients` patients (default 23,400, 100 times the
study's cohort) from an in-process sandbox, runs one nightly into a fresh SQLite store
and prints each stage's wall time from the run record, then a second (incremental)
night after a day of edits.

    .venv/bin/python benchmarks/nightly_scale.py --patients 23400
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from registry.log import configure_logging
from registry.run import run_nightly
from registry.sandbox.cli import write_sandbox_settings
from registry.sandbox.generator import GeneratorParams, generate
from registry.sandbox.server import SandboxServer
from registry.settings import load_settings
from registry.store import Store


def _stages(settings_url: str, run_id: str) -> str:
    with Store.open(settings_url) as store:
        run = store.run(run_id)
    parts = []
    for stage in run.stages:
        if stage.site is None and stage.started_at and stage.ended_at:
            seconds = (stage.ended_at - stage.started_at).total_seconds()
            parts.append(f"{stage.stage} {seconds:.1f}s")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=23_400)
    parser.add_argument("--sites", type=int, default=5)
    parser.add_argument("--seed-repeats", type=int, default=20)
    parser.add_argument("--requests-per-minute", type=int, default=6000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    registry = generate(GeneratorParams(patients=args.patients, sites=args.sites))
    print(f"generated {args.patients} patients, {len(registry.records)} rows in "
          f"{time.perf_counter() - t0:.1f}s")
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(registry, port=0) as server:
        path = Path(tmp) / "settings.toml"
        write_sandbox_settings(server, path)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"\n[pull]\nrequests_per_minute = {args.requests_per_minute}\n")
        settings = load_settings(path)
        configure_logging(None, level=logging.WARNING)
        for night in (1, 2):
            if night == 2:  # a day of edits: one record in fifty changes
                from redcap import Project

                project = Project(server.url, server.tokens.project)
                edits = [{"record_id": r["record_id"], "redcap_repeat_instrument": "",
                          "redcap_repeat_instance": "", "baseline_notes": "reviewed"}
                         for r in registry.records[::50] if r["redcap_repeat_instrument"] == ""]
                project.import_records(edits)
            t0 = time.perf_counter()
            result = run_nightly(settings, seed_repeats=args.seed_repeats, show_progress=False)
            took = time.perf_counter() - t0
            stages = _stages(settings.store.url, result.run_id)
            print(f"night {night}: {result.status} in {took:.1f}s ({stages})")


if __name__ == "__main__":
    main()
