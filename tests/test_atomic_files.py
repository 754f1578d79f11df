"""`atomic_write_*`: the mode asked for, folders made, nothing left beside the file.

Killers of surviving mutants of `registry.atomic` (docs/testing.md): patient-data files
are written owner-only (mode 0o600, the default since issue 11.5) and a mode asked for
(0o644) exactly, into folders that do not exist yet, and a failed write leaves only the
old file.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from registry.atomic import atomic_write_bytes, atomic_write_text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_modes_are_exactly_what_was_asked(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "report.csv", "a", mode=0o644)
    atomic_write_bytes(tmp_path / "report.pdf", b"%PDF", mode=0o644)
    atomic_write_text(tmp_path / "patients.csv", "b")
    atomic_write_bytes(tmp_path / "patients.json", b"{}")
    assert [_mode(tmp_path / n) for n in ("report.csv", "report.pdf", "patients.csv",
                                          "patients.json")] == [0o644, 0o644, 0o600, 0o600]


def test_folders_are_made_and_a_failed_write_leaves_only_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "run-1" / "site" / "flags.csv"
    atomic_write_text(path, "ünïcode")
    assert path.read_bytes() == "ünïcode".encode()
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert [p.name for p in path.parent.iterdir()] == ["flags.csv"]
    assert path.read_text(encoding="utf-8") == "ünïcode"


def test_the_temporary_file_is_made_beside_the_target_not_in_the_system_temp_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rename is atomic only within one filesystem: a system temporary folder that
    is elsewhere (here: gone) must not matter."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    atomic_write_text(tmp_path / "out" / "flags.csv", "a")
    assert (tmp_path / "out" / "flags.csv").read_text() == "a"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["flags.csv"]
