"""`/_sandbox/...`: the sandbox's admin door (not part of REDCap), for tests and scripts
driving a server, possibly in another process. JSON in, JSON out.

- `GET  /_sandbox/health`      -> `{"status": "ok", "records": N, "now": ..., ...}`
- `GET  /_sandbox/faults`      -> `{"faults": [...], "rate_limit": N, "banned": [...]}`
- `POST /_sandbox/faults`      one fault object or a list, e.g. `{"kind": "status",
  "status": 503, "count": 2, "after": 1, "content": "record"}` (keys as `Faults.add`;
  `content` `"module"` targets the Data Quality module); answers the health
- `DELETE /_sandbox/faults` (or `POST /_sandbox/faults/clear`): drop every fault, lift bans
- `POST /_sandbox/rate_limit`  `{"per_minute": N}`
- `POST /_sandbox/clock`       `{"advance_seconds": S}` (only with a `ManualClock`)

The Data Resolution Workflow, so a test can play the site coordinator
(`registry.sandbox.dq`):
- `GET  /_sandbox/dq`          -> settings, users, every query with its thread, orphans
- `POST /_sandbox/dq/settings` `{"enabled": bool, "drw": 0|1|2}`
- `POST /_sandbox/dq/open`     `{"record", "field", "comment", "event"?, "instance"?,
  "username"?, "assigned_username"?}` -> the query (export shape)
- `POST /_sandbox/dq/respond`  `{"status_id", "response", "comment", "username"?}`
  (e.g. `"response": "CONFIRMED_CORRECT"`)
- `POST /_sandbox/dq/close` / `/_sandbox/dq/reopen` `{"status_id", "comment"?, "username"?}`
- `POST /_sandbox/dq/resolution` `{"status_id", "comment", "status"?, "response"?,
  "response_requested"?, "username"?}` (any step of a thread)
- `POST /_sandbox/record`      `{"record", "field", "value", "event"?, "instance"?,
  "username"?}`: a coordinator changes a value on the form (checked as an import is;
  answers `{"count": 1}` or 400 with REDCap's lines)
"""

from __future__ import annotations

from typing import Any

from registry.sandbox.clock import ManualClock
from registry.sandbox.dq import DqError
from registry.sandbox.imports import ImportRefused

#: The running `SandboxServer` (typed loosely: the server imports this module).
SandboxServer = Any

__all__ = ["AdminError", "admin_get", "admin_post"]


class AdminError(Exception):
    """An admin request that cannot be done: HTTP `status` and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def admin_get(sandbox: SandboxServer, path: str) -> Any:
    if path == "/_sandbox/health":
        return sandbox.health()
    if path == "/_sandbox/faults":
        return sandbox.faults.snapshot()
    if path == "/_sandbox/dq":
        return sandbox.dq.snapshot()
    raise AdminError(404, f"no admin endpoint {path}")


def admin_post(sandbox: SandboxServer, path: str, data: Any) -> Any:
    """Run one admin request; raise `AdminError` (or ValueError/KeyError/TypeError for a
    malformed body, answered 400)."""
    if path.startswith("/_sandbox/dq"):
        try:
            return _dq(sandbox, path.removeprefix("/_sandbox/dq").strip("/"), data)
        except DqError as exc:
            raise AdminError(400, str(exc)) from exc
    if path == "/_sandbox/record":
        try:
            return sandbox.set_value(str(data["record"]), str(data["field"]),
                                     str(data["value"]), event=str(data.get("event", "")),
                                     instance=data.get("instance"),
                                     username=str(data.get("username", "coordinator")))
        except ImportRefused as exc:
            raise AdminError(400, exc.message) from exc
    if path == "/_sandbox/faults":
        for spec in data if isinstance(data, list) else [data]:
            sandbox.faults.add(**spec)
    elif path == "/_sandbox/faults/clear":
        sandbox.faults.clear()
    elif path == "/_sandbox/rate_limit":
        sandbox.faults.set_rate_limit(int(data["per_minute"]))
    elif path == "/_sandbox/clock":
        if not isinstance(sandbox.clock, ManualClock):
            raise AdminError(409, "this server runs on real time")
        sandbox.clock.advance(float(data["advance_seconds"]))
    else:
        raise AdminError(404, f"no admin endpoint {path}")
    return sandbox.health()


def _dq(sandbox: SandboxServer, action: str, data: dict[str, Any]) -> Any:
    dq = sandbox.dq
    user = str(data.get("username", "coordinator"))
    if action == "settings":
        if "enabled" in data:
            dq.enabled = bool(data["enabled"])
        if "drw" in data:
            dq.drw = int(data["drw"])
        return dq.snapshot()
    if action == "open":
        query = dq.open_query(str(data["record"]), str(data["field"]), str(data["comment"]),
                              event=str(data.get("event", "")),
                              instance=int(data.get("instance") or 1), username=user,
                              assigned_username=data.get("assigned_username"))
        return dq.status_row(query)
    status_id = int(data["status_id"])
    comment = str(data.get("comment", ""))
    if action == "respond":
        dq.respond(status_id, str(data["response"]), comment, username=user)
    elif action == "close":
        dq.close(status_id, comment, username=user)
    elif action == "reopen":
        dq.reopen(status_id, comment, username=user)
    elif action == "resolution":
        dq.add_resolution(status_id, comment, status=str(data.get("status", "")),
                          response=str(data.get("response", "")),
                          response_requested=bool(data.get("response_requested")),
                          username=user)
    else:
        raise AdminError(404, f"no admin endpoint /_sandbox/dq/{action}")
    return dq.status_row(dq.statuses[status_id])
