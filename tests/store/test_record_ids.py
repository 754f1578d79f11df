"""`Store.snapshot_record_ids`: a snapshot's ids, in REDCap's order, without reading rows."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from registry.errors import StoreError
from registry.store import Store


def test_ids_match_the_records_in_natural_order(store: Store, make_record) -> None:
    ids = ["10", "2", "1", "1-10", "1-2", "abc"]
    info = store.write_snapshot("paris", {i: make_record(i, 1) for i in ids})
    assert store.snapshot_record_ids(info.id) == ["1", "1-2", "1-10", "2", "10", "abc"]
    assert store.snapshot_record_ids(info.id) == list(store.snapshot_records(info.id))


def test_ids_follow_each_snapshot_not_the_shared_versions(store: Store, make_records,
                                                          make_record) -> None:
    base = store.write_snapshot("paris", make_records(600))   # more than one write batch
    inc = store.write_incremental("paris", base.id, {"5": make_record("5", version=3),
                                                     "601": make_record("601")},
                                  deleted=["9", "10"])
    lyon = store.write_snapshot("lyon", make_records(3))      # same ids, another site
    assert store.snapshot_record_ids(base.id) == [str(i) for i in range(1, 601)]
    assert store.snapshot_record_ids(inc.id) == [str(i) for i in range(1, 602)
                                                 if i not in (9, 10)]
    assert store.snapshot_record_ids(inc.id) == list(store.snapshot_records(inc.id))
    unordered = store.snapshot_record_ids(inc.id, ordered=False)
    assert len(unordered) == 599 and set(unordered) == set(store.snapshot_record_ids(inc.id))
    assert store.snapshot_record_ids(lyon.id) == ["1", "2", "3"]
    empty = store.write_snapshot("nice", {})
    assert store.snapshot_record_ids(empty.id) == []


def test_ids_are_read_without_the_record_payloads(store: Store, make_records) -> None:
    info = store.write_snapshot("paris", make_records(20))
    statements: list[str] = []

    def keep(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", keep)
    try:
        ids = store.snapshot_record_ids(info.id)
        ids_statements = list(statements)
        store.snapshot_records(info.id)
    finally:
        event.remove(store.engine, "before_cursor_execute", keep)
    assert len(ids) == 20
    assert ids_statements and not [s for s in ids_statements if "payload" in s]
    assert [s for s in statements if "payload" in s]  # the check can see a payload read


def test_an_unknown_snapshot_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no snapshot 42"):
        store.snapshot_record_ids(42)
