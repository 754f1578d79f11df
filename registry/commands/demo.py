"""`registry demo`: the whole nightly against the embedded sandbox, on a fresh clone.

Starts the sandbox (the synthetic anti-MDA5 DM registry, 234 patients over five
hospitals) on a free loopback port, writes a settings.toml for it under `var/demo/`,
runs the nightly, then plays one day of data entry through the REDCap API (a few
coordinators fix flagged records, a new error slips in, new events are recorded) and
runs the nightly again, so the second night's reports show what a coordinator and a
PI see on an ordinary morning: flags resolved and new, and what changed since the
last report. Writes the e-mails the night would send (`registry send --dry-run`: one
.eml per coordinator's site and per study, into `outbox/`), says where the outputs are
and what to open first, and stops the sandbox, unless `--keep-serving` keeps it up
(so the PDFs' "Open in REDCap" links and `registry status` work) until Ctrl-C.

An earlier demo's folder is never deleted: it is moved aside to `<folder>-<time>/`
(its store, reports and settings still work there), and the demo says so.
"""

from __future__ import annotations

import logging
import re
import textwrap
from datetime import UTC, datetime
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


def _demo_folder(settings_path: Path) -> tuple[Path, Path | None]:
    """The folder the demo fills, and where an earlier demo's folder was moved to.

    The default `var/demo/` and any folder an earlier demo marked are the demo's own:
    an earlier demo in it is moved aside whole to `<folder>-<UTC time>/`, never
    deleted; a folder holding anything else is refused.
    """
    folder = settings_path.parent
    moved = None
    if folder.exists() and any(folder.iterdir()):
        if folder.resolve() != DEMO_DIR.resolve() and not (folder / _MARKER).exists():
            raise UsageError(f"{folder} holds files that are not an earlier demo's: give "
                             "--settings a path in an empty or new folder")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        moved = folder.with_name(f"{folder.name}-{stamp}")
        n = 1
        while moved.exists():
            n += 1
            moved = folder.with_name(f"{folder.name}-{stamp}-{n}")
        folder.rename(moved)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MARKER).write_text("written by `registry demo`; the next demo here moves this "
                                  "folder aside\n", encoding="utf-8")
    return folder, moved


def _demo_recipients(settings_path: Path) -> None:
    """Give each demo site a coordinator and the study a PI (addresses that go nowhere),
    and a commented `[delivery]` to fill in to really send."""
    text = settings_path.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^name = "([a-z0-9_-]+)"$',
                  lambda m: f'{m[0]}\ncoordinators = ["coordinator@{m[1]}.example.org"]', text)
    text = re.sub(r"(?m)^spec = .+$", lambda m: m[0] + '\npis = ["pi@example.org"]', text)
    text += ("\n# To e-mail the reports (`registry send`, and each nightly), fill in:\n"
             '# [delivery]\n# smtp_host = "smtp.example.org"\n# security = "starttls"\n'
             '# sender = "registry@example.org"\n# username = "registry"\n'
             '# password_env = "REGISTRY_SMTP_PASSWORD"\n')
    settings_path.write_text(text, encoding="utf-8")


def _write_outbox(settings: Any, folder: Path) -> Path:
    """The e-mails the last night would send, as .eml files (`registry send --dry-run`)."""
    from dataclasses import replace

    from registry.delivery.config import DeliverySettings
    from registry.run import run_send

    demo = replace(settings, delivery=DeliverySettings(smtp_host="localhost",
                                                       sender="registry@example.org"))
    run_send(demo, dry_run=folder / "outbox")
    return folder / "outbox"


def _serve_until_interrupted(url: str, settings_path: Path) -> None:
    print()
    print(f"registry demo: the sandbox keeps serving at {url}:\n"
          f"  the PDFs' REDCap links and `registry status --settings {settings_path}`\n"
          "  work. Ctrl-C to stop.")
    from registry.sandbox.cli import stop_on_signals

    with stop_on_signals() as stop:
        while not stop.wait(3600):
            pass
    print("registry demo: sandbox stopped")


def demo_command(*, nights: int = 2, seed_repeats: int | None = None,
                 settings_path: Path = DEMO_DIR / "settings.toml", verbose: bool = False,
                 keep_serving: bool = False) -> int:
    """Run the demo; return the exit code of the last night. `seed_repeats`: the
    headline's re-drawn matchings (default: the nightly's, so the demo's study PDF shows
    what a real night would, a headline that another master seed moves by ~0.5%; with
    the demo's former 50 draws it said 4%, for ~1 s CPU less a night)."""
    from registry.run import run_nightly
    from registry.sandbox.cli import write_sandbox_settings
    from registry.sandbox.generator import GeneratorParams, generate
    from registry.sandbox.server import SandboxServer
    from registry.settings import load_settings

    folder, moved = _demo_folder(settings_path)
    if moved is not None:
        print(f"registry demo: the earlier demo is kept, moved to {moved}/")
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
        _demo_recipients(settings_path)
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
        outbox = _write_outbox(settings, folder)
        _summary(result, folder, settings_path, outbox, keep_serving)
        if keep_serving:
            _serve_until_interrupted(server.url, settings_path)
    return result.exit_code


def _shown(path: Path) -> Path:
    """`path` relative to the current folder when it lies inside it: lines fit 80 columns."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _summary(result: Any, folder: Path, settings_path: Path, outbox: Path,
             keep_serving: bool) -> None:
    out = result.out_dir
    print()
    print(f"Outputs of the last night ({result.status}) are in")
    print(f"  {_shown(out) if out else out}/")
    if out is not None:
        names = " ".join(sorted(p.name for p in out.iterdir()))
        print(textwrap.fill(names, width=78, initial_indent="  ", subsequent_indent="  ",
                            break_on_hyphens=False))
        print()
        print("Open first:")
        print(f"  {_shown(out / 'jak_cni.pdf')}")
        print("      the PIs' study report")
        def to_fix(csv_path: Path) -> int:  # rows of the site's flags CSV, header aside
            return len(csv_path.read_text(encoding="utf-8").splitlines()) - 1

        busiest = max(out.glob("flags-*.csv"), key=to_fix, default=None)
        if busiest is not None:
            site = busiest.stem.removeprefix("flags-")
            print(f"  {_shown(out / f'site-{site}.pdf')}")
            print("      a coordinator's list of what to fix")
    print(f"E-mails the night would send (open them in a mail client): {outbox}/")
    print(f"Injected errors (ground truth): {folder / 'truth.csv'}")
    print(f"Settings used: {settings_path}")
    print(f"  try: registry status --settings {settings_path}")
    if not keep_serving:
        print("The sandbox stops now, so the PDFs' \"Open in REDCap\" links lead nowhere:\n"
              "  `registry demo --keep-serving` keeps it up until Ctrl-C.")
