"""A writer killed with SIGKILL mid-snapshot leaves the store clean: no snapshot, old intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from registry.store import Store
from registry.store.schema import dictionaries, record_versions, snapshots

ROOT = Path(__file__).resolve().parents[2]

_WRITER = textwrap.dedent("""
    import sys, time
    from sqlalchemy import event
    from registry.store import Store
    store = Store.open(sys.argv[1])

    @event.listens_for(store.engine, "after_cursor_execute")
    def _stall(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO snapshot_records"):
            print("WRITING", flush=True)   # versions, snapshot row, membership: not committed
            time.sleep(120)

    rows = lambda i: [{"record_id": str(i), "redcap_repeat_instrument": "", "v": "crash"}]
    with store.snapshot_writer("paris", "full", metadata=[{"field_name": "v"}]) as w:
        w.put_many({str(i): rows(i) for i in range(1, 1501)})
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_killed_writer_leaves_no_snapshot(store_url: str, make_records) -> None:
    with Store.open(store_url) as store:
        before = store.write_snapshot("paris", make_records(20))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, store_url], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == "WRITING", proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with Store.open(store_url) as store:
        assert store.latest_snapshot("paris") == before
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(snapshots)).scalar() == 1
            assert conn.execute(select(func.count()).select_from(record_versions)).scalar() == 20
            assert conn.execute(select(func.count()).select_from(dictionaries)).scalar() == 0
            if conn.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert store.snapshot_records(before.id) == make_records(20)
        after = store.write_snapshot("paris", make_records(25))   # the store still writes
        assert after.n_added == 5
