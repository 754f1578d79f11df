"""A synthetic REDCap sandbox in a process of its own, for the whole-run benchmarks.

The sandbox must not share the measured process: it would count in its CPU seconds and
peak memory, and compete for its GIL. `SandboxProcess(patients, sites)` generates the
registry and serves it in a child process, on a hand-driven clock that starts at
`START` (every record is stamped then); the parent moves that clock over the
sandbox's admin door and keeps the same time itself (`now`), so a benchmark can pass
`clock=sandbox.now` to the pull and step past the incremental pull's overlap, making
night 2 really fetch only what was edited.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import random
from datetime import datetime, timedelta
from typing import Any

import requests

__all__ = ["START", "SandboxProcess"]

START = datetime(2025, 7, 1, 2, 0, 0)


def _serve(patients: int, sites: int, seed: int, conn: Any) -> None:
    from registry.sandbox.clock import ManualClock
    from registry.sandbox.generator import GeneratorParams, generate
    from registry.sandbox.server import SandboxServer

    registry = generate(GeneratorParams(seed=seed, patients=patients, sites=sites))
    ids = sorted({r["record_id"] for r in registry.records})
    server = SandboxServer(registry, clock=ManualClock(START)).start()
    try:
        conn.send({"url": server.url, "admin": server.admin_url,
                   "project_token": server.tokens.project,
                   "dag_tokens": {d: server.tokens[d] for d in server.project.dag_ids},
                   "dags": [(d["unique_group_name"], d["data_access_group_name"])
                            for d in registry.dags],
                   "ids": ids, "rows": len(registry.records)})
        del registry
        conn.recv()  # any message (or the parent going away) stops the server
    except EOFError:
        pass
    finally:
        server.stop()


class SandboxProcess:
    """Serve a generated registry from a child process; `with SandboxProcess(...) as s:`."""

    def __init__(self, patients: int, sites: int, *, seed: int = 2025) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(patients, sites, seed, child),
                                 daemon=True)
        self.now_value = START

    def __enter__(self) -> SandboxProcess:
        self._proc.start()
        info = self._conn.recv()
        self.url: str = info["url"]
        self.admin: str = info["admin"]
        self.project_token: str = info["project_token"]
        self.dag_tokens: dict[str, str] = info["dag_tokens"]
        self.dags: list[tuple[str, str]] = info["dags"]
        self.ids: list[str] = info["ids"]
        self.rows: int = info["rows"]
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(10)

    def now(self) -> datetime:
        """The sandbox's time (REDCap server time, as the pull's clock expects)."""
        return self.now_value

    def advance(self, **delta: float) -> None:
        seconds = timedelta(**delta).total_seconds()
        requests.post(self.admin + "clock", json={"advance_seconds": seconds},
                      timeout=30).raise_for_status()
        self.now_value += timedelta(seconds=seconds)

    def edit(self, fraction: float, *, seed: int = 1, field: str = "baseline_notes") -> int:
        """Change one field of `fraction` of the records (at least one), at the sandbox's
        current time; return how many records were edited."""
        chosen = random.Random(seed).sample(self.ids, max(1, round(fraction * len(self.ids))))
        rows = [{"record_id": rid, "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
                 field: f"reviewed {self.now_value:%Y-%m-%d}"} for rid in chosen]
        for i in range(0, len(rows), 2000):
            response = requests.post(self.url, data={
                "token": self.project_token, "content": "record", "format": "json",
                "type": "flat", "data": json.dumps(rows[i:i + 2000]),
                "returnFormat": "json"}, timeout=300)
            response.raise_for_status()
        return len(chosen)
