"""A run's output folder appears whole or not at all, through `registry validate`'s path.

`write_run_outputs` writes into a temporary folder that `atomic_dir` renames into place.
A spy on the CSV writer looks at the reports folder while the second site's file is
being made: the run's final folder must not exist yet (written in place, it would hold
the first site's CSV). The disk then fills up (the one fault injected): the command fails
with one line, no final folder and no temporary folder are left, the earlier run's
folder is as it was.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import registry.outputs
from registry.errors import RegistryError
from registry.run import run_validate
from registry.sandbox.generator import GeneratorParams, generate
from registry.settings import load_settings
from registry.store import Store
from tests import anti_mda5
from tests.quality.test_validate import SUITES

SITES = ("paris", "lyon")


def _settings(tmp_path: Path) -> Path:
    reg = generate(GeneratorParams(seed=5, patients=10, sites=len(SITES)))
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    path = tmp_path / "settings.toml"
    path.write_text(f'[store]\nurl = "{url}"\n[reports]\ndir = "{tmp_path / "out"}"\n'
                    f'[registry]\nprofile = "{anti_mda5.PROFILE}"\n'
                    f'[quality]\nsuites = "{SUITES}"\n' + "".join(
                        f'[[sites]]\nname = "{s}"\nurl = "http://127.0.0.1:9/api/"\n'
                        f'token_env = "REGISTRY_TOKEN_{s.upper()}"\ndag = "{s}"\n'
                        for s in SITES))
    info = {"project_info": reg.project_info, "version": "14.0.0"}
    with Store.open(url) as store:
        for site in SITES:
            by_id: dict[str, list[dict[str, str]]] = {}
            for r in reg.records:
                if r["redcap_data_access_group"] == site:
                    by_id.setdefault(r["record_id"], []).append(r)
            store.write_snapshot(site, by_id, metadata=reg.metadata, project_info=info)
    return path


def test_a_run_folder_is_never_seen_half_written(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(_settings(tmp_path))
    out = settings.reports_dir
    good = run_validate(settings)                     # a good night first
    good_dir = out / good.run_id
    before = {p.name: p.read_bytes() for p in good_dir.iterdir()}
    assert {f"flags-{s}.csv" for s in SITES} <= set(before)

    real, seen = registry.outputs.flags_csv, []

    def spy(*args):  # type: ignore[no-untyped-def]
        text = real(*args)
        seen.append(sorted(p.name for p in out.iterdir()))
        if len(seen) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return text

    monkeypatch.setattr(registry.outputs, "flags_csv", spy)
    with pytest.raises(RegistryError) as caught:
        run_validate(settings)
    assert "No space left on device" in str(caught.value)
    # while the second site's file was being made: the earlier folder and one
    # temporary folder, never the new run's own folder
    assert len(seen) == 2
    visible = [n for n in seen[1] if not n.startswith(".")]
    assert visible == [good.run_id]
    assert len([n for n in seen[1] if n.endswith(".partial")]) == 1
    assert sorted(p.name for p in out.iterdir()) == [good.run_id]   # nothing left over
    assert {p.name: p.read_bytes() for p in good_dir.iterdir()} == before
