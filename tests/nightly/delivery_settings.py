"""Add e-mail delivery to a night folder's settings.toml (for the delivery tests)."""

from __future__ import annotations

import re
from pathlib import Path

PASSWORD_ENV = "REGISTRY_TEST_SMTP_PASSWORD"
#: mixed case on purpose: a leak is looked for in any letter case
PASSWORD = "Smtp-Pass-7f3Q-kW9z"
SENDER = "registry@registry.example.org"
PIS = ("pi.one@registry.example.org", "pi.two@registry.example.org")


def coordinators(site: str) -> tuple[str, str]:
    return (f"coord.{site}@{site}.example.org", f"second.{site}@{site}.example.org")


def add_delivery(settings: Path, port: int, *, login: bool = True, extra: str = "") -> Path:
    """Give every site two coordinators, the study two PIs, and `[delivery]` on `port`."""
    original = settings.with_name(settings.name + ".before-delivery")
    if not original.exists():  # called again: start from the settings as they were
        original.write_bytes(settings.read_bytes())
    text = original.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^name = "([a-z0-9_-]+)"$',
                  lambda m: f'{m.group(0)}\ncoordinators = '
                            f'[{", ".join(chr(34) + a + chr(34) for a in coordinators(m[1]))}]',
                  text)
    text = re.sub(r'(?m)^spec = "(.+)"$', lambda m: m.group(0) + "\npis = ["
                  + ", ".join(f'"{a}"' for a in PIS) + "]", text)
    text += (f'\n[delivery]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsecurity = "none"\n'
             f'sender = "{SENDER}"\nretries = 2\nbackoff_seconds = 0\ntimeout_seconds = 5\n')
    if login:
        text += f'username = "registry-mailer"\npassword_env = "{PASSWORD_ENV}"\n'
    settings.write_text(text + extra, encoding="utf-8")
    return settings
