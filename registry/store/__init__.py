"""The registry store: immutable snapshots, runs, flags, rule results and analysis results.

One `Store` object is the only door to the database (SQLite file by default, PostgreSQL
by URL). `Store.open(url)` upgrades the schema to the newest migration, so a store made
by an older version opens after an upgrade. Every write method is one transaction;
`snapshot_writer` holds one transaction across a whole pull, so a snapshot appears all at
once or not at all. Expected failures raise `StoreError` (one line, no password).

    with Store.open(settings.store.url) as store:
        info = store.write_snapshot("paris", records, metadata=dictionary)
        rows = store.snapshot_rows(info.id)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine

from registry.errors import StoreError
from registry.store import deliveries as _deliveries
from registry.store import drw as _drw
from registry.store import flags as _flags
from registry.store import overview as _overview
from registry.store import reader as _reader
from registry.store import results as _results
from registry.store import runs as _runs
from registry.store.deliveries import DeliveryInfo
from registry.store.engine import describe_url, make_engine, store_errors, write_transaction
from registry.store.migrate import HEAD, upgrade
from registry.store.overview import SiteStatus, StoreStatus
from registry.store.records import Rows
from registry.store.runs import RunInfo, RunSnapshot, StageInfo
from registry.store.snapshots import SnapshotDiff, SnapshotInfo, SnapshotKind, SnapshotWriter

__all__ = [
    "HEAD",
    "DeliveryInfo",
    "RunInfo",
    "RunSnapshot",
    "SiteStatus",
    "SnapshotDiff",
    "SnapshotInfo",
    "SnapshotWriter",
    "StageInfo",
    "Store",
    "StoreError",
    "StoreStatus",
]


class Store:
    """The registry store. Open with `Store.open(url)`; close (or use `with`) when done."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to the store at `url` and upgrade its schema to the newest revision."""
        engine = make_engine(url)
        try:
            if migrate:
                upgrade(engine)
            else:
                with store_errors(engine, "connect"), engine.connect():
                    pass
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def url(self) -> str:
        """The store URL with its password hidden."""
        return describe_url(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @contextlib.contextmanager
    def _read(self, doing: str) -> Iterator[Connection]:
        with store_errors(self.engine, doing), self.engine.connect() as conn:
            yield conn

    # -- snapshots: writing --------------------------------------------------------------
    def snapshot_writer(self, site: str, kind: SnapshotKind = "full", *,
                        metadata: Sequence[Mapping[str, Any]] | None = None,
                        project_info: Any = None, base_snapshot_id: int | None = None,
                        columns: Sequence[str] | None = None, details: Any = None,
                        dictionary_changes: Any = None,
                        created_at: datetime | None = None) -> SnapshotWriter:
        """A writer for one snapshot, to fill batch by batch inside `with`.

        `kind="full"`: the snapshot holds exactly the records `put`. `"incremental"`: the
        base snapshot (default: the site's latest) with the records `put` replaced or
        added and those `delete`d removed. Counts compare with the base (default latest).
        """
        return SnapshotWriter(self.engine, site, kind, metadata=metadata,
                              project_info=project_info, base_snapshot_id=base_snapshot_id,
                              columns=columns, details=details,
                              dictionary_changes=dictionary_changes, created_at=created_at)

    def write_snapshot(self, site: str, records: Mapping[str, Rows], *,
                       metadata: Sequence[Mapping[str, Any]] | None = None,
                       project_info: Any = None, details: Any = None,
                       dictionary_changes: Any = None, columns: Sequence[str] | None = None,
                       created_at: datetime | None = None) -> SnapshotInfo:
        """Write a full snapshot of `site`: record_id -> flat export rows, in one go."""
        with self.snapshot_writer(site, "full", metadata=metadata, project_info=project_info,
                                  details=details, dictionary_changes=dictionary_changes,
                                  columns=columns, created_at=created_at) as w:
            w.put_many(records)
        return w.info  # type: ignore[return-value]

    def write_incremental(self, site: str, base_snapshot_id: int,
                          changed: Mapping[str, Rows], deleted: Iterable[str] = (), *,
                          metadata: Sequence[Mapping[str, Any]] | None = None,
                          project_info: Any = None, details: Any = None,
                          dictionary_changes: Any = None, columns: Sequence[str] | None = None,
                          created_at: datetime | None = None) -> SnapshotInfo:
        """Write the snapshot `base` + `changed` records - `deleted` ids, in one go."""
        with self.snapshot_writer(site, "incremental", metadata=metadata,
                                  project_info=project_info, base_snapshot_id=base_snapshot_id,
                                  details=details, dictionary_changes=dictionary_changes,
                                  columns=columns, created_at=created_at) as w:
            w.put_many(changed)
            w.delete(deleted)
        return w.info  # type: ignore[return-value]

    # -- snapshots: reading --------------------------------------------------------------
    def latest_snapshot(self, site: str) -> SnapshotInfo | None:
        with self._read("read snapshots") as c:
            return _reader.latest(c, site)

    def snapshot(self, snapshot_id: int) -> SnapshotInfo:
        with self._read("read snapshots") as c:
            return _reader.get(c, snapshot_id)

    def snapshots(self, site: str | None = None, limit: int | None = None) -> list[SnapshotInfo]:
        """Snapshot history, newest first."""
        with self._read("read snapshots") as c:
            return _reader.history(c, site, limit)

    def sites(self) -> list[str]:
        """Sites that have at least one snapshot."""
        with self._read("read snapshots") as c:
            return _reader.sites(c)

    def snapshot_records(self, snapshot_id: int, record_ids: Iterable[str] | None = None
                         ) -> dict[str, list[dict[str, str]]]:
        """record_id -> full flat rows (every column, `""` where empty), natural id order."""
        with self._read("read a snapshot") as c:
            return _reader.records_of(c, snapshot_id, record_ids)

    def snapshot_record_ids(self, snapshot_id: int, *, ordered: bool = True) -> list[str]:
        """The snapshot's record ids in natural id order (any order with `ordered=False`,
        for a caller that makes a set of them); reads no record content."""
        with self._read("read a snapshot's record ids") as c:
            return _reader.record_ids_of(c, snapshot_id, ordered=ordered)

    def snapshot_rows(self, snapshot_id: int, record_ids: Iterable[str] | None = None
                      ) -> list[dict[str, str]]:
        """All flat rows of a snapshot, as the REDCap flat export gives them."""
        with self._read("read a snapshot") as c:
            return _reader.rows_of(c, snapshot_id, record_ids)

    def snapshot_table(self, snapshot_id: int, record_ids: Iterable[str] | None = None
                       ) -> tuple[list[str], list[tuple[str, ...]]]:
        """The rows of `snapshot_rows` as (columns, one tuple per row): what a data frame
        is built from, without a dict per row."""
        with self._read("read a snapshot") as c:
            return _reader.table_of(c, snapshot_id, record_ids)

    def snapshot_record_table(self, snapshot_id: int, record_ids: Iterable[str] | None = None
                              ) -> tuple[list[str], list[tuple[str, ...]], list[tuple[str, int]]]:
        """`snapshot_table` and which record each row belongs to: (record_id, row count)
        per record, in row order (the frame cache keeps rows by record)."""
        counts: list[tuple[str, int]] = []
        with self._read("read a snapshot") as c:
            columns, rows = _reader.table_of(c, snapshot_id, record_ids, counts)
        return columns, rows, counts

    def snapshot_manifest(self, snapshot_id: int) -> tuple[list[str], dict[str, str]]:
        """(columns, record_id -> content hash) of a snapshot, without reading its records."""
        with self._read("read a snapshot") as c:
            return _reader.manifest_of(c, snapshot_id)

    def snapshot_metadata(self, snapshot_id: int) -> list[dict[str, str]] | None:
        """The data dictionary (REDCap metadata rows) the snapshot was pulled with."""
        with self._read("read a snapshot") as c:
            return _reader.metadata_of(c, snapshot_id)

    def snapshot_diff(self, old_id: int, new_id: int) -> SnapshotDiff:
        """Record ids added, changed, deleted between two snapshots of a site."""
        with self._read("compare snapshots") as c:
            return _reader.diff(c, old_id, new_id)

    # -- runs ----------------------------------------------------------------------------
    def start_run(self, kind: str = "nightly", started_at: datetime | None = None) -> str:
        """Record a new run (status `running`); return its id, e.g. `20261125-021500-ab12`."""
        with write_transaction(self.engine, "start a run") as c:
            return _runs.start(c, kind, started_at)

    def stage(self, run_id: str, stage: str, site: str | None, status: str, *,
              started: datetime | None = None, ended: datetime | None = None,
              counts: Any = None, message: str | None = None) -> None:
        """Record (or replace) a stage's outcome for a site (None: the stage as a whole)."""
        with write_transaction(self.engine, "record a stage") as c:
            _runs.record_stage(c, run_id, stage, site, status, started, ended, counts, message)

    def use_snapshot(self, run_id: str, site: str, snapshot_id: int, fresh: bool) -> None:
        """Record that the run used `snapshot_id` for `site` (fresh: pulled by this run)."""
        with write_transaction(self.engine, "record a run's snapshot") as c:
            _runs.set_snapshot(c, run_id, site, snapshot_id, fresh)

    def finish_run(self, run_id: str, status: str, exit_code: int | None,
                   message: str | None = None) -> None:
        """Close a run: `succeeded`, `partial` or `failed`, with its exit code."""
        with write_transaction(self.engine, "finish a run") as c:
            _runs.finish(c, run_id, status, exit_code, message)

    def abandon_running_runs(self) -> list[str]:
        """Mark runs left `running` by a killed process as `abandoned`; return their ids."""
        with write_transaction(self.engine, "mark abandoned runs") as c:
            return _runs.abandon_running(c)

    def run(self, run_id: str) -> RunInfo:
        with self._read("read runs") as c:
            return _runs.get(c, run_id)

    def runs(self, limit: int | None = 20, kind: str | None = None,
             status: str | None = None) -> list[RunInfo]:
        """Runs, newest first."""
        with self._read("read runs") as c:
            return _runs.list_runs(c, limit, kind, status)

    def status(self, sites: Sequence[str] | None = None, run_limit: int = 10) -> StoreStatus:
        """Per site: newest snapshot and pull attempt; plus the last runs (`registry status`)."""
        with self._read("read the store's status") as c:
            return _overview.gather(c, sites, run_limit)

    # -- flags and rule results ----------------------------------------------------------
    def save_flags(self, run_id: str, site: str, snapshot_id: int | None,
                   flags: Sequence[Mapping[str, Any]]) -> int:
        """Keep a run's flags for a site as given (statuses computed by the quality stage)."""
        with write_transaction(self.engine, "save flags") as c:
            return _flags.save_flags(c, run_id, site, snapshot_id, flags)

    def flags(self, run_id: str | None = None, site: str | None = None,
              status: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Flags of a run, or (run_id None) each site's newest saved set."""
        with self._read("read flags") as c:
            return _flags.list_flags(c, run_id, site, status)

    def flag_sites(self, run_id: str) -> list[str]:
        """Sites whose flags run `run_id` saved (the sites it validated)."""
        with self._read("read flags") as c:
            return _flags.flag_sites(c, run_id)

    def open_flag_counts(self, site: str, run_ids: Sequence[str]
                         ) -> dict[str, tuple[int, int]]:
        """(blocking, warning) open flags of `site` per run of `run_ids`, counted by the
        database (`registry.store.flags.open_flag_counts`)."""
        with self._read("read flags") as c:
            return _flags.open_flag_counts(c, site, run_ids)

    def flag_history(self, site: str, since: datetime, until: datetime
                     ) -> list[dict[str, Any]]:
        """`site`'s flags fixed (the night they were) or back again, in runs started
        from `since` to `until` (`registry.store.flags.flag_history`)."""
        with self._read("read flags") as c:
            return _flags.flag_history(c, site, since, until)

    def previous_flags(self, site: str, before_run_id: str | None = None
                       ) -> list[dict[str, Any]]:
        """The last flag set saved for `site` before run `before_run_id` ([] if none)."""
        with self._read("read flags") as c:
            return _flags.previous_flags(c, site, before_run_id)

    # -- the DRW sync (registry.drw) -------------------------------------------------
    def drw_links(self, site: str) -> list[dict[str, Any]]:
        """The flag <-> DRW query links of `site` (`registry.store.drw`)."""
        with self._read("read DRW links") as c:
            return _drw.list_links(c, site)

    def apply_drw(self, run_id: str, site: str,
                  statuses: Sequence[tuple[Mapping[str, Any], str]],
                  links: Sequence[Mapping[str, Any]],
                  queries: Sequence[tuple[Mapping[str, Any], str]] = ()) -> None:
        """One site's sync, in one transaction: statuses of run `run_id`'s flags changed
        (`accepted`), each linked flag's query state noted (`drw_query` in its details),
        links saved."""
        with write_transaction(self.engine, "save the DRW sync") as c:
            _drw.set_flag_statuses(c, run_id, site, statuses, queries)
            _drw.save_links(c, site, links, run_id)

    def save_rule_results(self, run_id: str, site: str,
                          rows: Sequence[Mapping[str, Any]]) -> int:
        """Keep a run's per-rule results for a site (replacing any saved before)."""
        with write_transaction(self.engine, "save rule results") as c:
            return _flags.save_rule_results(c, run_id, site, rows)

    def rule_results(self, site: str | None = None, since: datetime | None = None,
                     run_id: str | None = None) -> list[dict[str, Any]]:
        """Per-rule results over runs, oldest first (for trend charts)."""
        with self._read("read rule results") as c:
            return _flags.list_rule_results(c, site, since, run_id)

    # -- analysis results ----------------------------------------------------------------
    def save_result(self, run_id: str, study: str, kind: str, payload: Any) -> None:
        """Keep an analysis result (opaque JSON); the same run/study/kind replaces it."""
        with write_transaction(self.engine, "save an analysis result") as c:
            _results.save(c, run_id, study, kind, payload)

    def results(self, run_id: str, study: str) -> dict[str, Any]:
        """kind -> payload of a run's study."""
        with self._read("read analysis results") as c:
            return _results.get_all(c, run_id, study)

    def result(self, run_id: str, study: str, kind: str) -> Any:
        """One saved payload, or None."""
        with self._read("read analysis results") as c:
            return _results.get_one(c, run_id, study, kind)

    def result_studies(self, run_id: str) -> list[str]:
        with self._read("read analysis results") as c:
            return _results.studies(c, run_id)

    # -- deliveries ----------------------------------------------------------------------
    def record_deliveries(self, rows: Sequence[DeliveryInfo]) -> None:
        """Keep what was sent (or not) to each recipient of a run's messages."""
        with write_transaction(self.engine, "record deliveries") as c:
            _deliveries.record(c, rows)

    def deliveries(self, run_id: str) -> list[DeliveryInfo]:
        """Each recipient's newest outcome per message of run `run_id`."""
        with self._read("read deliveries") as c:
            return _deliveries.latest(c, run_id)
