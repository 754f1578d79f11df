"""The sites: one REDCap project, or one data access group of a shared project, each.

`Site` is a site as settings.toml gives it; `parse_site` reads and checks one
`[[sites]]` table (a token itself in the file is refused, never shown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.delivery.config import addresses
from registry.errors import SettingsError
from registry.log import looks_like_token
from registry.settings.secrets import Secret, read_token
from registry.settings.tables import TableReader, relative

_SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Site:
    """One site: a REDCap project, or one data access group (DAG) of a shared project.

    `dag` None: every record the token sees; a unique group name: that DAG's records;
    `""`: the records in no DAG (read with a project-wide token)."""

    name: str
    url: str
    token_env: str | None = None
    token_file: Path | None = None
    token_key: str | None = None
    dag: str | None = None
    label: str | None = None
    #: who gets this site's report and flags by e-mail (`registry send`)
    coordinators: tuple[str, ...] = ()
    #: keep this site's flags in step with its REDCap Data Resolution Workflow (the
    #: Data Quality API module must be enabled on the project; docs/drw.md)
    drw_sync: bool = False
    #: the REDCap username the sync's resolutions are stored under (None: no user)
    drw_username: str | None = None

    @property
    def display_name(self) -> str:
        return self.label or self.name

    @property
    def redcap_base(self) -> str:
        """The REDCap web root (the API URL without its trailing `api/`)."""
        base = self.url.rstrip("/")
        return base[: -len("/api")] + "/" if base.endswith("/api") else base + "/"

    def token(self) -> Secret:
        """Read this site's API token from its environment variable or owner-only file."""
        return read_token(self.name, self.token_env, self.token_file, self.token_key)


def parse_site(path: Path, base: Path, raw: Any, index: int) -> Site:
    """One `[[sites]]` table (`index` its place, for the errors) -> a checked `Site`."""
    where = f"sites[{index}]"
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: {where} should be a table ([[sites]])")
    r = TableReader(path, raw, where,
                {"name", "url", "token_env", "token_file", "token_key", "dag", "label", "token",
                 "coordinators", "drw_sync", "drw_username"})
    if "token" in raw:
        raise SettingsError(
            f"{path}: {where}.token is not allowed: tokens never live in settings.toml; "
            "name an environment variable with token_env or an owner-only file with token_file"
        )
    name = r.get("name", str, required=True)
    if not _SITE_NAME.match(name):
        raise SettingsError(
            f"{path}: {where}.name {name!r} should be lower-case letters, digits, '-' or '_'"
        )
    url = r.get("url", str, required=True)
    if not re.match(r"^https?://", url) or not url.rstrip("/").endswith("/api"):
        raise SettingsError(
            f"{path}: {where}.url {url!r} should be a REDCap API URL ending in /api/"
        )
    if not url.endswith("/"):
        url += "/"
    token_env = r.get("token_env", str)
    token_file = r.get("token_file", str)
    token_key = r.get("token_key", str)
    for key, value in (("token_env", token_env), ("token_file", token_file),
                       ("token_key", token_key)):
        if value and looks_like_token(value):
            raise SettingsError(
                f"{path}: {where}.{key} holds what looks like an API token itself (not shown); "
                "tokens never live in settings.toml: put it in an environment variable or an "
                f"owner-only file and give {key} that name, then ask REDCap for a new token"
            )
    if not token_env and not token_file:
        raise SettingsError(f"{path}: {where} needs token_env or token_file for its API token")
    if token_env and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", token_env):
        raise SettingsError(f"{path}: {where}.token_env {token_env!r} is not a variable name")
    return Site(
        name=name,
        url=url,
        token_env=token_env,
        token_file=relative(base, token_file) if token_file else None,
        token_key=token_key,
        dag=r.get("dag", str),
        label=r.get("label", str),
        coordinators=addresses(path, f"{where}.coordinators", raw.get("coordinators")),
        drw_sync=r.get("drw_sync", bool, False),
        drw_username=r.get("drw_username", str),
    )
