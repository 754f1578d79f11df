"""`registry validate` / `registry flags` over a real SQLite store and the CLI."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from registry.outputs import FLAG_CSV_COLUMNS as CSV_COLUMNS
from registry.run import run_validate
from registry.sandbox.generator import GeneratorParams, generate
from registry.settings import load_settings
from registry.store import Store
from tests import anti_mda5
from tests.quality.test_validate import SUITES

ROOT = Path(__file__).resolve().parents[2]
SITES = ("paris", "lyon", "lille", "marseille", "bordeaux")


def _snapshot(store: Store, reg, records) -> None:
    info = {"project_info": reg.project_info, "version": "14.0.0"}
    for site in SITES:
        by_id: dict[str, list[dict[str, str]]] = {}
        for r in records:
            if r["redcap_data_access_group"] == site:
                by_id.setdefault(r["record_id"], []).append(r)
        store.write_snapshot(site, by_id, metadata=reg.metadata, project_info=info)


def _cli(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "registry", *args, "--settings",
                           str(settings)], capture_output=True, text=True, env=env,
                          cwd=settings.parent, timeout=120)


def test_validate_twice_then_flags(tmp_path: Path) -> None:
    reg = generate(GeneratorParams(seed=99, patients=40, error_rate=1.5))
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[store]\nurl = "{url}"\n[reports]\ndir = "{tmp_path / "out"}"\n'
                        f'[registry]\nprofile = "{anti_mda5.PROFILE}"\n'
                        f'[quality]\nsuites = "{SUITES}"\n' + "".join(
                            f'[[sites]]\nname = "{s}"\nurl = "http://127.0.0.1:9/api/"\n'
                            f'token_env = "REGISTRY_TOKEN_{s.upper()}"\ndag = "{s}"\n'
                            for s in SITES))
    with Store.open(url) as store:
        _snapshot(store, reg, reg.records)

    first = _cli(settings, "validate")
    assert first.returncode == 0, first.stderr
    run_dir = next((tmp_path / "out").iterdir())
    paris = list(csv.DictReader((run_dir / "flags-paris.csv").open(encoding="utf-8-sig")))
    assert paris and tuple(paris[0]) == CSV_COLUMNS
    assert {r["site"] for r in paris} == {"paris"} and {r["status"] for r in paris} == {"new"}
    assert all(r["link"].startswith("http://127.0.0.1:9/redcap_v14.0.0/DataEntry/index.php"
                                     "?pid=13&id=") for r in paris)

    # fix every flagged record of paris (clean cohort = same seed without errors)
    clean = generate(GeneratorParams(seed=99, patients=40, error_rate=0.0))
    fixed = {r["record_id"] for r in paris}
    records = [r for r in reg.records if r["record_id"] not in fixed] + [
        r for r in clean.records if r["record_id"] in fixed]
    with Store.open(url) as store:
        _snapshot(store, reg, records)
    second = run_validate(load_settings(settings))
    assert second.counts["paris"]["resolved"] == len(paris)
    assert second.counts["paris"]["new"] == second.counts["paris"]["open"] == 0
    assert second.counts["lyon"]["open"] > 0 and second.counts["lyon"]["new"] == 0

    shown = _cli(settings, "flags", "--site", "paris", "--status", "resolved")
    assert shown.returncode == 0, shown.stderr
    assert f"{len(paris)} flag(s)" in shown.stdout
    bad = _cli(settings, "flags", "--status", "closed")
    assert bad.returncode == 2 and "unknown status 'closed'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_validate_without_snapshots_is_one_clear_line(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "empty.sqlite"}"\n'
                        '[[sites]]\nname = "paris"\nurl = "http://127.0.0.1:9/api/"\n'
                        'token_env = "REGISTRY_TOKEN_PARIS"\n')
    done = _cli(settings, "validate")
    assert done.returncode == 3
    assert done.stderr.strip() == ("registry: no snapshot to validate in the store: run "
                                   "`registry pull` first")
