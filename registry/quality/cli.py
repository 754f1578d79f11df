"""Printing for `registry validate` and `registry flags` (the CLI itself stays thin)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from registry.console import make_console
from registry.errors import RegistryError
from registry.quality.lifecycle import OPEN_STATUSES
from registry.settings import Settings

__all__ = ["flags_command", "validate_command"]

_STATUSES = (*OPEN_STATUSES, "resolved")


def validate_command(settings: Settings, sites: Sequence[str] | None,
                     console: Console | None = None) -> None:
    """Run the quality stage and print per site how many flags are new/open/resolved."""
    from registry.quality.stage import run_validation

    console = console or make_console()
    run = run_validation(settings, sites)
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


def flags_command(settings: Settings, site: str | None, statuses: Sequence[str] | None,
                  console: Console | None = None) -> None:
    """Print the newest flags (optionally one site, some statuses)."""
    from registry.quality.stage import list_flags

    bad = [s for s in statuses or [] if s not in _STATUSES]
    if bad:
        raise RegistryError(f"unknown status {', '.join(bad)}; use {', '.join(_STATUSES)}")
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
