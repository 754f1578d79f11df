"""How a record's flat REDCap rows are kept: compact, hashed, and put back in order.

A record is the list of its flat export rows (dicts of strings; `""` for empty). It is
stored *sparse*: each row keeps only its non-empty values, and the snapshot keeps the
export's column order, so a wide form with mostly empty repeat rows costs little and a
field added to the dictionary (empty everywhere) does not make every record a new
version. The content hash is SHA-256 of the canonical JSON (sorted keys, no spaces) of
the sparse rows, so the same content always hashes the same whatever the column order;
that canonical JSON is also the stored payload.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "RecordBuffer",
    "Rows",
    "canonical_json",
    "column_order",
    "content_hash",
    "encode",
    "expand_rows",
    "load_rows",
    "natural_key",
    "note_columns",
    "record_order",
    "row_table",
    "sparse_rows",
]

Rows = Sequence[Mapping[str, Any]]

_DIGITS = re.compile(r"(\d+)")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal content gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def note_columns(seen: dict[str, None], rows: Rows) -> None:
    """Add to `seen` each column of `rows` not in it yet: the columns in the order the
    export first gave them (a snapshot's column list)."""
    for row in rows:
        for k in row:
            if k not in seen:
                seen[k] = None


def sparse_rows(rows: Rows) -> list[dict[str, str]]:
    """The rows with their empty values (`""` or None) left out, values as strings."""
    return [{k: v if type(v) is str else str(v) for k, v in row.items()
             if v != "" and v is not None} for row in rows]


def encode(sparse: list[dict[str, str]]) -> tuple[str, str]:
    """(hash, payload) of a record's sparse rows.

    The payload is the canonical JSON (sorted keys): key order carries no information
    because rows are rebuilt in the snapshot's column order, and one serialisation then
    serves as both the stored text and the hashed text.
    """
    payload = canonical_json(sparse)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest(), payload


def content_hash(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of `value` (a record's sparse rows, a dictionary)."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def load_rows(payload: str) -> list[dict[str, str]]:
    return json.loads(payload)  # type: ignore[no-any-return]


def expand_rows(sparse: Iterable[Mapping[str, str]],
                columns: Sequence[str]) -> list[dict[str, str]]:
    """Full export rows again: every column, in export order, `""` where empty.

    A stored value under a column the snapshot does not list (a field since removed) is
    appended after the known columns rather than lost.
    """
    known = set(columns)
    out = []
    for row in sparse:
        full = {c: row.get(c, "") for c in columns}
        for k, v in row.items():
            if k not in known:
                full[k] = v
        out.append(full)
    return out


def row_table(records: Iterable[Iterable[Mapping[str, str]]], columns: Sequence[str]
              ) -> tuple[list[str], list[tuple[str, ...]]]:
    """Full export rows as tuples, without a dict per row: (columns, rows).

    The columns are `columns` then any stored column the snapshot does not list (a
    field since removed), so nothing is lost; `""` where empty. What `expand_rows`
    gives, as a table a data frame is built from directly.
    """
    cols = list(columns)
    known = set(cols)
    empty = dict.fromkeys(cols, "")  # a merge keeps this key order: the row, in C
    out: list[tuple[str, ...]] = []
    for rows in records:
        for row in rows:
            if not known.issuperset(row):
                for k in row:
                    if k not in known:
                        known.add(k)
                        cols.append(k)
                        empty[k] = ""
            out.append(tuple({**empty, **row}.values()))
    width = len(cols)
    if out and len(out[0]) < width:  # a column appeared part-way: pad the rows before it
        out = [r + ("",) * (width - len(r)) for r in out]
    return cols, out


def column_order(records: Iterable[Rows]) -> list[str]:
    """Columns in the order the export gave them (first seen first)."""
    seen: dict[str, None] = {}
    for rows in records:
        for row in rows:
            if len(seen) and all(k in seen for k in row):
                continue
            for k in row:
                seen.setdefault(k, None)
    return list(seen)


def natural_key(record_id: str) -> tuple[Any, ...]:
    """Sort key putting record ids in REDCap's order: `2` before `10`, `1-2` before `1-10`."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in _DIGITS.split(record_id) if p != "")


def record_order(record_id: str) -> tuple[Any, ...]:
    """The order snapshots give records in: natural (`natural_key`), and ids equal
    naturally ("01", "1") by their text, so it never depends on the database's."""
    return (natural_key(record_id), record_id)


class RecordBuffer:
    """Records as they are kept, filled while a pull runs: record id -> (hash, payload),
    and the columns in the order the export gave them.

    A pull's rows are dicts with a key per field (a 234,000-patient registry's rows
    held as dicts for one site are hundreds of MiB); each batch is reduced to its
    compact, hashed form as it arrives, so only one batch of dicts is ever alive.
    """

    def __init__(self) -> None:
        self._encoded: dict[str, tuple[str, str]] = {}
        self._columns: dict[str, None] = {}

    def add(self, record_id: str, rows: Rows) -> None:
        """Keep (or replace) one record: its flat export rows."""
        note_columns(self._columns, rows)
        self._encoded[record_id] = encode(sparse_rows(rows))

    def reorder(self, record_ids: Iterable[str]) -> None:
        """Put the records in `record_ids` order (those kept; others left out)."""
        kept = self._encoded
        self._encoded = {i: kept[i] for i in record_ids if i in kept}

    @property
    def columns(self) -> list[str]:
        """Every column seen, first seen first."""
        return list(self._columns)

    def items(self) -> Iterable[tuple[str, tuple[str, str]]]:
        """(record id, (hash, payload)) in the order kept."""
        return self._encoded.items()

    def __len__(self) -> int:
        return len(self._encoded)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._encoded

    def __iter__(self) -> Iterator[str]:
        return iter(self._encoded)
