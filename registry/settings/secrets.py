"""API tokens: read only when a site is pulled, and never shown.

A site names an environment variable (`token_env`) and/or an owner-only file
(`token_file`, optionally with `token_key` to pick one line of a `KEY=value` file).
The token is wrapped in `Secret`, so it never shows in a repr, a log line or an error
message.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from registry.errors import SettingsError

#: what a REDCap API token looks like
TOKEN = re.compile(r"^[0-9A-Fa-f]{32}$")


class Secret:
    """A string that does not show itself: repr, str and format all give `***`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def read_token(site: str, token_env: str | None, token_file: Path | None,
               token_key: str | None) -> Secret:
    """A site's API token from its environment variable (if set) or owner-only file.

    The file is checked to be owner-only; the token to be 32 hexadecimal characters.
    """
    if token_env and os.environ.get(token_env):
        value = os.environ[token_env].strip()
        where = f"environment variable {token_env}"
    elif token_file is not None:
        value = read_token_file(token_file, token_key or token_env)
        where = f"token file {token_file}"
    elif token_env:
        raise SettingsError(
            f"site '{site}': environment variable {token_env} is not set "
            "(it should hold the site's REDCap API token)"
        )
    else:  # load_settings guarantees one source; kept for direct construction
        raise SettingsError(f"site '{site}': no token_env or token_file given")
    if not TOKEN.match(value):
        raise SettingsError(
            f"site '{site}': the token in {where} is not 32 hexadecimal characters "
            f"(got {len(value)} characters)"
        )
    return Secret(value)


def read_token_file(path: Path, key: str | None) -> str:
    """The token in an owner-only file: its one line, or the `key=value` line named `key`."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SettingsError(f"token file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"token file {path} cannot be read: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(
            f"token file {path} can be read by others (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise SettingsError(f"token file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise SettingsError(f"token file {path} cannot be read: {exc.strerror}") from exc
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    pairs = dict(ln.split("=", 1) for ln in lines if "=" in ln)
    if pairs:
        pairs = {k.strip(): v.strip().strip('"').strip("'") for k, v in pairs.items()}
        if not key:
            raise SettingsError(f"token file {path} holds several tokens: name one with token_key")
        if key not in pairs:
            raise SettingsError(f"token file {path} has no entry named {key}")
        return pairs[key]
    if len(lines) != 1:
        raise SettingsError(f"token file {path} should hold exactly one token line")
    return lines[0]
