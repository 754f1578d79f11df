"""Who may read what the tool writes: its owner only, unless settings share the reports.

Everything written holds patient data or could lead to it (the store, the log, the
reports, the PDF cache, the lock folder), so it is owner-only whatever the caller's
umask: every command sets the process umask to 077 before it writes (files 0600,
folders 0700), and no file is chmod-ed wider afterwards. `[reports] group = "name"`
shares the reports folder with one group: its run folders become 0750 and their files
0640, owned by that group; nothing else is shared (docs/operations.md).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "group_id", "owner_only", "share_with_group"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def owner_only() -> None:
    """From now on, what this process creates is readable by its owner only."""
    os.umask(0o077)


def group_id(name: str) -> int | None:
    """The id of group `name`, or None when this system has no such group."""
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def share_with_group(reports_dir: Path, run_folder: Path, gid: int) -> None:
    """Let group `gid` read the reports folder and one run's folder (0750/0640)."""
    for folder in (reports_dir, run_folder):
        os.chown(folder, -1, gid)
        os.chmod(folder, 0o750)
    for path in sorted(run_folder.rglob("*")):
        os.chown(path, -1, gid)
        os.chmod(path, 0o750 if path.is_dir() else 0o640)
