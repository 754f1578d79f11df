"""settings.toml -> Settings: every mistake names its key; tokens never show."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry.errors import SettingsError
from registry.settings import Secret, load_settings

TOKEN = "0123456789ABCDEF0123456789ABCDEF"

GOOD = """
[store]
url = "sqlite:///var/registry.sqlite"
[reports]
dir = "var/reports"
[pull]
batch_size = 50
[[sites]]
name = "paris"
url = "http://127.0.0.1:8765/api/"
token_env = "REGISTRY_TEST_TOKEN_PARIS"
dag = "paris"
[[sites]]
name = "lyon"
url = "http://127.0.0.1:8765/api"
token_file = "tokens"
token_key = "LYON"
[[studies]]
spec = "analyses/jak_cni.toml"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads_with_paths_relative_to_it(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    assert [site.name for site in s.sites] == ["paris", "lyon"]
    assert s.store.url == f"sqlite:///{tmp_path}/var/registry.sqlite"
    assert s.reports_dir == tmp_path / "var/reports"
    assert s.studies == (tmp_path / "analyses/jak_cni.toml",)
    assert s.pull.batch_size == 50 and s.pull.requests_per_minute == 300
    assert s.site("lyon").url.endswith("/api/")  # trailing slash added, as PyCap requires
    assert s.site("paris").redcap_base == "http://127.0.0.1:8765/"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[store]\nurl = 3\n", "store.url should be a str, got int 3"),
        ("[pull]\nbatch_size = 0\n[[sites]]\n", "pull.batch_size should be > 0"),
        ("[pull]\nbatch_size = true\n", "pull.batch_size should be an int"),
        ("[pull]\nbatchsize = 10\n", "unknown key pull.batchsize"),
        ("[[sites]]\nname = 'paris'\n", "sites[0].url is missing"),
        ("[[sites]]\nname = 'Paris!'\nurl='http://x/api/'\ntoken_env='T'\n",
         "sites[0].name 'Paris!' should be lower-case"),
        ("[[sites]]\nname = 'paris'\nurl='http://x/redcap/'\ntoken_env='T'\n",
         "should be a REDCap API URL ending in /api/"),
        ("[[sites]]\nname = 'paris'\nurl='http://x/api/'\n",
         "sites[0] needs token_env or token_file"),
        ("[reports]\ncsv_separator = '|'\n", "reports.csv_separator should be"),
        ("nonsense = [\n", "not valid TOML"),
        ("", "no [[sites]] given"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(write(tmp_path, text))
    assert expected in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "settings.toml"))
    assert "\n" not in str(info.value)


def test_a_token_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    text = f"[[sites]]\nname='paris'\nurl='http://x/api/'\ntoken='{TOKEN}'\n"
    with pytest.raises(SettingsError) as info:
        load_settings(write(tmp_path, text))
    assert "tokens never live in settings.toml" in str(info.value)
    assert TOKEN not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="settings file .* not found"):
        load_settings(tmp_path / "nope.toml")


def test_token_from_environment_is_a_secret(tmp_path: Path, monkeypatch) -> None:
    s = load_settings(write(tmp_path, GOOD))
    monkeypatch.setenv("REGISTRY_TEST_TOKEN_PARIS", TOKEN)
    token = s.site("paris").token()
    assert isinstance(token, Secret) and token.reveal() == TOKEN
    for shown in (repr(token), str(token), f"{token}", repr(s), repr(s.site("paris"))):
        assert TOKEN not in shown


def test_unset_environment_variable_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("REGISTRY_TEST_TOKEN_PARIS", raising=False)
    s = load_settings(write(tmp_path, GOOD))
    with pytest.raises(SettingsError, match="REGISTRY_TEST_TOKEN_PARIS is not set"):
        s.site("paris").token()


def test_malformed_token_is_refused_without_echoing_it(tmp_path: Path, monkeypatch) -> None:
    bad = "not-a-token-" + TOKEN[:10]
    monkeypatch.setenv("REGISTRY_TEST_TOKEN_PARIS", bad)
    s = load_settings(write(tmp_path, GOOD))
    with pytest.raises(SettingsError) as info:
        s.site("paris").token()
    assert "not 32 hexadecimal characters" in str(info.value)
    assert bad not in str(info.value)


def test_token_file_must_be_owner_only(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    path = tmp_path / "tokens"
    path.write_text(f"# sandbox tokens\nPARIS={'1' * 32}\nLYON={TOKEN}\n")
    os.chmod(path, 0o644)
    with pytest.raises(SettingsError, match="can be read by others .*chmod 600"):
        s.site("lyon").token()
    os.chmod(path, 0o600)
    assert s.site("lyon").token().reveal() == TOKEN


def test_token_file_with_one_bare_token(tmp_path: Path) -> None:
    text = GOOD.replace('token_key = "LYON"\n', "")
    s = load_settings(write(tmp_path, text))
    path = tmp_path / "tokens"
    path.write_text(TOKEN + "\n")
    os.chmod(path, 0o600)
    assert s.site("lyon").token().reveal() == TOKEN


def test_token_file_missing_key(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    path = tmp_path / "tokens"
    path.write_text(f"PARIS={TOKEN}\n")
    os.chmod(path, 0o600)
    with pytest.raises(SettingsError, match="has no entry named LYON"):
        s.site("lyon").token()


def test_unknown_site_lists_known_ones(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    with pytest.raises(SettingsError, match="no site named 'nice' \\(sites: paris, lyon\\)"):
        s.site("nice")


def test_duplicate_site_names(tmp_path: Path) -> None:
    text = GOOD.replace('name = "lyon"', 'name = "paris"')
    with pytest.raises(SettingsError, match="site name 'paris' is used twice"):
        load_settings(write(tmp_path, text))


@pytest.mark.parametrize("key", ["token_env", "token_file", "token_key"])
def test_a_token_pasted_as_a_token_setting_is_refused_without_echoing_it(tmp_path: Path,
                                                                        key: str) -> None:
    for token in (TOKEN, TOKEN.lower()):
        extra = "" if key != "token_key" else "token_file = 'tokens'\n"
        text = f"[[sites]]\nname='paris'\nurl='http://x/api/'\n{key} = '{token}'\n{extra}"
        with pytest.raises(SettingsError) as info:
            load_settings(write(tmp_path, text))
        assert f"sites[0].{key} holds what looks like an API token" in str(info.value)
        assert token.lower() not in str(info.value).lower()


def test_settings_that_are_not_utf8_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes(b"[registry]\nprofile = 'caf\xe9'\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert "is not UTF-8 text" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("key", ["backoff_seconds", "retries", "overlap_minutes"])
def test_negative_pull_waits_and_counts_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(SettingsError, match=rf"pull\.{key} should be >= 0, got -5"):
        load_settings(write(tmp_path, GOOD.replace("[pull]\n", f"[pull]\n{key} = -5\n")))


def test_a_sites_table_gives_every_setting_and_defaults_the_rest(tmp_path: Path) -> None:
    text = GOOD.replace('dag = "paris"\n', 'dag = "paris"\ncoordinators = ["a@example.org"]\n'
                        'drw_sync = true\ndrw_username = "drw_bot"\nlabel = "Paris"\n')
    s = load_settings(write(tmp_path, text))
    paris, lyon = s.site("paris"), s.site("lyon")
    assert (paris.dag, paris.label, paris.drw_sync, paris.drw_username) == (
        "paris", "Paris", True, "drw_bot")
    assert list(paris.coordinators) == ["a@example.org"]
    assert (lyon.dag, lyon.drw_sync, lyon.drw_username, list(lyon.coordinators)) == (
        None, False, None, [])
    assert lyon.token_file == tmp_path / "tokens" and lyon.token_key == "LYON"
    assert paris.url == "http://127.0.0.1:8765/api/"           # a trailing slash kept as is
    bad = GOOD.replace('dag = "paris"\n', 'dag = "paris"\ncoordinators = ["not an address"]\n')
    path = write(tmp_path, bad)
    with pytest.raises(SettingsError, match=rf"^{path}: sites\[0\]\.coordinators"):
        load_settings(path)
    with pytest.raises(SettingsError, match=r"sites\[0\]\.name is missing"):
        load_settings(write(tmp_path, GOOD.replace('name = "paris"\n', "")))
    with pytest.raises(SettingsError, match="should be a REDCap API URL"):
        load_settings(write(tmp_path, GOOD.replace("8765/api/", "8765/apiX/", 1)))
    bad = GOOD.replace('token_env = "REGISTRY_TEST_TOKEN_PARIS"', 'token_env = "lower_case_ok"')
    assert load_settings(write(tmp_path, bad)).site("paris").token_env == "lower_case_ok"
