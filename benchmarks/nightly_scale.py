"""The whole nightly (pull -> validate -> analyse -> report) at scale, night 1 and night 2.

    .venv/bin/python benchmarks/nightly_scale.py --scale 100            # 23,400 patients
    .venv/bin/python benchmarks/nightly_scale.py --scale 1000 --sites 20 --json

The synthetic registry (`--scale` times the study's 234 patients, `--sites` DAGs of one
REDCap project, pulled with the project-wide token) is served by a sandbox in another
process (`sandbox_process.py`), so this process's CPU seconds and peak memory are the
nightly's own. Night 1 is a first, full pull into a fresh SQLite store. Then the
sandbox's clock moves a day, `--churn` of the records are edited (one field each),
the clock moves an hour more, and night 2 runs: a truly incremental night, since every
record was stamped at start-up, a day before night 1's overlap window. The script
checks that night 2 fetched only about the edited records and says so.

Per night it prints (and with `--json` writes as one JSON line): wall seconds, CPU
seconds (this process and its finished children, e.g. render workers), each stage's
wall time from the run record, records fetched and requests made, the peak RSS so
far, and the load average when the night began. Pacing is the default setting
(300 requests/minute) unless `--rpm` says otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import logging
import os
import re
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_process import SandboxProcess  # noqa: E402

STUDY_PATIENTS = 234


def _repo() -> Path:
    """The tree of the code being timed (its suites and study file)."""
    import registry

    return Path(registry.__file__).resolve().parents[1]


def _run_nightly() -> Any:
    import importlib

    import registry

    # the timed tree's own module (an older tree had registry/nightly.py, not run.py;
    # a newer one has the package registry/run/)
    here = Path(registry.__file__).resolve().parent
    has_run = (here / "run.py").is_file() or (here / "run").is_dir()
    name = "registry.run" if has_run else "registry.nightly"
    return importlib.import_module(name).run_nightly


def _settings_text(sandbox: SandboxProcess, tmp: Path, rpm: int | None, *,
                   dag_tokens: bool, pp_bootstrap: int | None = None) -> str:
    q, repo = json.dumps, _repo()
    lines = ["[store]", f"url = {q('sqlite:///' + str(tmp / 'registry.sqlite'))}",
             "[reports]", f"dir = {q(str(tmp / 'reports'))}",
             "[run]", f"lock_file = {q(str(tmp / 'registry.lock'))}",
             *_registry_lines(repo, tmp, pp_bootstrap)]
    if rpm is not None:
        lines += ["[pull]", f"requests_per_minute = {rpm}"]
    for name, label in sandbox.dags:
        env = f"BENCH_TOKEN_{name.upper()}" if dag_tokens else "BENCH_TOKEN"
        lines += ["[[sites]]", f"name = {q(name)}", f"label = {q(label)}",
                  f"url = {q(sandbox.url)}", f"dag = {q(name)}", f"token_env = {q(env)}"]
    return "\n".join(lines) + "\n"


def _registry_lines(repo: Path, tmp: Path, pp_bootstrap: int | None = None) -> list[str]:
    """The synthetic registry's profile, suites and study, wherever the timed tree keeps
    them (older trees had no profile and kept them at the top). With `pp_bootstrap`, the
    study is a copy in `tmp` with that many per-protocol bootstrap replicates."""
    q, folder = json.dumps, repo / "registries" / "anti_mda5"
    if folder.is_dir():
        lines = ["[registry]", f"profile = {q(str(folder / 'profile.toml'))}",
                 "[quality]", f"suites = {q(str(folder / 'expectations'))}"]
        study = folder / "studies" / "jak_cni.toml"
    else:
        lines = ["[quality]", f"suites = {q(str(repo / 'expectations'))}"]
        study = repo / "analyses" / "jak_cni.toml"
    if pp_bootstrap is not None:
        text, n = re.subn(r"(?m)^pp_bootstrap = \d+", f"pp_bootstrap = {pp_bootstrap}",
                          study.read_text(encoding="utf-8"))
        if n != 1:
            raise SystemExit(f"{study}: no `pp_bootstrap = N` line to replace")
        study = tmp / study.name
        study.write_text(text, encoding="utf-8")
    return [*lines, "[[studies]]", f"spec = {q(str(study))}"]


def _cpu() -> float:
    """CPU seconds of this process and its children, the render workers' fork server
    stopped first: RUSAGE_CHILDREN counts only children that ended and were waited for,
    and the server (with the workers it forked and reaped) lives until this process ends
    unless stopped. Stopping it also makes each night pay its own start, as each night
    of `registry nightly` (a process of its own) does."""
    import multiprocessing.forkserver

    stop = getattr(multiprocessing.forkserver._forkserver, "_stop", None)  # no public API
    if stop is not None:
        stop()
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_mib() -> float:
    """Peak RSS of this process (children: the largest one), in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


class RssSampler:
    """This process's resident memory sampled every `interval` seconds (a thread
    reading /proc/self/statm), so each stage's peak can be told from the run record's
    stage times: what grows how, per stage and per site's pull."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (unix time, MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE") / 2**20

    def _rss(self) -> float:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._rss()))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> tuple[float, float, float] | None:
        """(RSS at start, peak, RSS at end) in MiB over [start, end], None if unsampled."""
        inside = [m for t, m in self.samples if start <= t <= end]
        if not inside:
            return None
        return round(inside[0]), round(max(inside)), round(inside[-1])


def _stage_memory(store_url: str, run_id: str, sampler: RssSampler) -> dict[str, Any]:
    """{stage or "pull <site>": [RSS at start, peak, RSS at end]} in MiB."""
    from registry.store import Store

    out: dict[str, Any] = {}
    with Store.open(store_url) as store:
        for stage in store.run(run_id).stages:
            if not (stage.started_at and stage.ended_at):
                continue
            name = stage.stage if stage.site is None else f"{stage.stage} {stage.site}"
            span = sampler.between(stage.started_at.timestamp(), stage.ended_at.timestamp())
            if span is not None:
                out[name] = list(span)
    return out


def _night_figures(store_url: str, run_id: str) -> dict[str, Any]:
    from registry.store import Store

    with Store.open(store_url) as store:
        run = store.run(run_id)
        stages: dict[str, float] = {}
        for stage in run.stages:
            if stage.site is None and stage.started_at and stage.ended_at:
                stages[stage.stage] = round(
                    (stage.ended_at - stage.started_at).total_seconds(), 2)
        fetched = requests_made = records = 0
        for used in run.snapshots.values():
            info = store.snapshot(used.snapshot_id)
            stats = (info.details or {}).get("stats") or {}
            if used.fresh:
                fetched += int(stats.get("fetched", 0))
                requests_made += int(stats.get("requests", 0))
            records += info.n_records
    return {"stages": stages, "fetched": fetched, "requests": requests_made,
            "records": records}


def run(scale: float, sites: int, churn: float, rpm: int | None, seed_repeats: int | None,
        nights: int, dag_tokens: bool, profile: str | None = None,
        state: Path | None = None, pp_bootstrap: int | None = None) -> list[dict[str, Any]]:
    """The nights, one row of figures each. With `state`, the nights' folder (settings,
    store, reports) is that one and kept, with `night<N>.run` holding each night's run id
    (what `report_stage.py --state` reads); else a temporary one. `pp_bootstrap`: the
    study's per-protocol bootstrap replicates (default the study file's)."""
    patients = round(STUDY_PATIENTS * scale)
    run_nightly = _run_nightly()
    from registry.log import configure_logging
    from registry.settings import load_settings

    out = []
    with contextlib.ExitStack() as stack:
        if state is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            tmp = state.resolve()
            tmp.mkdir(parents=True, exist_ok=True)
        sandbox = stack.enter_context(SandboxProcess(patients, sites))
        os.environ["BENCH_TOKEN"] = sandbox.project_token
        for dag, token in sandbox.dag_tokens.items():
            os.environ[f"BENCH_TOKEN_{dag.upper()}"] = token
        path = tmp / "settings.toml"
        path.write_text(_settings_text(sandbox, tmp, rpm, dag_tokens=dag_tokens,
                                       pp_bootstrap=pp_bootstrap), encoding="utf-8")
        settings = load_settings(path)
        configure_logging(None, level=logging.WARNING)
        sandbox.advance(hours=1)
        for night in range(1, nights + 1):
            edited = 0
            if night > 1:  # a day passes: some records are edited, then the nightly runs
                sandbox.advance(hours=23)
                edited = sandbox.edit(churn, seed=night)
                sandbox.advance(hours=1)
            load = os.getloadavg()
            # CPU time, not wall: on a shared machine waiting for a core is not work
            profiler = cProfile.Profile(time.process_time) if profile else None
            cpu0, t0 = _cpu(), time.perf_counter()
            if profiler:
                profiler.enable()
            with RssSampler() as sampler:
                result = run_nightly(settings, seed_repeats=seed_repeats, show_progress=False,
                                     clock=sandbox.now)
            wall = time.perf_counter() - t0
            if profiler and profile:
                profiler.disable()
                profiler.dump_stats(f"{profile}.night{night}")
            cpu = _cpu() - cpu0
            if state is not None:
                (tmp / f"night{night}.run").write_text(result.run_id, encoding="utf-8")
            figures = _night_figures(settings.store.url, result.run_id)
            figures["rss_mib"] = _stage_memory(settings.store.url, result.run_id, sampler)
            row = {"benchmark": "nightly", "scale": scale, "patients": patients,
                   "sites": sites, "churn": churn, "night": night, "status": result.status,
                   "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                   "peak_rss_mib": round(_peak_mib()), "edited": edited,
                   "load": [round(x, 2) for x in load], "rpm": rpm or 300, **figures}
            if night > 1:
                row["incremental"] = figures["fetched"] <= 2 * edited + 10
            out.append(row)
            stages = ", ".join(f"{k} {v:.1f}s" for k, v in figures["stages"].items())
            note = ""
            if night > 1 and not row["incremental"]:
                note = "  NOT INCREMENTAL: it fetched far more than was edited"
            print(f"night {night}: {result.status} in {wall:.1f}s wall, {cpu:.1f}s CPU "
                  f"({stages}); fetched {figures['fetched']} of {figures['records']} records "
                  f"({edited} edited) in {figures['requests']} requests; peak RSS "
                  f"{row['peak_rss_mib']} MiB; load {load[0]:.1f}{note}", flush=True)
            print("  RSS MiB (start / peak / end): " + ", ".join(
                f"{k} {a}/{b}/{c}" for k, (a, b, c) in figures["rss_mib"].items()), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=100,
                        help="times the study's 234 patients (default 100)")
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--churn", type=float, default=0.01,
                        help="fraction of records edited between nights (default 0.01)")
    parser.add_argument("--rpm", type=int, default=None,
                        help="pull.requests_per_minute (default: the setting's default)")
    parser.add_argument("--seed-repeats", type=int, default=None,
                        help="re-drawn matchings (default: the study file's)")
    parser.add_argument("--pp-bootstrap", type=int, default=None,
                        help="per-protocol bootstrap replicates (default: the study file's)")
    parser.add_argument("--nights", type=int, default=2)
    parser.add_argument("--dag-tokens", action="store_true",
                        help="one DAG token per site instead of the project-wide token")
    parser.add_argument("--state", type=Path, default=None,
                        help="keep the nights' settings, store and reports in this folder "
                             "(report_stage.py --state times its last night's report stage)")
    parser.add_argument("--json", action="store_true", help="one JSON line per night")
    parser.add_argument("--profile", metavar="PATH",
                        help="cProfile each night into PATH.night<N> (render workers are "
                             "other processes: their time is not in it)")
    args = parser.parse_args()
    rows = run(args.scale, args.sites, args.churn, args.rpm, args.seed_repeats, args.nights,
               args.dag_tokens, args.profile, args.state, args.pp_bootstrap)
    if args.json:
        for row in rows:
            print("BENCH " + json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
