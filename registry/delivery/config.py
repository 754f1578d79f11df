"""The `[delivery]` settings table and the e-mail addresses of `[[sites]]`/`[[studies]]`.

    [delivery]
    smtp_host = "smtp.example.org"
    smtp_port = 587                 # default: 587 starttls, 465 ssl, 25 none
    security = "starttls"           # starttls | ssl | none
    sender = "registry@example.org"
    username = "registry"           # optional: no login without it
    password_env = "REGISTRY_SMTP_PASSWORD"   # the password, from the environment

The password is never in the file: like the API tokens it is read from the named
environment variable, only when a message is sent. This module only checks the
table; it is read by `registry.settings` (which passes its key reader, so errors read
the same as every other key's) and imports no other `registry` module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from registry.errors import SettingsError

__all__ = ["SECURITY_MODES", "DeliverySettings", "addresses", "parse_delivery"]

SECURITY_MODES = ("starttls", "ssl", "none")
_DEFAULT_PORT = {"starttls": 587, "ssl": 465, "none": 25}
#: One address, no display name: no spaces, no header-breaking characters, one @.
_ADDRESS = re.compile(r"^[^@\s<>,;\"'()\[\]\\]+@[A-Za-z0-9.-]+\.?[A-Za-z0-9-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_HOST = re.compile(r"^[A-Za-z0-9.:_-]+$")


@dataclass(frozen=True)
class DeliverySettings:
    """How the reports are sent: the SMTP server, the sender, when to send."""

    smtp_host: str
    sender: str
    smtp_port: int = 587
    security: str = "starttls"
    username: str | None = None
    #: the environment variable holding the SMTP password (never the password itself)
    password_env: str | None = None
    #: send a site's or study's message even when nothing changed since the last run
    send_unchanged: bool = False
    #: attempts after the first for a message whose sending failed on a transient error
    retries: int = 3
    backoff_seconds: float = 2.0
    timeout_seconds: float = 30.0
    #: REDCap user roles (labels) whose users of a site (its DAG) are its coordinators too
    coordinators_from_redcap: tuple[str, ...] = ()
    #: a token with User Rights privileges to read the users with (for DAG sites, whose
    #: own tokens REDCap refuses); None: each site's own token
    users_token_env: str | None = None
    users_token_file: Path | None = None
    users_token_key: str | None = None


class KeyReader(Protocol):
    """What `registry.settings` reads a table with (it names `table.key` in errors)."""

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, *,
            required: bool = False) -> Any: ...

    def positive(self, key: str, default: float, *, integer: bool = True) -> Any: ...


def addresses(path: Path, where: str, value: Any) -> tuple[str, ...]:
    """A list of e-mail addresses from settings (`coordinators`, `pis`), each checked."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{path}: {where} should be a list of e-mail addresses, "
                            f"got {type(value).__name__}")
    out: list[str] = []
    for item in value:
        address = item.strip()
        if not _ADDRESS.match(address):
            raise SettingsError(f"{path}: {where} has {item!r}, which is not an e-mail "
                                "address (write it as name@example.org)")
        if address.lower() not in {a.lower() for a in out}:
            out.append(address)
    return tuple(out)


def _roles(path: Path, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SettingsError(f"{path}: delivery.coordinators_from_redcap should be a list of "
                            "REDCap user role names")
    return tuple(v.strip() for v in value)


def parse_delivery(path: Path, table: Mapping[str, Any],
                   reader_for: Callable[[Mapping[str, Any], str, set[str]], KeyReader]
                   ) -> DeliverySettings:
    """Check the `[delivery]` table into `DeliverySettings`.

    `reader_for(table, "delivery", known_keys)` is `registry.settings`' key reader.
    """
    if "password" in table:
        raise SettingsError(f"{path}: delivery.password is not allowed: passwords never live "
                            "in settings.toml; name an environment variable with password_env")
    if "users_token" in table:
        raise SettingsError(f"{path}: delivery.users_token is not allowed: tokens never live "
                            "in settings.toml; use users_token_env or users_token_file")
    reader = reader_for(table, "delivery", set(DELIVERY_KEYS))
    defaults = DeliverySettings(smtp_host="", sender="")
    host = reader.get("smtp_host", str, required=True).strip()
    if not host or not _HOST.match(host):
        raise SettingsError(f"{path}: delivery.smtp_host {host!r} is not a host name")
    security = reader.get("security", str, defaults.security)
    if security not in SECURITY_MODES:
        raise SettingsError(f"{path}: delivery.security should be one of "
                            f"{', '.join(SECURITY_MODES)}, got {security!r}")
    port = reader.positive("smtp_port", _DEFAULT_PORT[security])
    if port > 65535:
        raise SettingsError(f"{path}: delivery.smtp_port should be <= 65535, got {port}")
    sender = reader.get("sender", str, required=True)
    addresses(path, "delivery.sender", [sender])
    username = reader.get("username", str)
    password_env = reader.get("password_env", str)
    if password_env is not None and not _ENV_NAME.match(password_env):
        raise SettingsError(f"{path}: delivery.password_env {password_env!r} is not a "
                            "variable name")
    if username and not password_env:
        raise SettingsError(f"{path}: delivery.username is given but no password_env names "
                            "the environment variable holding its password")
    if password_env and not username:
        raise SettingsError(f"{path}: delivery.password_env is given but no username to log "
                            "in with")
    if username and security == "none" and host not in _LOOPBACK:
        raise SettingsError(f"{path}: delivery.security = \"none\" would send the password "
                            f"to {host} in clear: use starttls or ssl (none is for a relay "
                            "on this machine)")
    retries = reader.get("retries", int, defaults.retries)
    if retries < 0:
        raise SettingsError(f"{path}: delivery.retries should be >= 0, got {retries}")
    backoff = reader.get("backoff_seconds", (int, float), defaults.backoff_seconds)
    if backoff < 0:
        raise SettingsError(f"{path}: delivery.backoff_seconds should be >= 0, got {backoff}")
    users_env = reader.get("users_token_env", str)
    if users_env is not None and not _ENV_NAME.match(users_env):
        raise SettingsError(f"{path}: delivery.users_token_env {users_env!r} is not a "
                            "variable name")
    raw_file = reader.get("users_token_file", str)
    users_file = Path(raw_file).expanduser() if raw_file else None
    return DeliverySettings(
        smtp_host=host, smtp_port=port, security=security, sender=sender.strip(),
        username=username or None, password_env=password_env,
        send_unchanged=reader.get("send_unchanged", bool, defaults.send_unchanged),
        retries=retries, backoff_seconds=float(backoff),
        timeout_seconds=float(reader.positive("timeout_seconds", defaults.timeout_seconds,
                                              integer=False)),
        coordinators_from_redcap=_roles(path, table.get("coordinators_from_redcap")),
        users_token_env=users_env,
        users_token_file=(users_file if users_file is None or users_file.is_absolute()
                          else path.resolve().parent / users_file),
        users_token_key=reader.get("users_token_key", str),
    )


#: The keys `[delivery]` knows (for the unknown-key error).
DELIVERY_KEYS: Sequence[str] = ("smtp_host", "smtp_port", "security", "sender", "username",
                                "password_env", "send_unchanged", "retries",
                                "backoff_seconds", "timeout_seconds",
                                "coordinators_from_redcap", "users_token_env",
                                "users_token_file", "users_token_key")
