"""Immutable snapshots of one site's records, written all at once or not at all.

A `SnapshotWriter` collects a pull's records (already reduced to hash + compact JSON)
while the pull talks to REDCap, and writes them at the end of its block in one short
transaction: the snapshot row, new record versions and the snapshot's membership become
visible together at commit, and any error (or a killed process) leaves no trace and the
previous snapshot untouched. The transaction never spans network time, so other writers
(the run's own stage records, another command) are not held up by a slow REDCap.
Records whose content hash matches a version the site already has reuse it, so an
unchanged record costs one membership row per night and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, overload

from sqlalchemy import Connection, Engine, Integer, delete, func, insert, literal, select

from registry.errors import StoreError
from registry.store import records as rec
from registry.store.engine import store_errors, write_transaction
from registry.store.schema import dictionaries, record_versions, snapshot_records, snapshots

__all__ = [
    "SnapshotDiff",
    "SnapshotInfo",
    "SnapshotKind",
    "SnapshotWriter",
    "as_utc",
]

SnapshotKind = Literal["full", "incremental"]
_BATCH = 500


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """An aware UTC datetime (SQLite hands back naive ones, stored as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class SnapshotInfo:
    """One committed snapshot: which site, when, what kind of pull, and what changed.

    `base_snapshot_id` is the snapshot it was compared with (for an incremental one, the
    snapshot it was built on); the `n_*` counts are relative to it.
    """

    id: int
    site: str
    kind: str
    created_at: datetime
    status: str
    base_snapshot_id: int | None
    n_records: int
    n_added: int
    n_changed: int
    n_deleted: int
    project_info: Any = None
    dictionary_changes: Any = None
    details: Any = None


@dataclass(frozen=True)
class SnapshotDiff:
    """Record ids added, changed and deleted from one snapshot to another (natural order)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def snapshot_info(row: Any) -> SnapshotInfo:
    return SnapshotInfo(
        id=row.id, site=row.site, kind=row.kind, created_at=as_utc(row.created_at),
        status=row.status, base_snapshot_id=row.base_snapshot_id, n_records=row.n_records,
        n_added=row.n_added, n_changed=row.n_changed, n_deleted=row.n_deleted,
        project_info=row.project_info, dictionary_changes=row.dictionary_changes,
        details=row.details,
    )


def latest_id(conn: Connection, site: str) -> int | None:
    return conn.execute(select(snapshots.c.id).where(snapshots.c.site == site)
                        .order_by(snapshots.c.id.desc()).limit(1)).scalar()


def members(conn: Connection, snapshot_id: int) -> dict[str, tuple[int, str]]:
    """record_id -> (record_version_id, hash) of a snapshot."""
    rv = record_versions
    q = (select(rv.c.record_id, rv.c.id, rv.c.hash)
         .join(snapshot_records, snapshot_records.c.record_version_id == rv.c.id)
         .where(snapshot_records.c.snapshot_id == snapshot_id))
    return {r.record_id: (r.id, r.hash) for r in conn.execute(q)}


def members_of(conn: Connection, snapshot_id: int, record_ids: Iterable[str]
               ) -> dict[str, tuple[int, str]]:
    """`members`, only for `record_ids` (those of them in the snapshot)."""
    rv = record_versions
    wanted = list(dict.fromkeys(record_ids))
    if len(wanted) > 4 * _BATCH:  # many: one pass over the whole membership is cheaper
        keep = set(wanted)
        return {k: v for k, v in members(conn, snapshot_id).items() if k in keep}
    out: dict[str, tuple[int, str]] = {}
    for i in range(0, len(wanted), _BATCH):
        q = (select(rv.c.record_id, rv.c.id, rv.c.hash)
             .join(snapshot_records, snapshot_records.c.record_version_id == rv.c.id)
             .where(snapshot_records.c.snapshot_id == snapshot_id,
                    rv.c.record_id.in_(wanted[i:i + _BATCH])))
        out.update({r.record_id: (r.id, r.hash) for r in conn.execute(q)})
    return out


class SnapshotWriter:
    """Collects one snapshot of one site and commits it at the end of its `with` block.

    Full: the snapshot holds exactly the records `put`. Incremental: it holds the base
    snapshot's records, with those `put` replaced or added and those `delete`d removed.
    The base (default: the site's latest snapshot) is fixed when the block starts. Set
    `details` / `dictionary_changes` any time before the block ends. After a clean exit,
    `info` is the committed snapshot; after an exception nothing was written.
    """

    def __init__(self, engine: Engine, site: str, kind: SnapshotKind, *,
                 metadata: Sequence[Mapping[str, Any]] | None = None,
                 project_info: Any = None, base_snapshot_id: int | None = None,
                 columns: Sequence[str] | None = None, details: Any = None,
                 dictionary_changes: Any = None, created_at: datetime | None = None) -> None:
        if kind not in ("full", "incremental"):
            raise StoreError(f"snapshot kind should be 'full' or 'incremental', got {kind!r}")
        if not isinstance(site, str) or not site:
            raise StoreError("a snapshot needs a site name")
        self._engine, self.site, self.kind = engine, site, kind
        self._metadata = None if metadata is None else [dict(m) for m in metadata]
        self._project_info, self._base_arg = project_info, base_snapshot_id
        self._columns = list(columns) if columns is not None else None
        self.details: Any = details if details is not None else {}
        self.dictionary_changes: Any = dictionary_changes
        self._created = as_utc(created_at) or datetime.now(UTC)
        self._records: dict[str, tuple[str, str]] = {}   # record_id -> (hash, payload)
        self._deleted: set[str] = set()
        self._seen_columns: dict[str, None] = {}
        self._base_id: int | None = None
        self._open = False
        self.info: SnapshotInfo | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> SnapshotWriter:
        with store_errors(self._engine, f"read the snapshots of site '{self.site}'"), \
                self._engine.connect() as conn:
            self._base_id = self._resolve_base(conn)
        self._open = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._open = False
        try:
            if exc_type is None:
                with write_transaction(self._engine,
                                       f"write a snapshot of site '{self.site}'") as conn:
                    self.info = self._commit(conn)
        finally:
            self._records.clear()

    def _resolve_base(self, conn: Connection) -> int | None:
        base_id = self._base_arg if self._base_arg is not None else latest_id(conn, self.site)
        if base_id is None:
            if self.kind == "incremental":
                raise StoreError(f"site '{self.site}' has no snapshot to build an incremental "
                                 "one on; pull it in full first")
            return None
        site = conn.execute(select(snapshots.c.site).where(snapshots.c.id == base_id)).scalar()
        if site != self.site:
            raise StoreError(f"base snapshot {base_id} is not a snapshot of site '{self.site}'")
        return base_id

    # -- collecting ----------------------------------------------------------------------
    def put(self, record_id: str, rows: rec.Rows) -> None:
        """Add (or replace) one record: its flat export rows."""
        if not self._open:
            raise StoreError("SnapshotWriter.put called outside its `with` block")
        if not isinstance(record_id, str) or not record_id:
            raise StoreError(f"record id should be a non-empty string, got {record_id!r}")
        rec.note_columns(self._seen_columns, rows)
        self._records[record_id] = rec.encode(rec.sparse_rows(rows))
        self._deleted.discard(record_id)

    def put_many(self, records: Mapping[str, rec.Rows]) -> None:
        """Add (or replace) many records: record_id -> flat export rows."""
        for record_id, rows in records.items():
            self.put(record_id, rows)

    def put_encoded(self, records: rec.RecordBuffer) -> None:
        """Add (or replace) records already reduced to hash + payload (a pull's)."""
        if not self._open:
            raise StoreError("SnapshotWriter.put_encoded called outside its `with` block")
        for k in records.columns:
            self._seen_columns.setdefault(k, None)
        for record_id, encoded in records.items():
            if not isinstance(record_id, str) or not record_id:
                raise StoreError(f"record id should be a non-empty string, got {record_id!r}")
            self._records[record_id] = encoded
            self._deleted.discard(record_id)

    def delete(self, record_ids: Iterable[str]) -> None:
        """Incremental only: drop these records (deleted in REDCap) from the new snapshot."""
        if self.kind != "incremental":
            raise StoreError("delete() is for incremental snapshots; a full one holds "
                             "exactly the records put")
        for record_id in record_ids:
            self._records.pop(record_id, None)
            self._deleted.add(record_id)

    # -- committing ----------------------------------------------------------------------
    def _dictionary_id(self, conn: Connection) -> int:
        text = json.dumps(self._metadata, separators=(",", ":"), ensure_ascii=False)
        digest = rec.content_hash(self._metadata)
        found = conn.execute(select(dictionaries.c.id)
                             .where(dictionaries.c.hash == digest)).scalar()
        if found is not None:
            return int(found)
        return int(conn.execute(insert(dictionaries).values(
            hash=digest, payload=text, first_seen=self._created,
        ).returning(dictionaries.c.id)).scalar_one())

    def _version_ids(self, conn: Connection, base: dict[str, tuple[int, str]]
                     ) -> dict[str, int]:
        """record_id -> record_version_id for every record put, inserting new contents."""
        ids = {rid: base[rid][0] for rid, (digest, _) in self._records.items()
               if rid in base and base[rid][1] == digest}
        unknown = [(rid, hp) for rid, hp in self._records.items() if rid not in ids]
        if not unknown:
            return ids
        rv = record_versions
        has_versions = conn.execute(select(rv.c.id).where(rv.c.site == self.site).limit(1)
                                    ).first() is not None
        for i in range(0, len(unknown), _BATCH):
            chunk = unknown[i:i + _BATCH]
            found: dict[tuple[str, str], int] = {}
            if has_versions:  # a first import has nothing to find: skip the lookup
                found = {(r.record_id, r.hash): r.id for r in conn.execute(
                    select(rv.c.id, rv.c.record_id, rv.c.hash)
                    .where(rv.c.site == self.site, rv.c.hash.in_({h for _, (h, _) in chunk})))}
            new = [{"site": self.site, "record_id": rid, "hash": digest, "payload": payload,
                    "first_seen": self._created}
                   for rid, (digest, payload) in chunk if (rid, digest) not in found]
            if new:
                result = conn.execute(insert(rv).returning(
                    rv.c.id, rv.c.record_id, rv.c.hash, sort_by_parameter_order=True), new)
                found.update({(r.record_id, r.hash): r.id for r in result})
            ids.update({rid: found[(rid, digest)] for rid, (digest, _) in chunk})
        return ids

    def _commit(self, conn: Connection) -> SnapshotInfo:
        base_id = self._base_id
        if base_id is not None and self.kind == "incremental":
            return self._commit_incremental(conn, base_id)
        base: dict[str, tuple[int, str]] = {}
        base_columns: list[str] = []
        if base_id is not None:
            base = members(conn, base_id)
            base_columns = self._base_columns(conn, base_id)
        final = self._version_ids(conn, base)
        added = sum(1 for rid in final if rid not in base)
        changed = sum(1 for rid, v in final.items() if rid in base and base[rid][0] != v)
        deleted = sum(1 for rid in base if rid not in final)
        snapshot_id = self._insert_snapshot(conn, base_columns, len(final), added, changed,
                                            deleted)
        rows = [{"snapshot_id": snapshot_id, "record_version_id": vid} for vid in final.values()]
        for i in range(0, len(rows), 5000):
            conn.execute(insert(snapshot_records), rows[i:i + 5000])
        return self._info(snapshot_id, len(final), added, changed, deleted)

    def _commit_incremental(self, conn: Connection, base_id: int) -> SnapshotInfo:
        """The base's membership copied inside the database, then only the records put
        or deleted changed: a night that edits 1 % of the records handles 1 % of them in
        Python, not all of them."""
        touched = [*self._records, *self._deleted]
        base = members_of(conn, base_id, touched)
        put = self._version_ids(conn, base)
        n_base = conn.execute(select(func.count()).select_from(snapshot_records)
                              .where(snapshot_records.c.snapshot_id == base_id)).scalar_one()
        added = sum(1 for rid in put if rid not in base)
        changed = sum(1 for rid, v in put.items() if rid in base and base[rid][0] != v)
        gone = [rid for rid in self._deleted if rid in base]
        n_final = n_base + added - len(gone)
        snapshot_id = self._insert_snapshot(conn, self._base_columns(conn, base_id), n_final,
                                            added, changed, len(gone))
        sr = snapshot_records
        conn.execute(insert(sr).from_select(
            ["snapshot_id", "record_version_id"],
            select(literal(snapshot_id, Integer), sr.c.record_version_id)
            .where(sr.c.snapshot_id == base_id)))
        drop = [base[rid][0] for rid in gone]
        drop += [base[rid][0] for rid, v in put.items() if rid in base and base[rid][0] != v]
        for i in range(0, len(drop), _BATCH):
            conn.execute(delete(sr).where(sr.c.snapshot_id == snapshot_id,
                                          sr.c.record_version_id.in_(drop[i:i + _BATCH])))
        rows = [{"snapshot_id": snapshot_id, "record_version_id": v} for rid, v in put.items()
                if rid not in base or base[rid][0] != v]
        for i in range(0, len(rows), 5000):
            conn.execute(insert(sr), rows[i:i + 5000])
        return self._info(snapshot_id, n_final, added, changed, len(gone))

    def _base_columns(self, conn: Connection, base_id: int) -> list[str]:
        return list(conn.execute(select(snapshots.c.columns)
                                 .where(snapshots.c.id == base_id)).scalar() or [])

    def _insert_snapshot(self, conn: Connection, base_columns: list[str], n_records: int,
                         added: int, changed: int, deleted: int) -> int:
        if self._columns is not None:
            columns = self._columns
        else:
            columns = list(self._seen_columns)
            columns += [c for c in base_columns if c not in self._seen_columns]
        dictionary_id = self._dictionary_id(conn) if self._metadata is not None else None
        return int(conn.execute(insert(snapshots).values(
            site=self.site, kind=self.kind, created_at=self._created, status="complete",
            base_snapshot_id=self._base_id, n_records=n_records, n_added=added,
            n_changed=changed, n_deleted=deleted, dictionary_id=dictionary_id,
            columns=columns, project_info=self._project_info,
            dictionary_changes=self.dictionary_changes, details=self.details,
        ).returning(snapshots.c.id)).scalar_one())

    def _info(self, snapshot_id: int, n_records: int, added: int, changed: int,
              deleted: int) -> SnapshotInfo:
        return SnapshotInfo(
            id=snapshot_id, site=self.site, kind=self.kind, created_at=self._created,
            status="complete", base_snapshot_id=self._base_id, n_records=n_records,
            n_added=added, n_changed=changed, n_deleted=deleted,
            project_info=self._project_info, dictionary_changes=self.dictionary_changes,
            details=self.details)
