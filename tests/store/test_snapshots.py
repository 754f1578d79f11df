"""Snapshots: round trip, deduplication, incremental composition, atomicity."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from registry.errors import StoreError
from registry.store import Store
from registry.store.schema import dictionaries, record_versions, snapshot_records, snapshots


def _count(store: Store, table) -> int:  # noqa: ANN001
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_round_trip_gives_the_export_back(store: Store, make_records, dictionary) -> None:
    records = make_records(30)
    info = store.write_snapshot("paris", records, metadata=dictionary,
                                project_info={"project_id": 12, "redcap_version": "14.5.0"},
                                details={"requests": 3}, dictionary_changes={"added": []})
    assert (info.site, info.kind, info.status) == ("paris", "full", "complete")
    assert (info.n_records, info.n_added, info.n_changed, info.n_deleted) == (30, 30, 0, 0)
    expected = [row for rows in records.values() for row in rows]
    assert store.snapshot_rows(info.id) == expected
    assert list(store.snapshot_rows(info.id)[0]) == list(expected[0])  # column order kept
    assert store.snapshot_records(info.id) == records
    assert store.snapshot_records(info.id, ["3", "1", "99"]) == {"1": records["1"],
                                                               "3": records["3"]}
    assert store.snapshot_metadata(info.id) == dictionary
    again = store.snapshot(info.id)
    assert again == info
    assert again.project_info == {"project_id": 12, "redcap_version": "14.5.0"}
    assert again.created_at.tzinfo is not None
    assert store.latest_snapshot("paris") == info
    assert store.latest_snapshot("lyon") is None
    assert store.sites() == ["paris"]


def test_records_come_back_in_redcap_order(store: Store, make_record) -> None:
    ids = ["10", "2", "1", "1-10", "1-2"]
    info = store.write_snapshot("paris", {i: make_record(i, 0) for i in ids})
    assert list(store.snapshot_records(info.id)) == ["1", "1-2", "1-10", "2", "10"]


def test_identical_snapshot_adds_no_record_versions(store: Store, make_records,
                                                    dictionary) -> None:
    first = store.write_snapshot("paris", make_records(40), metadata=dictionary)
    versions = _count(store, record_versions)
    second = store.write_snapshot("paris", make_records(40), metadata=dictionary)
    assert versions == 40
    assert _count(store, record_versions) == versions
    assert _count(store, dictionaries) == 1
    assert (second.n_added, second.n_changed, second.n_deleted) == (0, 0, 0)
    assert second.base_snapshot_id == first.id
    assert store.snapshot_rows(second.id) == store.snapshot_rows(first.id)


def test_full_snapshot_counts_what_changed(store: Store, make_records, make_record) -> None:
    store.write_snapshot("paris", make_records(10))
    records = make_records(10)
    records["3"] = make_record("3", version=1)     # changed
    del records["7"]                                # deleted
    records["11"] = make_record("11")               # added
    info = store.write_snapshot("paris", records)
    assert (info.n_records, info.n_added, info.n_changed, info.n_deleted) == (10, 1, 1, 1)
    assert _count(store, record_versions) == 12
    diff = store.snapshot_diff(info.base_snapshot_id, info.id)
    assert (diff.added, diff.changed, diff.deleted) == (["11"], ["3"], ["7"])


def test_a_reverted_record_reuses_its_old_version(store: Store, make_records,
                                                  make_record) -> None:
    a = store.write_snapshot("paris", make_records(5))
    store.write_snapshot("paris", make_records(5) | {"2": make_record("2", version=9)})
    c = store.write_snapshot("paris", make_records(5))
    assert _count(store, record_versions) == 6
    assert store.snapshot_rows(c.id) == store.snapshot_rows(a.id)


def test_an_empty_new_column_does_not_make_new_versions(store: Store, make_records) -> None:
    store.write_snapshot("paris", make_records(5))
    wider = {rid: [row | {"new_field": ""} for row in rows]
             for rid, rows in make_records(5).items()}
    info = store.write_snapshot("paris", wider)
    assert _count(store, record_versions) == 5
    assert info.n_changed == 0
    assert store.snapshot_rows(info.id)[0]["new_field"] == ""


def test_sites_keep_separate_histories(store: Store, make_records) -> None:
    p = store.write_snapshot("paris", make_records(3))
    lyon = store.write_snapshot("lyon", make_records(4))
    assert lyon.base_snapshot_id is None and lyon.n_added == 4
    assert store.latest_snapshot("paris") == p
    assert [s.id for s in store.snapshots("lyon")] == [lyon.id]
    assert [s.id for s in store.snapshots()] == [lyon.id, p.id]


def test_incremental_equals_full_of_same_content(store: Store, make_records,
                                                 make_record) -> None:
    base = store.write_snapshot("paris", make_records(600))   # more than one write batch
    changed = {"5": make_record("5", version=2), "601": make_record("601")}
    inc = store.write_incremental("paris", base.id, changed, deleted=["9", "10"],
                                  details={"since": "2026-11-24T02:00:00Z"})
    full_records = make_records(600) | changed
    del full_records["9"], full_records["10"]
    full = store.write_snapshot("lyon", full_records)  # other site: no dedup across sites
    assert inc.kind == "incremental" and inc.base_snapshot_id == base.id
    assert (inc.n_records, inc.n_added, inc.n_changed, inc.n_deleted) == (599, 1, 1, 2)
    assert store.snapshot_rows(inc.id) == store.snapshot_rows(full.id)
    assert store.snapshot_records(inc.id) == full_records
    again = store.write_snapshot("paris", full_records)
    assert (again.n_added, again.n_changed, again.n_deleted) == (0, 0, 0)


def test_incremental_counts_only_real_changes(store: Store, make_records, make_record) -> None:
    """The incremental writer copies the base's membership in the database and touches
    only what was put or deleted: content put again unchanged, a record back to an
    older content, and a deletion of an id the base never had."""
    base = store.write_snapshot("paris", make_records(30))
    v2 = store.write_incremental("paris", base.id, {"3": make_record("3", version=2)})
    back = store.write_incremental("paris", v2.id, {
        "3": make_records(1, 3)["3"],     # back to the base's content: that version again
        "4": make_records(1, 4)["4"],     # the same content as now
        "31": make_record("31")}, deleted=["7", "999"])
    assert (back.n_records, back.n_added, back.n_changed, back.n_deleted) == (30, 1, 1, 1)
    expected = make_records(30) | {"31": make_record("31")}
    del expected["7"]
    assert store.snapshot_records(back.id) == expected
    assert _count(store, record_versions) == 32  # 30 + record 3's second content + 31
    assert store.snapshot_records(v2.id)["3"] == make_record("3", version=2)


def test_incremental_needs_a_base_of_the_same_site(store: Store, make_records) -> None:
    with pytest.raises(StoreError, match="pull it in full first"), \
            store.snapshot_writer("paris", "incremental"):
        pass
    with pytest.raises(StoreError, match="snapshot 7 is not a snapshot of site 'paris'"):
        store.write_incremental("paris", 7, make_records(1))
    lyon = store.write_snapshot("lyon", make_records(2))
    with pytest.raises(StoreError, match="not a snapshot of site 'paris'"):
        store.write_incremental("paris", lyon.id, make_records(1))
    with pytest.raises(StoreError, match="incremental"), \
            store.snapshot_writer("lyon", "full") as w:
        w.delete(["1"])
    assert _count(store, snapshots) == 1


def test_failure_mid_write_leaves_no_snapshot(store: Store, make_records) -> None:
    before = store.write_snapshot("paris", make_records(10))
    versions = _count(store, record_versions)
    with pytest.raises(RuntimeError, match="network"), \
            store.snapshot_writer("paris", "full") as w:
        w.put_many(make_records(1200, start=100))
        raise RuntimeError("network went away")
    assert w.info is None
    assert store.latest_snapshot("paris") == before
    assert _count(store, snapshots) == 1
    assert _count(store, record_versions) == versions
    assert _count(store, snapshot_records) == 10
    assert store.snapshot_rows(before.id) == [r for rs in make_records(10).values() for r in rs]


def test_bad_input_is_refused_with_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="kind"):
        store.snapshot_writer("paris", "partial")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="record id"):
        store.write_snapshot("paris", {"": [{"record_id": ""}]})
    with pytest.raises(StoreError, match="no snapshot 42"):
        store.snapshot_rows(42)
    with pytest.raises(StoreError, match="no snapshot 42"):
        store.snapshot(42)
    assert store.latest_snapshot("paris") is None


def test_store_has_no_place_for_a_token() -> None:
    from registry.store.schema import metadata

    columns = {c.name for t in metadata.tables.values() for c in t.columns}
    assert not {c for c in columns if "token" in c or "secret" in c or "password" in c}


def test_failure_during_the_commit_leaves_no_snapshot(store: Store, make_records) -> None:
    before = store.write_snapshot("paris", make_records(10))
    versions = _count(store, record_versions)

    def fail_on_membership(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if statement.startswith("INSERT INTO snapshot_records"):
            raise RuntimeError("disk went away")

    event.listen(store.engine, "before_cursor_execute", fail_on_membership)
    try:
        with pytest.raises(RuntimeError, match="disk went away"), \
                store.snapshot_writer("paris", "full", metadata=[{"field_name": "x"}]) as w:
            w.put_many(make_records(1200, start=100))
    finally:
        event.remove(store.engine, "before_cursor_execute", fail_on_membership)
    assert w.info is None
    assert store.latest_snapshot("paris") == before
    assert (_count(store, snapshots), _count(store, record_versions),
            _count(store, dictionaries)) == (1, versions, 0)


def test_readers_see_the_old_snapshot_until_commit(store_url: str, store: Store,
                                                   make_records) -> None:
    before = store.write_snapshot("paris", make_records(5))
    seen = []

    def read_mid_commit(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if statement.startswith("INSERT INTO snapshot_records"):
            with Store.open(store_url) as reader:   # a second connection, mid-transaction
                seen.append(reader.latest_snapshot("paris"))
                seen.append(len(reader.snapshot_records(before.id)))

    event.listen(store.engine, "after_cursor_execute", read_mid_commit)
    try:
        with store.snapshot_writer("paris", "full") as w:
            w.put_many(make_records(700))
    finally:
        event.remove(store.engine, "after_cursor_execute", read_mid_commit)
    assert seen == [before, 5]                      # not blocked, not half-written
    assert w.info is not None and w.info.n_records == 700
    with Store.open(store_url) as reader:
        assert reader.latest_snapshot("paris") == w.info
