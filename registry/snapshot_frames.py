"""A snapshot's flat rows as one data frame of strings (the input tidy reads), cached.

Built from the store's row table (`Store.snapshot_table`: one tuple per row, in the
export's column order), not from a dict per row: at 100 times the study's size that
is ~130,000 rows of ~60 columns, and the dicts were most of the reading time.

`FrameCache` keeps, per site, the frame of the last snapshot read, with each record's
content hash (the store's SHA-256 of the record's rows), in the tool's state folder.
Reading a snapshot then costs in proportion to what changed since: the snapshot's
manifest (record ids and hashes, no content) is read; the same snapshot with the same
hashes is a hit and reads nothing more; a later snapshot of the site keeps the cached
rows of every record whose hash is unchanged and reads only the added and changed
records from the store (a night with 1 % churn reads 1 % of the records). Because
entries are checked against the store's hashes, a stale, foreign or reused-id entry can
never be taken for the snapshot: at worst it is not used.

Format: one `.npz` per site (named by a hash of the site name), read with
`allow_pickle=False` so loading runs no code: each column as integer codes into its
distinct values, the row -> record index, and a JSON header (format, site, snapshot
id, columns, record ids and hashes, distinct values). The folder is owner-only (0700),
files 0600, written by atomic rename. A missing, truncated, corrupt (zip CRC),
foreign-owned or group/world-accessible file is ignored and the store read instead:
the cache is never the source of truth, and deleting the folder is always safe.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.atomic import atomic_write_bytes
from registry.log import event, get_logger
from registry.store import Store
from registry.store.records import record_order

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from registry.settings import Settings

__all__ = ["FrameCache", "cache_folder", "snapshot_frame"]

_log = get_logger("frames")
_FORMAT = "registry-frame-cache/1"
#: Past this share of changed records, reading the whole snapshot is as cheap.
_REREAD_SHARE = 0.5


def snapshot_frame(store: Store, snapshot_id: int) -> pd.DataFrame:
    """Every flat row of the snapshot (object dtype, `""` for empty), in export order."""
    columns, rows = store.snapshot_table(snapshot_id)
    return _frame(columns, rows)


def _frame(columns: Sequence[str], rows: Sequence[tuple[str, ...]]) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if not rows:
        return pd.DataFrame(columns=list(columns), dtype=object)
    values = np.empty((len(rows), len(columns)), dtype=object)
    values[:] = rows
    return pd.DataFrame(values, columns=list(columns))


def cache_folder(settings: Settings) -> Path:
    """Where the frame cache lives: the tool's state folder (beside the run lock, like
    the PDF cache), `<state>/cache/frames`, whatever the store (SQLite or PostgreSQL)."""
    return settings.lock_file.parent / "cache" / "frames"


@dataclass
class _Entry:
    """One site's cached snapshot: the frame, and each column as codes into its distinct
    values (what is stored; an update encodes only the rows it adds)."""

    snapshot_id: int
    columns: list[str]          # the snapshot's columns (its frame's, when none was removed)
    hashes: dict[str, str]      # record_id -> content hash
    records: list[str]          # record ids in the store's order
    row_record: np.ndarray      # per row: index into `records`
    names: list[str]            # the frame's columns
    codes: np.ndarray           # rows x columns: codes into the column's `uniques`
    uniques: list[list[str]]

    @property
    def n_rows(self) -> int:
        return len(self.row_record)

    def frame(self) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        if not self.n_rows:
            return pd.DataFrame(columns=self.names, dtype=object)
        # every column's values end to end, each column's codes shifted to its own
        sizes = np.array([len(u) for u in self.uniques], dtype=np.int64)
        lookup = np.empty(int(sizes.sum()), dtype=object)
        lookup[:] = [v for uniques in self.uniques for v in uniques]
        offsets = np.cumsum(sizes) - sizes
        values = lookup[self.codes.astype(np.int64) + offsets]
        return pd.DataFrame(values, columns=self.names)


class FrameCache:
    """Per-site cache of snapshot frames in `folder` (None: no cache, always the store).

    `frame(store, site, snapshot_id)` gives what `snapshot_frame` gives. `stats` counts
    per call how it was served: `hit`, `updated` (with `records_read` from the store),
    `full` (no usable entry) or `uncached`.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.stats: dict[str, int] = {"hit": 0, "updated": 0, "full": 0, "uncached": 0,
                                      "records_read": 0}

    def frame(self, store: Store, site: str, snapshot_id: int) -> pd.DataFrame:
        if self.folder is None:
            self.stats["uncached"] += 1
            return snapshot_frame(store, snapshot_id)
        columns, hashes = store.snapshot_manifest(snapshot_id)
        entry = self._load(site)
        if entry is not None and entry.snapshot_id == snapshot_id \
                and entry.columns == columns and entry.hashes == hashes:
            self.stats["hit"] += 1
            return entry.frame()
        new = self._update(store, entry, snapshot_id, columns, hashes) if entry else None
        if new is None:
            self.stats["full"] += 1
            self.stats["records_read"] += len(hashes)
            cols, rows, counts = store.snapshot_record_table(snapshot_id)
            frame = _frame(cols, rows)
            new = _encode(snapshot_id, columns, hashes, frame, counts)
        else:
            self.stats["updated"] += 1
            frame = new.frame()
        if entry is None or snapshot_id >= entry.snapshot_id:
            self._save(site, new)
        return frame

    # -- building ------------------------------------------------------------------------
    def _update(self, store: Store, old: _Entry, snapshot_id: int, columns: list[str],
                hashes: dict[str, str]) -> _Entry | None:
        """The snapshot from `old`'s unchanged records and the store's changed ones; None
        when that is not possible or not worth it (new columns, most records changed)."""
        import numpy as np

        if old.columns != columns or old.names != columns:
            return None
        read = [r for r, h in hashes.items() if old.hashes.get(r) != h]
        if len(read) > _REREAD_SHARE * max(len(hashes), 1):
            return None
        cols, rows, counts = store.snapshot_record_table(snapshot_id, read) if read \
            else (columns, [], [])
        if cols != columns:  # a changed record holds a column the snapshot does not list
            return None
        self.stats["records_read"] += len(read)
        keep_record = np.fromiter((old.hashes.get(r) == hashes.get(r) for r in old.records),
                                  dtype=bool, count=len(old.records))
        rows_kept = keep_record[old.row_record]
        n_kept = int(keep_record.sum())
        records = [r for r, k in zip(old.records, keep_record, strict=True) if k] \
            + [r for r, _ in counts]
        renumber = np.full(len(old.records), -1, dtype=np.int64)
        renumber[keep_record] = np.arange(n_kept)
        row_record = np.concatenate([
            renumber[old.row_record[rows_kept]],
            np.repeat(np.arange(len(counts), dtype=np.int64) + n_kept,
                      np.array([n for _, n in counts], dtype=np.int64))])
        # records in the store's order (both parts already are: merge them); a record's
        # rows stay together and in order
        kept_ids, fresh_ids = records[:n_kept], records[n_kept:]
        at = np.array([bisect.bisect_left(kept_ids, record_order(r), key=record_order)
                       for r in fresh_ids], dtype=np.int64)
        rank = np.concatenate([np.arange(n_kept) + np.searchsorted(at, np.arange(n_kept),
                                                                   side="right"),
                               at + np.arange(len(fresh_ids))])
        merged: list[str] = [""] * len(records)
        for r, k in zip(records, rank.tolist(), strict=True):
            merged[k] = r
        order = np.argsort(rank[row_record], kind="stable")
        uniques = [list(values) for values in old.uniques]
        fresh = np.empty((len(rows), len(columns)), dtype=np.int64)
        for i, values in enumerate(uniques):
            if rows:
                code_of = {v: k for k, v in enumerate(values)}
                fresh[:, i] = [code_of.setdefault(row[i], len(code_of)) for row in rows]
                values.extend(list(code_of)[len(values):])
        codes = np.concatenate([old.codes[rows_kept].astype(np.int64), fresh])[order]
        return _Entry(snapshot_id, columns, hashes, merged, rank[row_record[order]],
                      list(columns), codes.astype(_codes_dtype(max(map(len, uniques),
                                                                   default=0))), uniques)

    # -- files ---------------------------------------------------------------------------
    def _path(self, site: str) -> Path:
        assert self.folder is not None
        name = hashlib.sha256(site.encode("utf-8")).hexdigest()[:24]
        return self.folder / f"site-{name}.npz"

    def _load(self, site: str) -> _Entry | None:
        path = self._path(site)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            event(_log, "frames.cache_unreadable", logging.WARNING, site=site, why=str(exc))
            return None
        if st.st_uid != os.getuid() or st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            event(_log, "frames.cache_ignored", logging.WARNING, site=site,
                  why="not owner-only")
            return None
        try:
            return _read_entry(path, site)
        except Exception as exc:  # corrupt in any way: the store is the truth
            event(_log, "frames.cache_unreadable", logging.WARNING, site=site,
                  why=f"{type(exc).__name__}: {exc}"[:200])
            return None

    def _save(self, site: str, entry: _Entry) -> None:
        assert self.folder is not None
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.folder, 0o700)
            atomic_write_bytes(self._path(site), _entry_bytes(site, entry), mode=0o600)
        except OSError as exc:  # a full disk costs speed, never the run
            event(_log, "frames.cache_not_written", logging.WARNING, site=site, why=str(exc))


def _codes_dtype(n: int) -> str:
    return "uint8" if n <= 0xFF else "uint16" if n <= 0xFFFF else "int32"


def _encode(snapshot_id: int, columns: list[str], hashes: dict[str, str],
            frame: pd.DataFrame, counts: list[tuple[str, int]]) -> _Entry:
    import numpy as np

    row_record = np.repeat(np.arange(len(counts), dtype=np.int64),
                           np.array([n for _, n in counts], dtype=np.int64))
    codes, uniques = _factorize_columns(frame.to_numpy(dtype=object))
    return _Entry(snapshot_id, columns, hashes, [r for r, _ in counts], row_record,
                  [str(c) for c in frame.columns],
                  codes.astype(_codes_dtype(max(map(len, uniques), default=0))), uniques)


def _factorize_columns(values: np.ndarray) -> tuple[np.ndarray, list[list[str]]]:
    """Each column of `values` (rows x columns, objects) as codes into its distinct
    values, in the order they first appear down the column: what `pd.factorize` gives
    column by column, in two calls for the whole table (a 5,184-field project would
    otherwise pay a factorize's overhead 5,184 times).

    The cells are factorized once in column-major order, then (column, value) pairs:
    a column's pairs first appear together, so its codes are its pairs' codes less the
    code of its first row's pair."""
    import numpy as np
    import pandas as pd

    n_rows, n_cols = values.shape
    if not n_rows or not n_cols:
        return np.empty(values.shape, dtype=np.int64), [[] for _ in range(n_cols)]
    cell, distinct = pd.factorize(values.ravel(order="F"), use_na_sentinel=False)
    column = np.repeat(np.arange(n_cols, dtype=np.int64), n_rows)
    pair, pairs = pd.factorize(column * len(distinct) + cell, use_na_sentinel=False)
    codes = pair.reshape((n_cols, n_rows)).T
    first = codes[0]
    ends = np.append(first[1:], len(pairs))
    texts = [str(v) for v in distinct]
    of_pair = (pairs % len(distinct)).tolist()
    uniques = [[texts[v] for v in of_pair[a:b]] for a, b in zip(first.tolist(), ends.tolist(),
                                                                  strict=True)]
    return codes - first, uniques


def _entry_bytes(site: str, entry: _Entry) -> bytes:
    import numpy as np

    header = {"format": _FORMAT, "site": site, "snapshot_id": entry.snapshot_id,
              "columns": entry.columns, "names": entry.names, "records": entry.records,
              "hashes": [entry.hashes[r] for r in entry.records], "rows": entry.n_rows,
              "uniques": entry.uniques}
    arrays: dict[str, Any] = {"codes": entry.codes}
    arrays["header"] = np.frombuffer(json.dumps(header).encode("ascii"), dtype=np.uint8)
    arrays["row_record"] = entry.row_record.astype(_codes_dtype(max(len(entry.records), 1)))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _read_entry(path: Path, site: str) -> _Entry | None:
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        header = json.loads(data["header"].tobytes().decode("ascii"))
        if header.get("format") != _FORMAT or header.get("site") != site:
            return None
        n, names, uniques = int(header["rows"]), list(header["names"]), header["uniques"]
        codes = data["codes"]
        row_record = data["row_record"].astype(np.int64)
    records = list(header["records"])
    if len(uniques) != len(names) or len(row_record) != n \
            or (n and int(row_record.max()) >= len(records)):
        raise ValueError("rows, columns and records disagree")
    if codes.shape != (n, len(names)) or (n and len(names) and bool(
            (codes.max(axis=0) >= np.array([len(u) for u in uniques])).any())):
        raise ValueError("the codes disagree with the columns' values")
    return _Entry(int(header["snapshot_id"]), list(header["columns"]),
                  dict(zip(records, header["hashes"], strict=True)), records, row_record,
                  names, codes, [list(u) for u in uniques])
