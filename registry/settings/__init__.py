"""settings.toml -> typed, validated settings.

A bad file fails at load with the key and what is wrong with it. API tokens are never
in the file: a site names an environment variable (`token_env`) and/or an owner-only
file (`token_file`, optionally with `token_key` to pick one line of a `KEY=value`
file). A token is read only when a site is pulled, is wrapped in `Secret` so it never
shows in a repr, a log line or an error message.

The parts: `load` (`load_settings`: the file, table by table), `model` (the frozen
dataclasses the rest of the registry reads), `sites` (`Site` and its `[[sites]]`
table), `secrets` (`Secret`, the token from the environment or an owner-only file),
`tables` (reading a TOML table, naming `table.key` in every error).
"""

from __future__ import annotations

from registry.settings.load import load_settings
from registry.settings.model import (
    AnalysesSettings,
    PullSettings,
    QualitySettings,
    Settings,
    StoreSettings,
)
from registry.settings.secrets import Secret
from registry.settings.sites import Site

__all__ = [
    "AnalysesSettings",
    "PullSettings",
    "QualitySettings",
    "Secret",
    "Settings",
    "Site",
    "StoreSettings",
    "load_settings",
]
