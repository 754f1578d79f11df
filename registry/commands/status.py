"""`registry status`: per site the newest snapshot and pull, the last runs' outcomes, then
the newest run's stages (a nightly's pull one row per site).

Data comes from `Store.status`; this module only lays it out as rich tables.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from registry.console import make_console
from registry.settings import Settings, load_settings
from registry.store import RunInfo, Store, StoreStatus

__all__ = ["render_status", "show_status", "status_command"]

_STYLE = {"succeeded": "green", "ok": "green", "partial": "yellow", "failed": "red",
          "running": "cyan", "abandoned": "magenta"}


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _took(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    seconds = int((end - start).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _status(value: str) -> str:
    style = _STYLE.get(value)
    return f"[{style}]{value}[/{style}]" if style else value


def render_status(status: StoreStatus, console: Console) -> None:
    """Print the sites table and the runs table."""
    sites = Table(title="Sites (times in UTC)", title_justify="left", box=box.SIMPLE,
                  pad_edge=False)
    # one "+added ~changed -deleted" column, as the pull's own line writes it, so the
    # table fits 80 columns without cutting site names
    for col in ("site", "pull", "pulled at", "records", "+ ~ -", "snap", "last attempt"):
        numeric = col in {"records", "+ ~ -", "snap"}
        sites.add_column(col, justify="right" if numeric else "left",
                         no_wrap=col != "last attempt",
                         min_width={"pulled at": 16, "last attempt": 9}.get(col, len(col)),
                         overflow="fold" if col == "last attempt" else "ellipsis")
    for s in status.sites:
        snap, pull = s.snapshot, s.last_pull
        attempt = "-" if pull is None else _status(pull.status)
        if pull is not None and pull.message and pull.status not in ("ok", "succeeded"):
            attempt += f" ({pull.message})"
        if snap is None:
            sites.add_row(s.site, "never", "-", "-", "-", "-", attempt)
            continue
        sites.add_row(s.site, snap.kind, _when(snap.created_at), str(snap.n_records),
                      f"+{snap.n_added} ~{snap.n_changed} -{snap.n_deleted}",
                      str(snap.id), attempt)
    console.print(sites)

    runs = Table(title="Last runs", title_justify="left", box=box.SIMPLE, pad_edge=False)
    for col in ("run", "kind", "started", "took", "outcome", "exit", "snapshots", "message"):
        runs.add_column(col, no_wrap=col not in {"snapshots", "message"},
                        min_width=20 if col == "run" else None)
    for r in status.runs:
        failed = sorted({f"{st.stage}:{st.site}" if st.site else st.stage
                         for st in r.stages if st.status == "failed"})
        message = r.message or (f"failed: {', '.join(failed)}" if failed else "")
        used = ", ".join(f"{site} #{rs.snapshot_id}{'' if rs.fresh else ' (kept)'}"
                         for site, rs in r.snapshots.items())
        runs.add_row(r.id, r.kind, _when(r.started_at), _took(r.started_at, r.ended_at),
                     _status(r.status),
                     "-" if r.exit_code is None else str(r.exit_code), used or "-", message)
    if not status.runs:
        runs.add_row("-", "-", "-", "-", "no runs yet", "-", "-", "")
    console.print(runs)
    if status.runs and status.runs[0].stages:
        console.print(_stages_table(status.runs[0]))


def _stages_table(run: RunInfo) -> Table:
    """The newest run's stages, one row per stage and per site (a nightly's pulls)."""
    table = Table(title=f"Stages of run {run.id}", title_justify="left", box=box.SIMPLE,
                  pad_edge=False)
    for col in ("stage", "site", "outcome", "took", "detail"):
        table.add_column(col, no_wrap=col != "detail", overflow="fold")
    for st in run.stages:
        detail = st.message or ""
        if not detail and isinstance(st.counts, dict) and st.stage == "report":
            detail = f"{len(st.counts.get('files') or [])} files"
        table.add_row(st.stage, st.site or "(all)", _status(st.status),
                      _took(st.started_at, st.ended_at), detail)
    return table


def show_status(settings: Settings, console: Console | None = None, runs: int = 10) -> None:
    """Open the store named in settings and print its status."""
    console = console or make_console()
    with Store.open(settings.store.url) as store:
        status = store.status(sites=[s.name for s in settings.sites], run_limit=runs)
    console.print(f"Store: {store.url}")
    render_status(status, console)


def status_command(settings_path: Path, *, runs: int = 10) -> int:
    """`registry status`: read-only, so it takes no lock and never waits for a run."""
    show_status(load_settings(settings_path), runs=runs)
    return 0
