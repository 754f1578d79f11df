"""The repository's own settings.toml loads and points at the embedded sandbox."""

from pathlib import Path

from registry.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_root_settings_load() -> None:
    s = load_settings(ROOT / "settings.toml")
    assert [site.name for site in s.sites] == ["paris", "lyon", "lille", "marseille", "bordeaux"]
    assert all(site.url == "http://127.0.0.1:8765/api/" for site in s.sites)
    assert s.store.url.startswith("sqlite:///") and s.store.url.endswith("var/registry.sqlite")
