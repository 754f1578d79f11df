"""The nightly's report stage alone, on a real night 2, timed for one or more trees.

    .venv/bin/python benchmarks/report_stage.py --scale 100 --repeats 3
    .venv/bin/python benchmarks/report_stage.py --scale 100 --tree /work/main --tree .

Setup (not timed): the synthetic registry (`--scale` x 234 patients, `--sites` DAGs)
served by a sandbox in another process, and two real nights of `run_nightly` into a
fresh SQLite store, `--churn` of the records edited between them (`nightly_scale.run`,
so `--state` may also be a folder `nightly_scale.py --state` or `bench.py --keep-state`
left): night 2's store holds what the report stage of an
incremental night reads (flags with their history, every site with an edited record,
the study's results).

Timed: `write_run_outputs(settings, store, night2)`, the report stage's one call, in a
fresh process per measurement (its imports count, as in the nightly) with the PDF
cache emptied first (so every PDF is laid out, as on a night whose every site
changed). With several `--tree`s the measurements alternate tree by tree within each
repeat, so their minutes (and the machine's load) are the same. Per tree it prints
min / median wall and CPU seconds (the process and its render workers) and the load
average; `--json` adds one `BENCH {...}` line per tree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from nightly_scale import _cpu, run  # noqa: E402


def _setup(state: Path, scale: float, sites: int, churn: float,
           seed_repeats: int | None, pp_bootstrap: int | None) -> tuple[Path, str]:
    """Two nights into a store under `state` (`nightly_scale.run`, the nights `make bench`
    times); (settings path, night 2's run id)."""
    run(scale, sites, churn, None, seed_repeats, 2, False, state=state,
        pp_bootstrap=pp_bootstrap)
    return state / "settings.toml", (state / "night2.run").read_text(encoding="utf-8").strip()


def _time_once(settings_path: Path, run_id: str) -> dict[str, Any]:
    """In a fresh process: the report stage once, every PDF laid out."""
    import registry

    # loaded before the report stage in the nightly (its analyse stage): not the stage's cost
    import registry.reports.from_store  # noqa: F401
    from registry.outputs import RENDER_CACHE, write_run_outputs
    from registry.settings import load_settings
    from registry.store import Store

    settings = load_settings(settings_path)
    shutil.rmtree(settings.lock_file.parent / RENDER_CACHE, ignore_errors=True)
    load = os.getloadavg()[0]
    cpu0, t0 = _cpu(), time.perf_counter()
    with Store.open(settings.store.url) as store:
        out = write_run_outputs(settings, store, run_id)
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    pdfs = sorted(p.name for p in out.glob("*.pdf"))
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "load": round(load, 2),
            "pdfs": len(pdfs), "registry": registry.__file__}


def _measure(tree: Path, settings_path: Path, run_id: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--time-once",
                           str(settings_path), run_id], cwd=tree, env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"report stage failed in {tree}:\n{proc.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(figures["registry"]).resolve().is_relative_to(tree):
        raise SystemExit(f"timed {figures['registry']}, not the tree {tree}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=100)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed-repeats", type=int, default=None,
                        help="re-drawn matchings per night (default: the study file's)")
    parser.add_argument("--pp-bootstrap", type=int, default=None,
                        help="per-protocol bootstrap replicates (default: the study file's)")
    parser.add_argument("--tree", type=Path, action="append", default=None,
                        help="a checkout whose report stage is timed (repeatable; default: "
                             "this one). The setup uses this checkout's nightly")
    parser.add_argument("--state", type=Path, default=None,
                        help="keep the two nights' store in this folder, and reuse it when "
                             "it is there already (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--time-once", nargs=2, metavar=("SETTINGS", "RUN"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_once:
        print(json.dumps(_time_once(Path(args.time_once[0]), args.time_once[1])))
        return
    trees = [t.resolve() for t in (args.tree or [HERE.parent])]
    with contextlib.ExitStack() as stack:
        if args.state is None:
            state = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            state = args.state.resolve()
            state.mkdir(parents=True, exist_ok=True)
        done = state / "night2.run"
        if done.is_file():  # kept by an earlier run, or by nightly_scale.py / bench.py
            os.environ.setdefault("BENCH_TOKEN", "unused")  # the sandbox is gone: no pull
            settings_path, run_id = state / "settings.toml", done.read_text().strip()
        else:
            settings_path, run_id = _setup(state, args.scale, args.sites, args.churn,
                                           args.seed_repeats, args.pp_bootstrap)
        runs: dict[Path, list[dict[str, Any]]] = {t: [] for t in trees}
        for repeat in range(args.repeats):
            for tree in trees:
                m = _measure(tree, settings_path, run_id)
                runs[tree].append(m)
                print(f"  repeat {repeat + 1} {tree.name}: {m['wall_s']:.2f} s wall, "
                      f"{m['cpu_s']:.2f} s CPU, {m['pdfs']} PDFs, load {m['load']:.1f}",
                      flush=True)
    for tree, ms in runs.items():
        walls, cpus = [m["wall_s"] for m in ms], [m["cpu_s"] for m in ms]
        loads = [m["load"] for m in ms]
        row = {"benchmark": "report_stage", "tree": str(tree), "scale": args.scale,
               "sites": args.sites, "churn": args.churn, "repeats": args.repeats,
               "wall_min": min(walls), "wall_median": statistics.median(walls),
               "cpu_min": min(cpus), "cpu_median": statistics.median(cpus),
               "load": [min(loads), max(loads)], "pdfs": ms[0]["pdfs"]}
        print(f"report stage {args.scale:g}x, {args.sites} sites, {tree.name}: wall min "
              f"{row['wall_min']:.2f} / median {row['wall_median']:.2f} s, CPU min "
              f"{row['cpu_min']:.2f} / median {row['cpu_median']:.2f} s "
              f"(load {min(loads):.1f}-{max(loads):.1f}, {row['pdfs']} PDFs)")
        if args.json:
            print("BENCH " + json.dumps(row))


if __name__ == "__main__":
    main()
