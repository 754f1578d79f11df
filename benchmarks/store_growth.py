"""How fast the store writes a big snapshot, and how much a year of nightly pulls takes.

    PYTHONPATH=. python benchmarks/store_growth.py                       # SQLite in a tmp dir
    PYTHONPATH=. python benchmarks/store_growth.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test

1. Write time: one full snapshot of `--big` records (default 23,400, ~10 flat rows each,
   shaped like the demo registry's export), then the same again (all deduplicated), then
   an incremental one with 2 % of records changed.
2. Growth: `--nights` (365) nightly *full* snapshots of a `--patients` (234) registry where
   about `--change` (2 %) of records change each night (a value edited or a repeat instance
   added). Reports the store's size against the naive cost (a copy of the export per night).

On PostgreSQL the run uses (and then drops) its own schema. Results are recorded in
`benchmarks/store_growth.md`.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry.sandbox.dictionary import metadata
from registry.store import Store

FORM_FIELDS: dict[str, list[str]] = {}
COLUMNS = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance",
           "redcap_data_access_group"]
for field in metadata():
    names = [field["field_name"]]
    if field["field_type"] == "checkbox":
        codes = [c.split(",")[0].strip() for c in field["select_choices_or_calculations"]
                 .split("|")]
        names = [f"{field['field_name']}___{c}" for c in codes]
    if field["field_name"] != "record_id":
        FORM_FIELDS.setdefault(field["form_name"], []).extend(names)
for form, fields in FORM_FIELDS.items():
    COLUMNS += fields + [f"{form}_complete"]


def _value(rng: random.Random, name: str) -> str:
    if "date" in name or name.endswith(("_start", "_stop")):
        return f"20{rng.randint(10, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if "notes" in name or name in ("inf_organism", "trt_other"):
        return rng.choice(["", "", "Pneumocystis jirovecii", "follow-up in clinic"])
    return str(rng.randint(0, 3))


def _row(rng: random.Random, rid: str, dag: str, form: str | None,
         instance: int | None) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(record_id=rid, redcap_data_access_group=dag)
    forms = ["baseline", "outcome"] if form is None else [form]
    if form is not None:
        row.update(redcap_repeat_instrument=form, redcap_repeat_instance=str(instance))
    for f in forms:
        for name in FORM_FIELDS[f]:
            row[name] = _value(rng, name)
        row[f"{f}_complete"] = "2"
    return row


def make_record(rng: random.Random, rid: str, dag: str) -> list[dict[str, str]]:
    rows = [_row(rng, rid, dag, None, None)]
    for form, (lo, hi) in (("treatments", (4, 6)), ("icu_stay", (0, 2)),
                           ("infections", (0, 3))):
        rows += [_row(rng, rid, dag, form, i) for i in range(1, rng.randint(lo, hi) + 1)]
    return rows


def make_registry(rng: random.Random, n: int) -> dict[str, list[dict[str, str]]]:
    return {str(i): make_record(rng, str(i), f"site{i % 5}") for i in range(1, n + 1)}


def change(rng: random.Random, records: dict[str, list[dict[str, str]]],
           share: float) -> dict[str, list[dict[str, str]]]:
    """Edit about `share` of the records in place (new value or new repeat instance)."""
    changed = {}
    for rid in rng.sample(sorted(records), max(1, round(len(records) * share))):
        rows = [dict(r) for r in records[rid]]
        if rng.random() < 0.5:
            row = rng.choice(rows)
            form = row["redcap_repeat_instrument"] or "baseline"
            name = rng.choice(FORM_FIELDS[form])
            row[name] = _value(rng, name) + "x"
        else:
            n = sum(1 for r in rows if r["redcap_repeat_instrument"] == "infections")
            rows.append(_row(rng, rid, rows[0]["redcap_data_access_group"], "infections", n + 1))
        records[rid] = changed[rid] = rows
    return changed


def store_size(store: Store) -> int:
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            return int(pages) * int(size)
        return int(conn.execute(text(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r'")).scalar_one())


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def run(url: str, big: int, patients: int, nights: int, share: float) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": make_url(url).get_backend_name()}
    rng = random.Random(20261125)
    meta = metadata()
    with Store.open(url) as store:
        records = make_registry(rng, big)
        out["big_rows"] = sum(len(r) for r in records.values())
        out["big_export_bytes"] = len(json.dumps([r for rs in records.values() for r in rs]))
        t = time.perf_counter()
        store.write_snapshot("big", records, metadata=meta)
        out["write_full_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        store.write_snapshot("big", records, metadata=meta)
        out["write_same_again_s"] = round(time.perf_counter() - t, 2)
        changed = change(rng, records, share)
        t = time.perf_counter()
        latest = store.latest_snapshot("big")
        store.write_incremental("big", latest.id, changed, metadata=meta)  # type: ignore[union-attr]
        out["write_incremental_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        rows = store.snapshot_rows(store.latest_snapshot("big").id)  # type: ignore[union-attr]
        out["read_rows_s"] = round(time.perf_counter() - t, 2)
        out["read_rows"] = len(rows)
        out["size_after_big"] = store_size(store)

    growth_url = url
    with Store.open(growth_url) as store:
        before = store_size(store)
        records = make_registry(rng, patients)
        export = len(json.dumps([r for rs in records.values() for r in rs]))
        t = time.perf_counter()
        for _ in range(nights):
            store.write_snapshot("year", records, metadata=meta)
            change(rng, records, share)
        out["year_write_s"] = round(time.perf_counter() - t, 1)
        out["year_store_bytes"] = store_size(store) - before
        out["year_naive_bytes"] = export * nights
        out["export_bytes"] = export
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="store URL (default: a SQLite file in a tmp dir)")
    parser.add_argument("--big", type=int, default=23_400)
    parser.add_argument("--patients", type=int, default=234)
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--change", type=float, default=0.02)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, admin, schema = args.url, None, None
        if url is None:
            url = f"sqlite:///{Path(tmp) / 'registry.sqlite'}"
        elif make_url(url).get_backend_name() == "postgresql":
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(url)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}) \
                .render_as_string(hide_password=False)
        try:
            r = run(url, args.big, args.patients, args.nights, args.change)
        finally:
            if admin is not None:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    print(f"backend: {r['backend']}")
    print(f"{args.big} records, {r['big_rows']} flat rows ({_mb(r['big_export_bytes'])} as JSON):")
    print(f"  full snapshot {r['write_full_s']} s; same again (deduplicated) "
          f"{r['write_same_again_s']} s; incremental ({args.change:.0%} changed) "
          f"{r['write_incremental_s']} s; read all rows back {r['read_rows_s']} s")
    print(f"  store size after these three snapshots: {_mb(r['size_after_big'])}")
    print(f"{args.nights} nightly full snapshots of {args.patients} patients, "
          f"{args.change:.0%} changing per night:")
    print(f"  store grew {_mb(r['year_store_bytes'])} in {r['year_write_s']} s "
          f"(a copy per night would be {_mb(r['year_naive_bytes'])}; one export "
          f"{_mb(r['export_bytes'])})")


if __name__ == "__main__":
    main()
