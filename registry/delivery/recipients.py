"""A site's coordinators from REDCap: its users holding one of the named roles.

With `[delivery] coordinators_from_redcap = ["Site coordinator"]`, a site's
coordinators are those in settings plus the REDCap users who hold one of those roles
(by label, as the User Rights page shows it) and, for a site that is a data access
group, are in that DAG. Four API exports give it: `user` (e-mail, expiration),
`userRole` (role labels), `userRoleMapping` (who holds which role) and
`userDagMapping` (who is in which DAG). A user whose rights expired, or without an
e-mail address, is left out.

REDCap refuses these exports to a DAG member's token, so a DAG site needs a token
with User Rights privileges (`users_token_env` / `users_token_file`). A failure to
read them is reported and the site keeps its settings' coordinators: it never stops
the sending.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from registry.delivery.config import DeliverySettings, addresses
from registry.errors import RegistryError
from registry.settings import PullSettings, Site

__all__ = ["redcap_coordinators"]


def _users_site(site: Site, cfg: DeliverySettings) -> Site:
    """`site` reached with the users token when one is set (same URL, other token)."""
    if not (cfg.users_token_env or cfg.users_token_file):
        return site
    return replace(site, token_env=cfg.users_token_env, token_file=cfg.users_token_file,
                   token_key=cfg.users_token_key)


def _expired(value: Any, today: date) -> bool:
    try:
        return bool(value) and date.fromisoformat(str(value)[:10]) < today
    except ValueError:
        return False


def redcap_coordinators(site: Site, cfg: DeliverySettings, pull: PullSettings,
                        today: date | None = None) -> tuple[tuple[str, ...], str | None]:
    """The e-mail addresses of `site`'s REDCap users in the roles named, and why not
    (None when they were read)."""
    from registry.redcap.client import RedcapClient

    if not cfg.coordinators_from_redcap:
        return (), None
    today = today or date.today()
    try:
        client = RedcapClient(_users_site(site, cfg), pull)
        roles = {r.get("unique_role_name"): r.get("role_label") for r in client.user_roles()}
        held = {m.get("username"): roles.get(m.get("unique_role_name"))
                for m in client.user_role_mapping()}
        dags = {m.get("username"): m.get("redcap_data_access_group") or ""
                for m in client.user_dag_mapping()}
        users = client.users()
    except RegistryError as exc:
        return (), f"site '{site.name}': its REDCap users could not be read ({exc.message})"
    wanted = set(cfg.coordinators_from_redcap)
    found = [str(u.get("email") or "").strip() for u in users
             if held.get(u.get("username")) in wanted
             and (site.dag is None or dags.get(u.get("username")) == site.dag)
             and not _expired(u.get("expiration"), today) and u.get("email")]
    out: list[str] = []
    for email in found:  # an address REDCap holds that is not one is left out
        try:
            out += [a for a in addresses(Path(site.url), "email", [email])
                    if a.lower() not in {o.lower() for o in out}]
        except RegistryError:
            continue
    return tuple(out), None
