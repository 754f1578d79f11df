"""Analysis results: opaque JSON per run, study and kind, decided by the analyses stage.

Kinds are free ("study_json", "matched", "km", "balance", ...). Saving the same
(run, study, kind) again replaces it, so a rerun stage is idempotent. Values are stored
as JSON: NaN and infinities become null on every backend (PostgreSQL's JSON has no NaN),
numpy scalars their Python value, dates ISO text.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from registry.errors import StoreError
from registry.store.schema import analysis_results, runs

__all__ = ["dumps", "get_all", "get_one", "save", "studies"]


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    item = getattr(value, "item", None)          # numpy scalars
    if callable(item):
        return _plain(item())
    tolist = getattr(value, "tolist", None)      # numpy arrays
    if callable(tolist):
        return _plain(tolist())
    raise TypeError(f"{type(value).__name__} cannot be stored as JSON")


def dumps(value: Any) -> str:
    """The store's JSON serializer (used for every JSON column)."""
    return json.dumps(_plain(value), ensure_ascii=False, allow_nan=False)


def _check_run(conn: Connection, run_id: str) -> None:
    if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
        raise StoreError(f"no run {run_id!r} in the store; start it with start_run first")


def save(conn: Connection, run_id: str, study: str, kind: str, payload: Any) -> None:
    _check_run(conn, run_id)
    try:
        dumps(payload)
    except TypeError as exc:
        raise StoreError(f"result {study}/{kind} of run {run_id}: {exc}") from exc
    ar = analysis_results
    conn.execute(delete(ar).where(ar.c.run_id == run_id, ar.c.study == study, ar.c.kind == kind))
    conn.execute(insert(ar).values(run_id=run_id, study=study, kind=kind, payload=payload,
                                   created_at=datetime.now(UTC)))


def get_all(conn: Connection, run_id: str, study: str) -> dict[str, Any]:
    """kind -> payload of one run's study (empty if none saved)."""
    ar = analysis_results
    q = (select(ar.c.kind, ar.c.payload).where(ar.c.run_id == run_id, ar.c.study == study)
         .order_by(ar.c.kind))
    return {r.kind: r.payload for r in conn.execute(q)}


def get_one(conn: Connection, run_id: str, study: str, kind: str) -> Any:
    ar = analysis_results
    return conn.execute(select(ar.c.payload).where(
        ar.c.run_id == run_id, ar.c.study == study, ar.c.kind == kind)).scalar()


def studies(conn: Connection, run_id: str) -> list[str]:
    ar = analysis_results
    return sorted(conn.execute(select(ar.c.study).where(ar.c.run_id == run_id)
                               .distinct()).scalars())
