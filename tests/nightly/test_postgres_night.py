"""The nightly on a PostgreSQL store: a good night, a kill -9 mid-validation, a rerun.

A killed process leaves its PostgreSQL transaction open on the server until the
connection drops; the rerun must see none of it, mark the run abandoned and age the
flags against the good night. Needs REGISTRY_TEST_PG_URL; runs in a schema of its own.
"""

from __future__ import annotations

import signal

import pytest

from registry.commands.nightly import nightly_command
from registry.settings import load_settings
from registry.store import Store
from tests.nightly.conftest import nightly_cli, wait_for, write_settings
from tests.pg import pg_schema_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_url():
    with pg_schema_url("nightly", "nightly test") as url:
        yield url


def test_a_night_killed_mid_validation_on_postgresql_then_a_rerun(night_sandbox, tmp_path,
                                                                  pg_url, capsys):
    settings = write_settings(night_sandbox, tmp_path)
    settings.write_text(settings.read_text().replace('url = "sqlite:///var/registry.sqlite"',
                                                     f'url = "{pg_url}"'))
    assert nightly_command(settings) == 0
    capsys.readouterr()
    with Store.open(load_settings(settings).store.url) as store:
        good = store.runs()[0]
        good_flags = {(f["site"], f["record_id"], f["rule_id"], f["field"]): f["first_seen"]
                      for f in store.flags(good.id)}
    log = tmp_path / "registry.log"
    offset = log.stat().st_size

    proc = nightly_cli(settings)
    try:
        wait_for(lambda: "event=validate.start" in log.read_bytes()[offset:].decode(), 90,
                 "the validate stage", proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)

    assert nightly_command(settings) == 0
    with Store.open(load_settings(settings).store.url) as store:
        runs = store.runs()
        flags = store.flags(runs[0].id)
    assert [r.status for r in runs] == ["succeeded", "abandoned", "succeeded"]
    assert {f["status"] for f in flags} == {"open"}
    assert {(f["site"], f["record_id"], f["rule_id"], f["field"]): f["first_seen"]
            for f in flags} == good_flags
    reports = tmp_path / "var" / "reports"
    assert sorted(p.name for p in reports.iterdir()) == sorted([runs[0].id, good.id])
