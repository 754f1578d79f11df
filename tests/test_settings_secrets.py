"""Token files as people write them, and a `Secret` that never shows its value.

Killers of surviving mutants of `registry.settings` (docs/testing.md): comment and
blank lines around a bare token, quoted values, another entry whose value holds `=`,
a site's `label`, a site without a name, and `Secret`'s exact face.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry.errors import SettingsError
from registry.settings import Secret, load_settings

TOKEN = "0123456789ABCDEF0123456789ABCDEF"
SITE = """[store]
url = "sqlite:///var/registry.sqlite"
[[sites]]
name = "lyon"
url = "http://127.0.0.1:8765/api/"
token_file = "tokens"
"""


def _token(tmp_path: Path, body: str, site: str = SITE) -> str:
    (tmp_path / "settings.toml").write_text(site, encoding="utf-8")
    path = tmp_path / "tokens"
    path.write_text(body, encoding="utf-8")
    os.chmod(path, 0o600)
    return load_settings(tmp_path / "settings.toml").site("lyon").token().reveal()


@pytest.mark.parametrize("body", [
    f"# the lyon project's API token\n\n{TOKEN}\n\n",
    f"\n  {TOKEN}  \n# rotated 2026-01\n",
])
def test_a_bare_token_with_comments_and_blank_lines(tmp_path: Path, body: str) -> None:
    assert _token(tmp_path, body) == TOKEN


@pytest.mark.parametrize("value", [TOKEN, f'"{TOKEN}"', f"'{TOKEN}'", f' "{TOKEN}" '])
def test_keyed_values_quoted_or_not_and_others_holding_equals(tmp_path: Path,
                                                              value: str) -> None:
    site = SITE + 'token_key = "LYON"\n'
    body = f"# shared secrets file\nDB_URL=postgresql://u:p@h/db?sslmode=require\nLYON={value}\n"
    assert _token(tmp_path, body, site) == TOKEN


def test_a_site_label_is_accepted_and_a_nameless_site_refused(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(SITE + 'label = "Lyon Sud"\n', encoding="utf-8")
    assert load_settings(tmp_path / "settings.toml").site("lyon").display_name == "Lyon Sud"
    (tmp_path / "settings.toml").write_text(SITE.replace('name = "lyon"\n', ""),
                                            encoding="utf-8")
    with pytest.raises(SettingsError, match="name"):
        load_settings(tmp_path / "settings.toml")


def test_a_secret_shows_stars_only_and_compares_by_value() -> None:
    s = Secret(TOKEN)
    assert (repr(s), str(s), f"{s}", f"{s:>40}") == (
        "Secret('***')", "Secret('***')", "***", "***")
    assert s == Secret(TOKEN) and hash(s) == hash(Secret(TOKEN))
    assert s != Secret(TOKEN.lower()) and s != TOKEN
    assert len({s, Secret(TOKEN), Secret("F" * 32)}) == 2


def test_distinct_secrets_hash_apart() -> None:
    assert hash(Secret(TOKEN)) != hash(Secret("F" * 32))


def test_a_bad_token_error_says_which_site_and_where_it_came_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match=r"^site 'lyon': the token in token file "
                       r".*tokens is not 32 hexadecimal characters \(got 5 characters\)$"):
        _token(tmp_path, "abcde\n")
    site = SITE.replace('token_file = "tokens"', 'token_env = "LYON_TOKEN"')
    monkeypatch.setenv("LYON_TOKEN", "abc")
    with pytest.raises(SettingsError, match=r"^site 'lyon': the token in environment "
                       r"variable LYON_TOKEN is not 32 hexadecimal characters"):
        _token(tmp_path, "", site)
    monkeypatch.delenv("LYON_TOKEN")
    with pytest.raises(SettingsError, match=r"^site 'lyon': environment variable LYON_TOKEN "
                       "is not set"):
        _token(tmp_path, "", site)


def test_a_keyed_value_holding_equals_is_a_wrong_token_not_a_missing_entry(
        tmp_path: Path) -> None:
    """`LYON=<token>=` (a stray `=` pasted after the token): the entry is there, its value
    is wrong; the split is at the first `=`."""
    site = SITE + 'token_key = "LYON"\n'
    with pytest.raises(SettingsError, match="not 32 hexadecimal characters"):
        _token(tmp_path, f"LYON={TOKEN}=\n", site)
