"""The repository's own settings.toml loads and points at the embedded sandbox."""

from pathlib import Path

from registry.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_root_settings_load() -> None:
    s = load_settings(ROOT / "settings.toml")
    assert [site.name for site in s.sites] == ["paris", "lyon", "lille", "marseille", "bordeaux"]
    assert all(site.url == "http://127.0.0.1:8765/api/" for site in s.sites)
    assert s.store.url.startswith("sqlite:///") and s.store.url.endswith("var/registry.sqlite")


def test_analyse_without_any_snapshot_is_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.sqlite"}"\n'
        f'[[studies]]\nspec = "{ROOT / "registries" / "anti_mda5" / "studies" / "jak_cni.toml"}"\n'
        '[[sites]]\nname = "paris"\nurl = "http://127.0.0.1:9/api/"\ntoken_env = "T"\n')
    done = subprocess.run([sys.executable, "-m", "registry", "analyse", "--settings",
                           str(settings)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 3
    assert done.stderr == ("registry: no site has a snapshot yet: run `registry pull` "
                           "first\n")
