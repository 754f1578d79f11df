"""The error-injection utility for end-to-end tests: a scenario copy plus its truth."""

from __future__ import annotations

import pytest
import redcap

from registry.sandbox.server import SandboxServer
from tests.scenarios import scenario_path
from tests.scenarios.faithful import read_csv
from tests.scenarios.inject import KINDS, InjectedError, inject_errors, truth_csv


def _diff(before: list[dict], after: list[dict]) -> set[tuple[int, str]]:
    assert len(before) == len(after)
    return {(i, k) for i, (a, b) in enumerate(zip(before, after, strict=True))
            for k in a if a[k] != b[k]}


@pytest.mark.parametrize("name", ["classic", "longitudinal", "repeating", "validation"])
def test_exactly_the_named_cells_change(tmp_path, name):
    errors = inject_errors(name, tmp_path / "copy", n=8, seed=5)
    assert 0 < len(errors) <= 8 and errors == sorted(errors)
    before = read_csv(scenario_path(name) / "records.csv")
    after = read_csv(tmp_path / "copy" / "records.csv")
    changed = _diff(before, after)
    assert len(changed) == len(errors)
    id_field = next(iter(before[0]))
    named = set()
    for e in errors:
        i = next(i for i, r in enumerate(after) if r[id_field] == e.record
                 and r.get("redcap_event_name", "") == e.event
                 and r.get("redcap_repeat_instance", "") == ("" if e.instance is None
                                                             else str(e.instance))
                 and (i, e.field) in changed)
        named.add((i, e.field))
    assert named == changed
    assert not (tmp_path / "copy" / "README.md").exists()


def test_every_kind_is_refused_by_redcap_or_breaks_the_dictionary(tmp_path):
    """Each injected value is one REDCap would refuse on import today (type, date,
    choice), or breaks a dictionary rule it only warns about (range, required)."""
    errors = inject_errors("classic", tmp_path / "copy", n=10, seed=1)
    assert {e.kind for e in errors} == set(KINDS) - {"no_box_ticked"}  # no checkbox here
    with SandboxServer.from_folder(tmp_path / "copy") as server:
        project = redcap.Project(server.url, server.tokens.project)
        for e in errors:
            value = project.export_records(records=[e.record], fields=[e.field])[0][e.field]
            if e.kind in ("not_a_number", "impossible_date", "unknown_code"):
                with pytest.raises(redcap.RedcapError):
                    project.import_records([{"record_id": "99", e.field: value}])
            elif e.kind == "missing_required":
                assert value == ""


def test_same_seed_same_copy_and_truth_file(tmp_path):
    one = inject_errors("repeating_event", tmp_path / "a", n=6, seed=2)
    two = inject_errors("repeating_event", tmp_path / "b", n=6, seed=2)
    assert one == two
    assert (tmp_path / "a" / "records.csv").read_bytes() == (
        tmp_path / "b" / "records.csv").read_bytes()
    path = truth_csv(one, tmp_path / "truth.csv")
    rows = read_csv(path)
    assert list(rows[0]) == ["record", "event", "form", "instance", "field", "kind"]
    assert [InjectedError(r["record"], r["event"], r["form"],
                          int(r["instance"]) if r["instance"] else None, r["field"], r["kind"])
            for r in rows] == one


def test_no_box_ticked_unticks_every_box_of_a_required_checkbox(tmp_path):
    errors = inject_errors("checkboxes", tmp_path / "copy", n=3, kinds=["no_box_ticked"],
                           seed=1)
    assert len(errors) == 3 and {e.field for e in errors} == {"fam"}
    before = {r["record_id"]: r for r in read_csv(scenario_path("checkboxes") / "records.csv")}
    after = {r["record_id"]: r for r in read_csv(tmp_path / "copy" / "records.csv")}
    for e in errors:
        boxes = [c for c in after[e.record] if c.startswith("fam___")]
        assert "1" in [before[e.record][c] for c in boxes]
        assert [after[e.record][c] for c in boxes] == ["0"] * len(boxes)
