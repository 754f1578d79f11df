"""`registry validate` and `registry flags`: the quality stage's tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from registry.console import make_console
from registry.errors import RegistryError
from registry.quality.lifecycle import OPEN_STATUSES
from registry.settings import Settings, load_settings

__all__ = ["flags_command", "list_flags", "validate_command"]

_STATUSES = (*OPEN_STATUSES, "resolved")


def validate_command(settings_path: Path, sites: Sequence[str] | None = None,
                     console: Console | None = None) -> int:
    """Run the quality stage and print per site how many flags are new/open/resolved."""
    from registry.run import run_validate

    run = run_validate(load_settings(settings_path), sites)
    console = console or make_console()
    table = Table(title=f"Validation run {run.run_id}")
    for col in ("site", *_STATUSES):
        table.add_column(col, justify="left" if col == "site" else "right")
    for site, counts in run.counts.items():
        table.add_row(site, *(str(counts.get(s, 0)) for s in _STATUSES))
    console.print(table)
    for path in run.files:
        console.print(f"wrote {path}")
    if run.rule_errors:
        console.print(f"[yellow]{run.rule_errors} rule result(s) are errors: "
                      "see the rule results of this run[/yellow]")
    return 0


def list_flags(settings: Settings, site: str | None = None,
               statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Each site's newest flag set (open and just-resolved flags), optionally filtered."""
    from registry.quality.stage import flags_from_store
    from registry.store import Store

    with Store.open(settings.store.url) as store:
        flags = store.flags(site=site, status=list(statuses) if statuses else None)
    return [f for f in flags_from_store(flags) if f.get("reported", True)]


def flags_command(settings_path: Path, site: str | None, statuses: Sequence[str] | None,
                  console: Console | None = None) -> int:
    """Print the newest flags (optionally one site, some statuses)."""
    bad = [s for s in statuses or [] if s not in _STATUSES]
    if bad:
        raise RegistryError(f"unknown status {', '.join(bad)}; use {', '.join(_STATUSES)}")
    settings = load_settings(settings_path)
    console = console or make_console()
    rows = list_flags(settings, site, statuses)
    table = Table(title=f"{len(rows)} flag(s)")
    for col in ("site", "record", "form", "inst", "field", "rule", "severity", "status",
                "first seen", "message"):
        table.add_column(col, overflow="fold")
    for f in rows:
        first = f.get("first_seen")
        table.add_row(f["site"], f["record_id"], f["form"],
                      "" if f.get("instance") is None else str(f["instance"]), f["field"],
                      f["rule_id"], f["severity"], f["status"],
                      first.date().isoformat() if first else "", f.get("message") or "")
    console.print(table)
    return 0
