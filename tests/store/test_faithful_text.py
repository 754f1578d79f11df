"""One odd value never breaks the store (issue 11.4), on SQLite and on PostgreSQL.

Before: a NUL byte in one value aborted the whole run on PostgreSQL ("cannot save
flags ..."), every night until fixed, and a 150-character record id overflowed
varchar(100) there (SQLite accepted both). Now both are stored and read back exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from registry.store import Store
from registry.store.schema import escape_nul, unescape_nul

T0 = datetime(2026, 11, 20, 2, 15, tzinfo=UTC)
ODD = "a\x00b\ue000c\ue0000\x00"  # NULs and the escape character itself
LONG_ID = "r" * 150 + "\x00x"


def test_nul_bytes_and_long_ids_round_trip(store: Store, make_record) -> None:
    snap = store.write_snapshot("paris", {LONG_ID: make_record(LONG_ID, 1),
                                          "7": [{**make_record("7", 0)[0], "sex": ODD}]})
    assert store.snapshot_records(snap.id)["7"][0]["sex"] == ODD
    assert LONG_ID in store.snapshot_record_ids(snap.id)
    run_id = store.start_run(started_at=T0)
    flag = {"site": "paris", "record_id": LONG_ID, "form": "f", "instance": None,
            "field": "x", "rule_id": "r", "severity": "blocking", "status": "new",
            "first_seen": T0, "message": f"value {ODD} is odd", "link": f"http://r/?v={ODD}",
            "details": {"value": ODD}}
    store.save_flags(run_id, "paris", snap.id, [flag])
    store.save_rule_results(run_id, "paris", [{"rule_id": "r", "severity": "blocking",
                                               "checked": 1, "failed": 1, "percent": 100.0,
                                               "status": "failed", "detail": ODD}])
    store.finish_run(run_id, "succeeded", 0, message=ODD)
    got = store.flags(run_id)[0]
    assert (got["record_id"], got["message"], got["link"], got["details"]) == \
        (LONG_ID, flag["message"], flag["link"], {"value": ODD})
    assert store.rule_results(run_id=run_id)[0]["detail"] == ODD
    assert store.run(run_id).message == ODD
    assert store.previous_flags("paris")[0]["record_id"] == LONG_ID


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab\x00\ue000e0"), max_size=12))
def test_the_nul_escape_is_reversible_and_leaves_no_nul(value: str) -> None:
    stored = escape_nul(value)
    assert "\x00" not in stored and unescape_nul(stored) == value
