"""Deliveries: one row per recipient of each message a run sent (or failed to send).

A run sent again (`registry send --run`) adds rows; `latest` gives each recipient's
newest outcome per message, which is what `registry status` shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from registry.errors import StoreError
from registry.store.schema import deliveries, runs
from registry.store.snapshots import as_utc

__all__ = ["DELIVERY_STATUSES", "DeliveryInfo", "latest", "record"]

#: sent: the server took it; failed: it did not, after the retries; skipped: nothing
#: changed since the last run, so nothing was sent.
DELIVERY_STATUSES = ("sent", "failed", "skipped")


@dataclass(frozen=True)
class DeliveryInfo:
    """One recipient's outcome for one message of a run."""

    run_id: str
    kind: str
    target: str
    recipient: str
    subject: str
    status: str
    attempts: int
    reason: str | None
    files: list[str]
    at: datetime


def record(conn: Connection, rows: Sequence[DeliveryInfo]) -> None:
    for run_id in sorted({r.run_id for r in rows}):
        if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            raise StoreError(f"no run {run_id!r} in the store to record deliveries of")
    for r in rows:
        if r.status not in DELIVERY_STATUSES:
            raise ValueError(f"delivery status {r.status!r} is not one of {DELIVERY_STATUSES}")
    if rows:
        conn.execute(insert(deliveries), [
            {"run_id": r.run_id, "kind": r.kind, "target": r.target, "recipient": r.recipient,
             "subject": r.subject, "status": r.status, "attempts": r.attempts,
             "reason": r.reason, "files": list(r.files), "at": r.at.astimezone(UTC)}
            for r in rows])


def latest(conn: Connection, run_id: str) -> list[DeliveryInfo]:
    """Each recipient's newest outcome per message of run `run_id`, by kind, target, recipient."""
    d = deliveries
    newest: dict[tuple[str, str, str], DeliveryInfo] = {}
    for row in conn.execute(select(d).where(d.c.run_id == run_id).order_by(d.c.id)):
        newest[(row.kind, row.target, row.recipient)] = DeliveryInfo(
            run_id=row.run_id, kind=row.kind, target=row.target, recipient=row.recipient,
            subject=row.subject, status=row.status, attempts=row.attempts, reason=row.reason,
            files=list(row.files or []), at=as_utc(row.at) or datetime.now(UTC))
    return [newest[k] for k in sorted(newest)]
