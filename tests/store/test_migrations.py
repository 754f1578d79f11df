"""Migrations: an old store opens after an upgrade; head equals the declared schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from registry.errors import StoreError
from registry.store import HEAD, Store
from registry.store.engine import make_engine
from registry.store.migrate import current_revision, upgrade
from registry.store.schema import metadata
from registry.store.snapshots import SnapshotWriter


def test_a_store_at_the_first_revision_opens_after_upgrade(store_url: str,
                                                           make_records) -> None:
    engine = make_engine(store_url)
    assert upgrade(engine, "0001") is None
    with engine.connect() as conn:
        assert current_revision(conn) == "0001"
        assert "runs" not in inspect(conn).get_table_names()
    with SnapshotWriter(engine, "paris", "full") as w:   # written by the old version
        w.put_many(make_records(5))
    engine.dispose()

    with Store.open(store_url) as store:
        with store.engine.connect() as conn:
            assert current_revision(conn) == HEAD
        old = store.latest_snapshot("paris")
        assert old is not None and old.n_records == 5
        assert store.snapshot_records(old.id) == make_records(5)
        run_id = store.start_run("nightly")
        store.use_snapshot(run_id, "paris", old.id, fresh=False)
        assert store.run(run_id).snapshots["paris"].snapshot_id == old.id


def test_head_matches_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


def test_opening_twice_is_a_no_op(store_url: str) -> None:
    Store.open(store_url).close()
    engine = make_engine(store_url)
    assert upgrade(engine) == HEAD
    engine.dispose()


def test_a_store_from_a_newer_version_is_refused(store: Store, store_url: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="newer version of registry"):
        Store.open(store_url)


def test_unreachable_postgres_is_one_line_without_password() -> None:
    url = "postgresql+psycopg://registry:s3cret-pw@127.0.0.1:1/registry"
    with pytest.raises(StoreError) as err:
        Store.open(url)
    message = str(err.value)
    assert "s3cret-pw" not in message
    assert "\n" not in message
    assert "registry:***@127.0.0.1:1" in message


def test_unwritable_sqlite_folder_is_a_store_error(tmp_path) -> None:  # noqa: ANN001
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot be created"):
        Store.open(f"sqlite:///{blocker / 'registry.sqlite'}")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "mysql://x@h/db",
                                 "not a url"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError):
        Store.open(url)


def test_two_processes_opening_a_new_store_at_once(store_url: str) -> None:
    code = "import sys; from registry.store import Store; Store.open(sys.argv[1]).close()"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    procs = [subprocess.Popen([sys.executable, "-c", code, store_url], env=env,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    with Store.open(store_url) as store, store.engine.connect() as conn:
        assert current_revision(conn) == HEAD
