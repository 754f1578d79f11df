"""`registry validate` and `registry flags`: the quality stage's counts and flags."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from registry.commands import load, start
from registry.console import make_console
from registry.errors import UsageError
from registry.quality.lifecycle import OPEN_STATUSES
from registry.settings import Settings
from registry.store.records import natural_key
from registry.visible import visible

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


def _indented(console: Console, text: str, style: str = "") -> None:
    """`text` wrapped to the terminal under a two-space indent, no trailing spaces."""
    import textwrap

    width = max(40, console.width)
    for line in textwrap.wrap(text, width=width, initial_indent="  ",
                              subsequent_indent="  ") or [""]:
        console.print(Text(line, style=style), no_wrap=True, crop=False, overflow="ignore")


def flags_command(settings_path: Path, sites: Sequence[str] | None = None,
                  statuses: Sequence[str] | None = None,
                  console: Console | None = None) -> int:
    """Print the newest flags, one block per flag, readable at 80 columns.

    A block: site, record, form (and instance); the field's label (and name); severity,
    status, since when (days open) and the rule; the message and the rule's suggestion
    (a calculated field: the fields it is computed from), wrapped under an indent; the
    link to the REDCap form, on a line of its own and never cut, so a terminal can open
    it. Records in natural order, each record's blocking flags first.
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
    today = max((f["last_seen"] for f in rows if f.get("last_seen")), default=None)
    for f in rows:
        first = f.get("first_seen")
        label = str(f.get("label") or "").strip()
        field = f"{label} ({f['field']})" if label and f["field"] else (label or f["field"])
        since = ""
        if first:
            since = f", since {first.date().isoformat()}"
            if today is not None and f["status"] != "resolved":
                days = (today.date() - first.date()).days
                since += f" ({days} day{'s' if days != 1 else ''} open)" if days else ""
        console.print()
        console.print(Text.assemble(
            (f"{f['site']}  record {visible(str(f['record_id']))}", "bold"),
            f"  {f['form']}{_instance(f)}"))
        if field:
            _indented(console, field)
        console.print(Padding(Text.assemble(
            (f["severity"], _STYLE.get(f["severity"], "")), ", ",
            (f["status"], _STYLE.get(f["status"], "")), since, f", {f['rule_id']}"),
            (0, 0, 0, 2), expand=False))
        _indented(console, visible(str(f.get("message") or ""), None))
        computed = [n for n in str(f.get("computed_from") or "").split() if n != "="]
        hint = (f"calculated by REDCap: check {', '.join(computed)}" if computed
                else str(f.get("suggestion") or ""))
        if hint:
            _indented(console, f"-> {hint}", "italic")
        if f.get("link"):
            link = str(f["link"])
            console.print(Text("  " + link, style=f"link {link}"), no_wrap=True, crop=False,
                          overflow="ignore")
    return 0
