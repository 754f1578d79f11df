"""Reading snapshots back: their history, records, flat rows and data dictionary.

Rows come back exactly as the REDCap flat export gave them: every column of the
snapshot in export order, `""` where empty, records in REDCap's (natural) record-id
order and each record's rows in their export order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from registry.errors import StoreError
from registry.store import records as rec
from registry.store.schema import dictionaries, record_versions, snapshot_records, snapshots
from registry.store.snapshots import SnapshotDiff, SnapshotInfo, latest_id, members, snapshot_info

__all__ = [
    "diff",
    "get",
    "history",
    "latest",
    "manifest_of",
    "metadata_of",
    "record_ids_of",
    "records_of",
    "rows_of",
    "sites",
    "table_of",
]


def get(conn: Connection, snapshot_id: int) -> SnapshotInfo:
    row = conn.execute(select(snapshots).where(snapshots.c.id == snapshot_id)).first()
    if row is None:
        raise StoreError(f"no snapshot {snapshot_id} in the store; "
                         "`registry status` lists the snapshots there are")
    return snapshot_info(row)


def latest(conn: Connection, site: str) -> SnapshotInfo | None:
    snapshot_id = latest_id(conn, site)
    return None if snapshot_id is None else get(conn, snapshot_id)


def history(conn: Connection, site: str | None = None,
            limit: int | None = None) -> list[SnapshotInfo]:
    """Snapshots, newest first (of one site, or of all)."""
    q = select(snapshots).order_by(snapshots.c.id.desc())
    if site is not None:
        q = q.where(snapshots.c.site == site)
    if limit is not None:
        q = q.limit(limit)
    return [snapshot_info(r) for r in conn.execute(q)]


def sites(conn: Connection) -> list[str]:
    """Every site that has at least one snapshot, sorted."""
    return sorted(conn.execute(select(snapshots.c.site).distinct()).scalars())


def _columns(conn: Connection, snapshot_id: int) -> list[str]:
    cols = conn.execute(select(snapshots.c.columns)
                        .where(snapshots.c.id == snapshot_id)).first()
    if cols is None:
        get(conn, snapshot_id)  # raises the "no snapshot" error
    return list(cols[0] or []) if cols else []


def record_ids_of(conn: Connection, snapshot_id: int, *, ordered: bool = True) -> list[str]:
    """The snapshot's record ids in natural record-id order (or the database's, with
    `ordered=False`: sorting 23,400 ids naturally costs more than reading them), without
    their rows.

    Reads only the membership table and the versions' ids: an incremental pull needs
    the previous ids, and loading every record's JSON to learn them cost most of it.
    """
    get(conn, snapshot_id)  # raises the "no snapshot" error
    rv = record_versions
    q = (select(rv.c.record_id)
         .join(snapshot_records, snapshot_records.c.record_version_id == rv.c.id)
         .where(snapshot_records.c.snapshot_id == snapshot_id))
    found = list(conn.execute(q).scalars())
    return sorted(found, key=rec.record_order) if ordered else found


def manifest_of(conn: Connection, snapshot_id: int) -> tuple[list[str], dict[str, str]]:
    """(the snapshot's columns, record_id -> content hash), reading no record content."""
    columns = _columns(conn, snapshot_id)
    return columns, {record_id: digest for record_id, (_, digest)
                     in members(conn, snapshot_id).items()}


def _payloads(conn: Connection, snapshot_id: int,
              record_ids: Iterable[str] | None) -> list[Any]:
    """(record_id, payload) rows of the snapshot's records, in natural record-id order."""
    rv = record_versions
    q = (select(rv.c.record_id, rv.c.payload)
         .join(snapshot_records, snapshot_records.c.record_version_id == rv.c.id)
         .where(snapshot_records.c.snapshot_id == snapshot_id))
    if record_ids is not None:
        wanted = list(dict.fromkeys(record_ids))
        found: list[Any] = []
        for i in range(0, len(wanted), 500):
            found += conn.execute(q.where(rv.c.record_id.in_(wanted[i:i + 500]))).all()
    else:
        found = list(conn.execute(q).all())
    found.sort(key=lambda r: rec.record_order(r.record_id))
    return found


def records_of(conn: Connection, snapshot_id: int,
               record_ids: Iterable[str] | None = None) -> dict[str, list[dict[str, str]]]:
    """record_id -> full flat rows, in natural record-id order."""
    columns = _columns(conn, snapshot_id)
    return {r.record_id: rec.expand_rows(rec.load_rows(r.payload), columns)
            for r in _payloads(conn, snapshot_id, record_ids)}


def table_of(conn: Connection, snapshot_id: int, record_ids: Iterable[str] | None = None,
             counts: list[tuple[str, int]] | None = None
             ) -> tuple[list[str], list[tuple[str, ...]]]:
    """The rows of `rows_of` as (columns, tuples): no dict per row (`records.row_table`).

    `counts`, if given, receives (record_id, number of rows) per record, in row order.
    """
    columns = _columns(conn, snapshot_id)

    def records() -> Iterable[list[dict[str, str]]]:
        for r in _payloads(conn, snapshot_id, record_ids):
            rows = rec.load_rows(r.payload)
            if counts is not None:
                counts.append((r.record_id, len(rows)))
            yield rows

    return rec.row_table(records(), columns)


def rows_of(conn: Connection, snapshot_id: int,
            record_ids: Iterable[str] | None = None) -> list[dict[str, str]]:
    """All flat rows of a snapshot (or of some of its records), in export order."""
    return [row for rows in records_of(conn, snapshot_id, record_ids).values() for row in rows]


def metadata_of(conn: Connection, snapshot_id: int) -> list[dict[str, str]] | None:
    """The data dictionary the snapshot was pulled with (None if the pull gave none)."""
    get(conn, snapshot_id)
    payload = conn.execute(
        select(dictionaries.c.payload)
        .join(snapshots, snapshots.c.dictionary_id == dictionaries.c.id)
        .where(snapshots.c.id == snapshot_id)).scalar()
    return None if payload is None else json.loads(payload)


def diff(conn: Connection, old_id: int, new_id: int) -> SnapshotDiff:
    """Which records were added, changed or deleted from snapshot `old_id` to `new_id`."""
    get(conn, old_id)
    get(conn, new_id)
    old, new = members(conn, old_id), members(conn, new_id)
    key = rec.natural_key
    return SnapshotDiff(
        added=sorted((r for r in new if r not in old), key=key),
        changed=sorted((r for r in new if r in old and old[r][1] != new[r][1]), key=key),
        deleted=sorted((r for r in old if r not in new), key=key),
    )
