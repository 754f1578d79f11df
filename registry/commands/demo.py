"""`registry demo`: the whole nightly against the embedded sandbox, on a fresh clone.

Starts the sandbox (the synthetic anti-MDA5 DM registry, 234 patients over five
hospitals) on a free loopback port, writes a settings.toml for it under `var/demo/`,
runs the nightly, then plays one day of data entry through the REDCap API (a few
coordinators fix flagged records, a new error slips in, new events are recorded) and
runs the nightly again, so the second night's reports show what a coordinator and a
PI see on an ordinary morning: flags resolved and new, and what changed since the
last report. Stops the sandbox and says where the outputs are and what to open first.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from registry.commands import log_file
from registry.errors import UsageError
from registry.log import configure_logging

__all__ = ["demo_command"]

DEMO_DIR = Path("var/demo")
_MARKER = ".registry-demo"


def _day_of_data_entry(server: Any, registry: Any, clean: Any) -> list[str]:
    """Change the registry through the REDCap API as a day of data entry would.

    Coordinators of two sites fix every flagged record (here: re-enter the record's
    true values), someone types a treatment's stop date before its start, and two
    deaths are recorded. Returns one line per change, for the demo's transcript.
    """
    from redcap import Project

    project = Project(server.url, server.tokens.project)
    dags = sorted({r["redcap_data_access_group"] for r in registry.records})[:2]
    site_of = {r["record_id"]: r["redcap_data_access_group"] for r in registry.records}
    wrong = {t.record_id for t in registry.truth}
    duplicated = {t.record_id for t in registry.truth if t.error_kind == "duplicate_instance"}
    fixed = sorted(rid for rid in wrong - duplicated if site_of[rid] in dags)
    rows = [dict(r) for r in clean.records if r["record_id"] in fixed]
    for r in rows:
        r.pop("redcap_data_access_group", None)
    lines = []
    if rows:
        project.import_records(rows, overwrite="overwrite")
        lines.append(f"{', '.join(dags)}: {len(fixed)} flagged records corrected")
    untouched = [r for r in clean.records if r["record_id"] not in wrong]
    treatment = next(r for r in untouched if r["redcap_repeat_instrument"] == "treatments"
                     and r["trt_stop"] and r["trt_start"])
    typo = {"record_id": treatment["record_id"], "redcap_repeat_instrument": "treatments",
            "redcap_repeat_instance": str(treatment["redcap_repeat_instance"]),
            "trt_stop": "2001-01-01"}
    deaths = [r for r in untouched if r["redcap_repeat_instrument"] == "" and
              r["vital_status"] == "1" and r["lung_tx"] == "0"][:2]
    entries = [typo] + [{"record_id": r["record_id"], "redcap_repeat_instrument": "",
                         "redcap_repeat_instance": "", "vital_status": "2",
                         "death_date": r["last_fu_date"], "death_cause": "1"} for r in deaths]
    project.import_records(entries)
    lines.append(f"record {typo['record_id']}: treatment stop date typed as 2001-01-01")
    lines += [f"record {r['record_id']}: death recorded on {r['last_fu_date']}" for r in deaths]
    return lines


def _demo_folder(settings_path: Path) -> Path:
    """The folder the demo fills, emptied of an earlier demo; never a folder of other files.

    The default `var/demo/` and any folder an earlier demo marked are the demo's own and
    are emptied; a folder holding anything else is refused (the demo would delete it).
    """
    folder = settings_path.parent
    if folder.exists() and any(folder.iterdir()):
        if folder.resolve() != DEMO_DIR.resolve() and not (folder / _MARKER).exists():
            raise UsageError(f"{folder} holds files that are not an earlier demo's: give "
                             "--settings a path in an empty or new folder")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MARKER).write_text("written by `registry demo`; the next demo here empties "
                                  "this folder\n", encoding="utf-8")
    return folder


def demo_command(*, nights: int = 2, seed_repeats: int = 50,
                 settings_path: Path = DEMO_DIR / "settings.toml", verbose: bool = False) -> int:
    """Run the demo; return the exit code of the last night."""
    from registry.run import run_nightly
    from registry.sandbox.cli import write_sandbox_settings
    from registry.sandbox.generator import GeneratorParams, generate
    from registry.sandbox.server import SandboxServer
    from registry.settings import load_settings

    folder = _demo_folder(settings_path)
    print("registry demo: generating the synthetic registry (234 patients, 5 sites) ...")
    registry = generate(GeneratorParams())
    clean = generate(GeneratorParams(error_rate=0.0))  # the same patients, as entered right
    registry.truth_csv(folder / "truth.csv")
    with SandboxServer(registry, port=0) as server:
        write_sandbox_settings(server, settings_path)
        with settings_path.open("a", encoding="utf-8") as fh:
            # the sandbox has no rate limit: no need to pace the demo's requests
            fh.write('\n[log]\nfile = "var/registry.log"\n'
                     '\n[pull]\nrequests_per_minute = 6000\n')
        settings = load_settings(settings_path)
        configure_logging(log_file(settings), level=logging.INFO, console=verbose)
        print(f"registry demo: sandbox serving at {server.url}")
        result = None
        for night in range(1, nights + 1):
            if night > 1:
                for line in _day_of_data_entry(server, registry, clean):
                    print(f"  data entry: {line}")
            print(f"registry demo: night {night}: pull -> validate -> analyse -> report")
            result = run_nightly(settings, seed_repeats=seed_repeats, show_progress=False)
            for line in result.lines:
                print(f"  {line}")
    assert result is not None
    out = result.out_dir
    print()
    print(f"Outputs of the last night ({result.status}) are in {out}/")
    if out is not None:
        for path in sorted(out.iterdir()):
            print(f"  {path}")
        print()
        print("Open first:")
        print(f"  {out / 'jak_cni.pdf'}   the PIs' study report")
        def to_fix(csv_path: Path) -> int:  # rows of the site's flags CSV, header aside
            return len(csv_path.read_text(encoding="utf-8").splitlines()) - 1

        busiest = max(out.glob("flags-*.csv"), key=to_fix, default=None)
        if busiest is not None:
            site = busiest.stem.removeprefix("flags-")
            print(f"  {out / f'site-{site}.pdf'}   a coordinator's list of what to fix")
    print(f"Injected errors (ground truth): {folder / 'truth.csv'}")
    print(f"Settings used: {settings_path}  (try: registry status --settings {settings_path})")
    return result.exit_code
