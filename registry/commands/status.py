"""`registry status`: per site the newest snapshot and pull, the last runs' outcomes, then
the newest run's stages (a nightly's pull one row per site).

Data comes from `Store.status`; this module only lays it out as rich tables.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from registry.commands import load
from registry.console import make_console
from registry.settings import Settings
from registry.store import DeliveryInfo, RunInfo, Store, StoreStatus
from registry.store.runs import FINISHED_STATUSES

__all__ = ["render_deliveries", "render_status", "show_status", "status_command"]

_STYLE = {"succeeded": "green", "ok": "green", "sent": "green", "skipped": "dim",
          "partial": "yellow", "failed": "red", "running": "cyan", "abandoned": "magenta"}


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _took(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    seconds = int((end - start).total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _status(value: str) -> str:
    style = _STYLE.get(value)
    return f"[{style}]{value}[/{style}]" if style else value


def _table(title: str) -> Table:
    # no column rules and one space either side: at 80 columns every column stays whole
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                 show_edge=False, padding=(0, 1, 0, 0))


def _snapshots_used(run: RunInfo) -> str:
    """Fresh snapshots counted; a site whose last good snapshot was kept named with it."""
    kept = [f"{site} #{rs.snapshot_id} kept" for site, rs in run.snapshots.items()
            if not rs.fresh]
    fresh = sum(rs.fresh for rs in run.snapshots.values())
    parts = ([f"{fresh} fresh"] if fresh else []) + kept
    return ", ".join(parts) or "-"


def render_status(status: StoreStatus, console: Console) -> None:
    """Print the sites table, the runs table and the newest run's stages.

    Laid out for an 80-column terminal: no word is cut and no column dropped; the long
    texts (a failed pull's reason, a run's message) wrap within their own column.
    """
    sites = _table("Sites (times in UTC)")
    # one "+added ~changed -deleted" column, as the pull's own line writes it
    for col in ("site", "pull", "pulled at", "records", "+ ~ -", "snap", "last pull"):
        numeric = col in {"records", "+ ~ -", "snap"}
        sites.add_column(col, justify="right" if numeric else "left",
                         no_wrap=col not in {"site", "last pull"},
                         min_width={"pulled at": 16, "last pull": 9}.get(col),
                         overflow="fold")
    for s in status.sites:
        snap, pull = s.snapshot, s.last_pull
        attempt = "-" if pull is None else _status(pull.status)
        if pull is not None and pull.message and pull.status not in ("ok", "succeeded"):
            attempt += f" ({escape(pull.message)})"
        if snap is None:
            sites.add_row(escape(s.site), "never", "-", "-", "-", "-", attempt)
            continue
        sites.add_row(escape(s.site), snap.kind, _when(snap.created_at), str(snap.n_records),
                      f"+{snap.n_added} ~{snap.n_changed} -{snap.n_deleted}",
                      str(snap.id), attempt)
    console.print(sites)
    console.print()

    # the run id is its start (UTC, to the second), so no separate "started" column
    runs = _table("Last runs")
    for col in ("run", "kind", "outcome", "exit", "took", "snapshots, message"):
        runs.add_column(col, no_wrap=col != "snapshots, message", overflow="fold",
                        min_width={"run": 20, "outcome": 9}.get(col))
    for r in status.runs:
        failed = sorted({f"{st.stage}:{st.site}" if st.site else st.stage
                         for st in r.stages if st.status == "failed"})
        message = r.message or (f"failed: {', '.join(failed)}" if failed else "")
        detail = _snapshots_used(r) + (f"; {escape(message)}" if message else "")
        runs.add_row(r.id, r.kind, _status(r.status),
                     "-" if r.exit_code is None else str(r.exit_code),
                     _took(r.started_at, r.ended_at), detail)
    if not status.runs:
        runs.add_row("-", "-", "no runs yet", "-", "-", "")
    console.print(runs)
    if status.runs and status.runs[0].stages:
        console.print()
        console.print(_stages_table(status.runs[0]))


def _stages_table(run: RunInfo) -> Table:
    """The newest run's stages, one row per stage and per site (a nightly's pulls)."""
    table = _table(f"Stages of run {run.id}")
    for col in ("stage", "site", "outcome", "took", "detail"):
        table.add_column(col, no_wrap=col != "detail", overflow="fold",
                         min_width=9 if col == "outcome" else None)
    for st in run.stages:
        detail = st.message or ""
        if not detail and isinstance(st.counts, dict) and st.stage == "report":
            detail = f"{len(st.counts.get('files') or [])} files"
        table.add_row(st.stage, escape(st.site or "(all)"), _status(st.status),
                      _took(st.started_at, st.ended_at), escape(detail))
    return table


def render_deliveries(run_id: str, rows: list[DeliveryInfo], console: Console) -> None:
    """Who got run `run_id`'s e-mails: one row per recipient and message, newest try."""
    if not rows:
        console.print(f"No e-mail recorded for run {run_id} "
                      f"(`registry send --run {run_id}` sends its reports).")
        return
    table = _table(f"E-mails of run {run_id}")
    for col in ("to", "what", "outcome", "tries", "why"):
        # an address or a name is never cut; the reason wraps in what is left
        table.add_column(col, no_wrap=col != "why", overflow="fold",
                         min_width={"outcome": 7, "why": 16}.get(col))
    for r in rows:
        table.add_row(escape(r.recipient), escape(f"{r.kind} {r.target}"), _status(r.status),
                      str(r.attempts), escape(r.reason or ""))
    console.print(table)


def show_status(settings: Settings, console: Console | None = None, runs: int = 10) -> None:
    """Open the store named in settings and print its status."""
    console = console or make_console()
    with Store.open(settings.store.url) as store:
        status = store.status(sites=[s.name for s in settings.sites], run_limit=runs)
        last = next((r for r in status.runs
                     if r.status in FINISHED_STATUSES and r.snapshots), None)
        sent = store.deliveries(last.id) if last is not None else []
    console.print(f"Store: {store.url}")
    render_status(status, console)
    if last is not None and (sent or settings.delivery is not None):
        console.print()
        render_deliveries(last.id, sent, console)


def status_command(settings_path: Path, *, runs: int = 10) -> int:
    """`registry status`: read-only, so it takes no lock and never waits for a run."""
    show_status(load(settings_path), runs=runs)
    return 0
