"""`registry validate` and `registry flags`: the quality stage's counts and flags."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from registry.commands import load, start
from registry.console import make_console
from registry.errors import UsageError
from registry.quality.lifecycle import OPEN_STATUSES
from registry.settings import Settings
from registry.store.records import natural_key

__all__ = ["FLAG_STATUSES", "flags_command", "list_flags", "validate_command"]

#: What `registry flags --status` accepts: the open statuses and just-resolved flags.
FLAG_STATUSES = (*OPEN_STATUSES, "resolved")
#: ... and `accepted` (confirmed correct in REDCap's DRW, docs/drw.md): listable, not open.
_LISTABLE = (*FLAG_STATUSES, "accepted")
_STYLE = {"new": "bold yellow", "reopened": "bold magenta", "resolved": "green",
          "blocking": "red"}


def validate_command(settings_path: Path, sites: Sequence[str] | None = None, *,
                     verbose: bool = False, console: Console | None = None) -> int:
    """Run the quality stage and print per site how many flags are new/open/resolved."""
    from registry.run import run_validate

    run = run_validate(start(settings_path, verbose=verbose), sites)
    console = console or make_console()
    table = Table(title=f"Validation run {run.run_id}")
    for col in ("site", *FLAG_STATUSES):
        table.add_column(col, justify="left" if col == "site" else "right")
    for site, counts in run.counts.items():
        table.add_row(site, *(str(counts.get(s, 0)) for s in FLAG_STATUSES))
    console.print(table)
    for path in run.files:
        console.print(f"wrote {path}")
    if run.rule_errors:
        console.print(f"[yellow]{run.rule_errors} rule result(s) are errors: "
                      "see the rule results of this run[/yellow]")
    return 0


def list_flags(settings: Settings, sites: Sequence[str] | None = None,
               statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Each site's newest flag set (open and just-resolved flags), optionally filtered.

    Only finished runs' sets count; a resolved flag is listed the night it got resolved.
    """
    from registry.quality.stage import flags_from_store
    from registry.store import Store

    with Store.open(settings.store.url) as store:
        flags = store.flags(status=list(statuses) if statuses else None)
    return [f for f in flags_from_store(flags)
            if f.get("reported", True) and (not sites or f["site"] in sites)]


def _check_statuses(statuses: Sequence[str] | None) -> None:
    bad = [s for s in statuses or () if s not in _LISTABLE]
    if bad:
        raise UsageError(f"unknown status {', '.join(repr(s) for s in bad)}: use "
                         f"{', '.join(_LISTABLE)}")


def _instance(flag: dict[str, Any]) -> str:
    return "" if flag.get("instance") in (None, "") else f" #{flag['instance']}"


def flags_command(settings_path: Path, sites: Sequence[str] | None = None,
                  statuses: Sequence[str] | None = None,
                  console: Console | None = None) -> int:
    """Print the newest flags, one block per flag, readable at 80 columns.

    A block: site, record, form (and instance) and field; then severity, status, since
    when and the rule; the message; the link to the REDCap form, on a line of its own
    and never cut, so a terminal can open it.
    """
    _check_statuses(statuses)
    settings = load(settings_path)
    for name in sites or ():
        settings.site(name)  # an unknown name fails now, with the known ones
    rows = list_flags(settings, sites, statuses)
    console = console or make_console()
    by_status = {s: sum(f["status"] == s for f in rows) for s in _LISTABLE
                 if s in FLAG_STATUSES or any(f["status"] == s for f in rows)}
    console.print(Text(f"{len(rows)} flag(s): " + ", ".join(
        f"{n} {s}" for s, n in by_status.items()), style="bold"))
    rows.sort(key=lambda f: (f["site"], natural_key(str(f["record_id"])),
                             f["severity"] != "blocking",
                             f["form"], str(f.get("instance") or ""), f["field"]))
    for f in rows:
        first = f.get("first_seen")
        console.print()
        console.print(Text.assemble(
            (f"{f['site']}  record {f['record_id']}", "bold"),
            f"  {f['form']}{_instance(f)}", (f"  {f['field']}" if f["field"] else "")))
        console.print(Text.assemble(
            "  ", (f["severity"], _STYLE.get(f["severity"], "")), ", ",
            (f["status"], _STYLE.get(f["status"], "")),
            f", since {first.date().isoformat()}" if first else "", f", {f['rule_id']}"))
        console.print(Text("  " + (f.get("message") or "")))
        if f.get("link"):
            link = str(f["link"])
            console.print(Text("  " + link, style=f"link {link}"), no_wrap=True, crop=False,
                          overflow="ignore")
    return 0
