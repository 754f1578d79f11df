"""`[delivery]`, `coordinators` and `pis` in settings.toml: read, checked, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.errors import SettingsError
from registry.settings import load_settings

SITE = """
[[sites]]
name = "paris"
url = "http://127.0.0.1:8765/api/"
token_env = "REGISTRY_TEST_TOKEN_PARIS"
coordinators = ["a@paris.example.org", " b@paris.example.org", "A@paris.example.org"]
[[studies]]
spec = "jak_cni.toml"
pis = ["pi@registry.example.org"]
"""
DELIVERY = """
[delivery]
smtp_host = "smtp.example.org"
sender = "registry@example.org"
username = "registry"
password_env = "REGISTRY_SMTP_PASSWORD"
"""


def load(tmp_path: Path, text: str):  # noqa: ANN201 - Settings
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_recipients_and_delivery_are_read_with_defaults(tmp_path: Path) -> None:
    s = load(tmp_path, SITE + DELIVERY)
    # trimmed, and an address given twice (in any case) kept once
    assert s.site("paris").coordinators == ("a@paris.example.org", "b@paris.example.org")
    assert s.study_pis == {tmp_path / "jak_cni.toml": ("pi@registry.example.org",)}
    d = s.delivery
    assert d is not None and (d.smtp_host, d.smtp_port, d.security) == \
        ("smtp.example.org", 587, "starttls")
    assert (d.username, d.password_env, d.send_unchanged) == \
        ("registry", "REGISTRY_SMTP_PASSWORD", False)
    ssl = load(tmp_path, SITE + DELIVERY + 'security = "ssl"\n').delivery
    assert ssl is not None and ssl.smtp_port == 465


def test_no_delivery_table_means_nothing_is_sent(tmp_path: Path) -> None:
    s = load(tmp_path, SITE)
    assert s.delivery is None and s.site("paris").coordinators


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SITE.replace('"a@paris.example.org"', '"a paris"'),
         "sites[0].coordinators has 'a paris', which is not an e-mail address"),
        (SITE.replace('pis = ["pi@registry.example.org"]', 'pis = "pi@registry.example.org"'),
         "studies[0].pis should be a list of e-mail addresses"),
        (SITE + DELIVERY + 'security = "tls"\n', "delivery.security should be one of starttls"),
        (SITE + DELIVERY + "smtp_port = 70000\n", "delivery.smtp_port should be <= 65535"),
        (SITE + DELIVERY + "smtp_port = 0\n", "delivery.smtp_port should be > 0"),
        (SITE + DELIVERY.replace('sender = "registry@example.org"', 'sender = "registry"'),
         "delivery.sender has 'registry', which is not an e-mail address"),
        (SITE + DELIVERY.replace('smtp_host = "smtp.example.org"', ""),
         "delivery.smtp_host is missing"),
        (SITE + DELIVERY.replace('password_env = "REGISTRY_SMTP_PASSWORD"', ""),
         "delivery.username is given but no password_env"),
        (SITE + DELIVERY + "retries = -1\n", "delivery.retries should be >= 0"),
        (SITE + DELIVERY + "send_unchanged = 1\n", "delivery.send_unchanged should be a bool"),
        (SITE + DELIVERY + "smtp_hots = 1\n", "unknown key delivery.smtp_hots"),
        (SITE + DELIVERY + 'security = "none"\n',
         'delivery.security = "none" would send the password to smtp.example.org in clear'),
        (SITE + DELIVERY.replace("REGISTRY_SMTP_PASSWORD", "bad name"),
         "delivery.password_env 'bad name' is not a variable name"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        load(tmp_path, text)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_password_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        load(tmp_path, SITE + DELIVERY + 'password = "Hunter2-Secret"\n')
    assert "password_env" in str(info.value) and "Hunter2" not in str(info.value)


def test_plain_smtp_with_a_login_is_only_for_a_relay_on_this_machine(tmp_path: Path) -> None:
    text = SITE + DELIVERY.replace("smtp.example.org", "127.0.0.1") + 'security = "none"\n'
    d = load(tmp_path, text).delivery
    assert d is not None and (d.security, d.smtp_port) == ("none", 25)
