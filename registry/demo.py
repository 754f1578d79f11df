"""`registry demo`: the whole nightly against the embedded sandbox, on a fresh clone.

Starts the sandbox (the synthetic anti-MDA5 DM registry, 234 patients over five
hospitals) on a free loopback port, writes a settings.toml for it under `var/demo/`,
runs the nightly, then plays one day of data entry through the REDCap API (a few
coordinators fix flagged records, a new error slips in) and runs the nightly again, so
the second night's reports show what a coordinator and a PI see on an ordinary
morning: flags resolved and new, and what changed since the last report. Stops the
sandbox and says where the outputs are and what to open first.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from registry.log import configure_logging

__all__ = ["demo_command"]

DEMO_DIR = Path("var/demo")


def _day_of_data_entry(server: Any, truth: list[Any], *, fixes: int = 6) -> list[str]:
    """Change the registry through the REDCap API as a day of data entry would.

    Returns one line per change, for the demo's transcript.
    """
    from redcap import Project

    project = Project(server.url, server.tokens.project)
    done: list[str] = []
    easy = {
        "icu_ever_no_with_stay": lambda t: {"icu_ever": "1"},
        "out_of_range": lambda t: {t.field: "120"},
        "severity_not_hospitalised": lambda t: {"inf_hospitalised": "1"},
        "branching_hidden_filled": lambda t: {t.field: ""},
    }
    rows: list[dict[str, Any]] = []
    for t in truth:
        fix: Callable[[Any], dict[str, str]] | None = easy.get(t.error_kind)
        if fix is None or len(rows) >= fixes:
            continue
        row: dict[str, Any] = {"record_id": t.record_id, **fix(t)}
        if t.instance not in ("", None):
            row.update(redcap_repeat_instrument=t.form, redcap_repeat_instance=str(t.instance))
        else:
            row.update(redcap_repeat_instrument="", redcap_repeat_instance="")
        rows.append(row)
        done.append(f"fixed {t.error_kind.replace('_', ' ')} in record {t.record_id} ({t.form})")
    # and a new error slips in: a ferritin past the suite's limit in a record with none
    flagged = {t.record_id for t in truth}
    clean = next((r["record_id"] for r in project.export_records(fields=["record_id"])
                  if r["record_id"] not in flagged), None)
    if clean is not None:
        rows.append({"record_id": clean, "ferritin": "60000", "redcap_repeat_instrument": "",
                     "redcap_repeat_instance": ""})
        done.append(f"typed ferritin 60000 in record {clean} (baseline): a new flag")
    if rows:
        project.import_records(rows, overwrite="overwrite")
    return done


def demo_command(*, nights: int = 2, seed_repeats: int = 50) -> int:
    """Run the demo; return the exit code of the last night."""
    from registry.nightly import run_nightly
    from registry.sandbox.cli import write_sandbox_settings
    from registry.sandbox.generator import GeneratorParams, generate
    from registry.sandbox.server import SandboxServer
    from registry.settings import load_settings

    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir(parents=True)
    print("registry demo: generating the synthetic registry (234 patients, 5 sites) ...")
    registry = generate(GeneratorParams())
    registry.truth_csv(DEMO_DIR / "truth.csv")
    settings_path = DEMO_DIR / "settings.toml"
    with SandboxServer(registry, port=0) as server:
        write_sandbox_settings(server, settings_path)
        with settings_path.open("a", encoding="utf-8") as fh:
            fh.write('\n[log]\nfile = "var/registry.log"\n')
        settings = load_settings(settings_path)
        configure_logging(settings.log_file, level=logging.WARNING)
        print(f"registry demo: sandbox serving at {server.url}")
        result = None
        for night in range(1, nights + 1):
            if night > 1:
                for line in _day_of_data_entry(server, registry.truth):
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
        first_site = sorted(out.glob("site-*.pdf"))
        if first_site:
            print(f"  {first_site[0]}   a coordinator's list of what to fix")
    print(f"Injected errors (ground truth): {DEMO_DIR / 'truth.csv'}")
    print(f"Settings used: {settings_path}  (try: registry status --settings {settings_path})")
    return result.exit_code
