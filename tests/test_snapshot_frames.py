"""The nightly reads a snapshot as a table, and tidies it exactly as its rows."""

from __future__ import annotations

import stat

import pandas as pd
import pytest

from registry.run import run_frames
from registry.sandbox.generator import GeneratorParams, generate
from registry.snapshot_frames import FrameCache, snapshot_frame
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


# -- the per-snapshot frame cache ------------------------------------------------------------

def _records(rows):
    by_record: dict[str, list] = {}
    for row in rows:
        by_record.setdefault(row["record_id"], []).append(dict(row))
    return by_record


@pytest.fixture(scope="module")
def registry_rows():
    return generate(GeneratorParams(seed=5, patients=30, sites=1)).rows_by_site()


def _store(path, rows_by_site):
    store = Store.open(f"sqlite:///{path}")
    ids = {site: store.write_snapshot(site, _records(rows)).id
           for site, rows in rows_by_site.items()}
    return store, ids


def test_a_cache_hit_gives_the_frame_the_store_gives(tmp_path, registry_rows):
    store, ids = _store(tmp_path / "s.sqlite", registry_rows)
    with store:
        (site, sid), = ids.items()
        cache = FrameCache(tmp_path / "frames")
        first = cache.frame(store, site, sid)
        again = FrameCache(tmp_path / "frames")  # a later run: read back from the file
        second = again.frame(store, site, sid)
        truth = snapshot_frame(store, sid)
    assert (cache.stats["full"], again.stats["hit"], again.stats["records_read"]) == (1, 1, 0)
    pd.testing.assert_frame_equal(first, truth)
    pd.testing.assert_frame_equal(second, truth)
    folder = tmp_path / "frames"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()] == [0o600]
    assert site not in " ".join(p.name for p in folder.iterdir())


def test_a_new_snapshot_reads_only_the_records_that_changed(tmp_path, registry_rows):
    store, ids = _store(tmp_path / "s.sqlite", registry_rows)
    with store:
        (site, sid), = ids.items()
        FrameCache(tmp_path / "frames").frame(store, site, sid)
        records = store.snapshot_records(sid)
        first, second, *_, last = list(records)
        edited = [dict(r) for r in records[second]]
        edited[-1][next(k for k, v in edited[-1].items() if v and k != "record_id")] = "zz"
        added = [{**dict(r), "record_id": "0"} for r in records[first]]  # sorts first
        new = store.write_incremental(site, sid, {second: edited, "0": added},
                                      deleted=[last]).id
        cache = FrameCache(tmp_path / "frames")
        updated = cache.frame(store, site, new)
        truth = snapshot_frame(store, new)
        assert (cache.stats["updated"], cache.stats["records_read"]) == (1, 2)
        pd.testing.assert_frame_equal(updated, truth)
        # the entry now holds the new snapshot: a hit, and the old one still comes out right
        later = FrameCache(tmp_path / "frames")
        pd.testing.assert_frame_equal(later.frame(store, site, new), truth)
        pd.testing.assert_frame_equal(later.frame(store, site, sid), snapshot_frame(store, sid))
        assert later.stats["hit"] == 1


def test_an_entry_is_never_taken_for_another_stores_snapshot(tmp_path, registry_rows):
    """Snapshot ids restart in a new store file; the record hashes tell the entries apart."""
    store, ids = _store(tmp_path / "a.sqlite", registry_rows)
    with store:
        (site, sid), = ids.items()
        FrameCache(tmp_path / "frames").frame(store, site, sid)
    other = {site: [{**r, "record_id": r["record_id"] + "9"} for r in registry_rows[site]]}
    store, ids = _store(tmp_path / "b.sqlite", other)
    with store:
        assert ids[site] == sid
        cache = FrameCache(tmp_path / "frames")
        got = cache.frame(store, site, sid)
        pd.testing.assert_frame_equal(got, snapshot_frame(store, sid))
    assert cache.stats["hit"] == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "group-readable"])
def test_a_damaged_cache_falls_back_to_the_store(tmp_path, registry_rows, damage):
    store, ids = _store(tmp_path / "s.sqlite", registry_rows)
    with store:
        (site, sid), = ids.items()
        FrameCache(tmp_path / "frames").frame(store, site, sid)
        (path,) = (tmp_path / "frames").iterdir()
        data = path.read_bytes()
        if damage == "garbage":
            path.write_bytes(data[:200] + bytes(len(data) - 400) + data[-200:])
        elif damage == "truncated":
            path.write_bytes(data[: len(data) // 2])
        else:
            path.chmod(0o640)
        cache = FrameCache(tmp_path / "frames")
        got = cache.frame(store, site, sid)
        pd.testing.assert_frame_equal(got, snapshot_frame(store, sid))
    assert (cache.stats["hit"], cache.stats["full"]) == (0, 1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # rewritten whole


def test_run_frames_with_the_cache_tidy_as_without(tmp_path):
    reg = generate(GeneratorParams(seed=3, patients=40, sites=2))
    store, ids = _store(tmp_path / "s.sqlite", reg.rows_by_site())
    with store:
        for site in ids:  # run_frames needs the dictionary with the snapshot
            rows = store.snapshot_records(ids[site])
            ids[site] = store.write_incremental(site, ids[site], {}, metadata=reg.metadata,
                                                columns=list(next(iter(rows.values()))[0])).id
        plain, _ = run_frames(store, ids)
        run_frames(store, ids, cache=tmp_path / "frames")
        cached, _ = run_frames(store, ids, cache=tmp_path / "frames")
    for name in plain:
        pd.testing.assert_frame_equal(cached[name], plain[name])
    pd.testing.assert_frame_equal(cached.conformance, plain.conformance)
