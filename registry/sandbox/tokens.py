"""Who calls the sandbox: API tokens (one project-wide, one per DAG) and their scopes.

A token's `Scope` is the user name and, for a DAG member, the DAG; every project
operation takes the caller's scope (REDCAP_API.md §4).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Scope", "Tokens", "new_token"]


@dataclass(frozen=True)
class Scope:
    """Who is calling: a user name and, for a DAG member, the DAG's unique name."""

    username: str
    dag: str | None = None


@dataclass(frozen=True)
class Tokens:
    """The server's API tokens: one project-wide, one per DAG (by unique group name)."""

    project: str
    by_dag: Mapping[str, str]

    def __getitem__(self, dag: str) -> str:
        return self.by_dag[dag]

    def env(self, prefix: str = "REGISTRY_TOKEN_") -> dict[str, str]:
        """`{"REGISTRY_TOKEN_PROJECT": ..., "REGISTRY_TOKEN_PARIS": ...}` for a token file."""
        out = {f"{prefix}PROJECT": self.project}
        out.update({f"{prefix}{dag.upper()}": tok for dag, tok in self.by_dag.items()})
        return out


def new_token() -> str:
    """A fresh API token, shaped as REDCap's: 32 upper-case hex digits."""
    return secrets.token_hex(16).upper()
