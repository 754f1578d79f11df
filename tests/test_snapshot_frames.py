"""The nightly reads a snapshot as a table, and tidies it exactly as its rows."""

from __future__ import annotations

import pandas as pd

from registry.sandbox.generator import GeneratorParams, generate
from registry.snapshot_frames import snapshot_frame
from registry.store import Store
from registry.store.records import expand_rows, row_table
from registry.tidy import tidy


def test_a_snapshot_frame_tidies_like_its_rows(tmp_path):
    reg = generate(GeneratorParams(seed=3, patients=40, sites=2))
    with Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        ids = {}
        for site, rows in reg.rows_by_site().items():
            by_record: dict[str, list] = {}
            for row in rows:
                by_record.setdefault(row["record_id"], []).append(row)
            ids[site] = store.write_snapshot(site, by_record).id
        as_rows = tidy({s: store.snapshot_rows(i) for s, i in ids.items()}, reg.metadata)
        as_frame = tidy({s: snapshot_frame(store, i) for s, i in ids.items()}, reg.metadata)
        assert snapshot_frame(store, ids["paris"]).values.tolist() == [
            list(r.values()) for r in store.snapshot_rows(ids["paris"])]
    for name in as_rows.forms:
        pd.testing.assert_frame_equal(as_frame.forms[name], as_rows.forms[name])
    pd.testing.assert_frame_equal(as_frame.conformance, as_rows.conformance)


def test_the_row_table_keeps_a_column_the_snapshot_does_not_list():
    sparse = [[{"record_id": "1", "a": "x"}], [{"record_id": "2", "gone": "y"}]]
    columns, rows = row_table(sparse, ["record_id", "a"])
    assert columns == ["record_id", "a", "gone"]
    assert rows == [("1", "x", ""), ("2", "", "y")]
    assert [tuple(r.values()) for rs in sparse for r in expand_rows(rs, ["record_id", "a"])] \
        == [("1", "x"), ("2", "", "y")]
