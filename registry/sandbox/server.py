"""`SandboxServer`: a sandbox project behind a threaded HTTP server on loopback.

`/api/` speaks REDCap's API (`registry.sandbox.api`), and with `?type=module&prefix=
vanderbilt_dataQuality&page=export|import&NOAUTH&pid=N` the Data Quality API module
(`registry.sandbox.dq_module`) over the project's Data Resolution Workflow
(`server.dq`, `registry.sandbox.dq`). `/_sandbox/...` is a small admin door, not part of
REDCap, so a test can drive a server in another process: faults, rate limit, clock, and
the DRW as a coordinator sees it (`registry.sandbox.admin` lists the endpoints).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from registry.errors import RegistryError
from registry.sandbox import api
from registry.sandbox.admin import AdminError, admin_get, admin_post
from registry.sandbox.clock import Clock, SystemClock
from registry.sandbox.dq import DataQuality
from registry.sandbox.dq_module import handle_module
from registry.sandbox.faults import BAN_MESSAGE, PROXY_PAGE, Faults
from registry.sandbox.folder import ProjectFolder, read_folder
from registry.sandbox.formats import Reply, error_reply, text_reply
from registry.sandbox.imports import ImportRefused, parse_import
from registry.sandbox.project import Project
from registry.sandbox.tokens import Scope, Tokens

__all__ = ["SandboxPortInUse", "SandboxServer"]


class SandboxPortInUse(RegistryError):
    """The sandbox could not bind its port."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    sandbox: SandboxServer

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-reply (a timeout under load, a test's dropped
        connection) is no server error; anything else is printed as socketserver does."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.sockets_lock:
                self.open_sockets.discard(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache"
    sys_version = ""
    timeout = 60
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK
        # would add ~40 ms to every reply
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    # -- plumbing ----------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _json(self, status: int, data: Any) -> None:
        self._send(Reply(status, "application/json; charset=utf-8",
                         json.dumps(data).encode("utf-8")))

    def _not_post(self) -> None:
        path = urlsplit(self.path).path
        if path.rstrip("/") == "/api":
            self._send(error_reply(501, "The REDCap API accepts POST requests only", "xml"))
        else:
            self._send(text_reply("Not Found", 404, "text/plain"))

    # -- verbs -------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = urlsplit(self.path).path.rstrip("/")
        if path.startswith("/_sandbox/"):
            try:
                self._json(200, admin_get(self.server.sandbox, path))
            except AdminError as exc:
                self._json(exc.status, {"error": str(exc)})
        else:
            self._not_post()

    do_PUT = do_PATCH = do_HEAD = _not_post  # noqa: N815

    def do_DELETE(self) -> None:  # noqa: N802
        if urlsplit(self.path).path.rstrip("/") == "/_sandbox/faults":
            self.server.sandbox.faults.clear()
            self._json(200, self.server.sandbox.faults.snapshot())
        else:
            self._not_post()

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        body = self._body()
        if url.path.startswith("/_sandbox/"):
            self._admin(url.path.rstrip("/"), body)
        elif url.path.rstrip("/") == "/api":
            self._api(body, dict(parse_qsl(url.query, keep_blank_values=True)))
        else:
            self._send(text_reply("Not Found", 404, "text/plain"))

    # -- /_sandbox ---------------------------------------------------------------------
    def _admin(self, path: str, body: bytes) -> None:
        try:
            self._json(200, admin_post(self.server.sandbox, path, json.loads(body or b"{}")))
        except AdminError as exc:
            self._json(exc.status, {"error": str(exc)})
        except (ValueError, TypeError, KeyError) as exc:
            self._json(400, {"error": str(exc)})

    # -- /api/ -------------------------------------------------------------------------
    def _api(self, body: bytes, query: dict[str, str]) -> None:
        sandbox = self.server.sandbox
        params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        address = self.client_address[0]
        faults = sandbox.faults
        if faults.is_banned(address):
            self._banned(address)
            return
        module = query.get("type") == "module"
        content = "module" if module else params.get("content", "")
        export = (content == "record" and "data" not in params
                  and params.get("action", "").lower() not in ("delete", "import"))
        decision = faults.decide(content, address, record_export=export,
                                 token=params.get("token", "").strip())
        if decision.delay:
            time.sleep(decision.delay)
        fault = decision.fault
        kind = fault.kind if fault else None
        if kind == "ban":
            self._banned(address)
            return
        if kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if kind == "status" and fault is not None:
            phrase = self.responses.get(fault.status, ("Error",))[0]
            self._send(text_reply(f"{fault.status} {phrase}", fault.status, "text/plain"))
            return
        if kind == "echo" and fault is not None:
            quoted = " ".join(f"{k}={v}" for k, v in  # the token first, as a log would
                              sorted(params.items(), key=lambda kv: kv[0] != "token"))
            self._send(text_reply(f"ERROR: cannot handle the request ({quoted})", fault.status,
                                  "text/plain"))
            return
        if kind == "html":
            self._send(text_reply(PROXY_PAGE, 502, "text/html"))
            return
        try:
            if module:
                token = params.get("token", "").strip()
                reply = handle_module(sandbox.dq, query, params, token.isalnum() and
                                      sandbox.project.scope_for(token) is not None)
            else:
                reply = api.handle(sandbox.project, params,
                                   drop_rows=fault.drop if kind == "drop_rows" and fault
                                   else None)
        except Exception:  # a sandbox bug: answer like a crashed PHP page, keep the trace
            traceback.print_exc()
            reply = text_reply("Internal Server Error", 500, "text/plain")
        if kind == "truncate" and fault is not None:
            cut = int(len(reply.body) * (0.5 if fault.fraction is None else fault.fraction))
            self.close_connection = True
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body[:cut])
            return
        self._send(reply)

    def _banned(self, address: str) -> None:
        self._send(text_reply(BAN_MESSAGE.format(ip=address), 429, "text/plain"))


class SandboxServer:
    """A REDCap-compatible API for one sandbox project, on loopback, in a thread.

    `SandboxServer(registry)` takes a `SyntheticRegistry` (or a ready `Project`);
    `SandboxServer.from_folder(path)` serves a project kept as files;
    `start()`/`stop()` or `with SandboxServer(...) as server:`; then `server.url`
    (ends `/api/`), `server.tokens.project`, `server.tokens["paris"]`,
    `server.project`, `server.faults`, `server.clock`.
    """

    def __init__(self, registry: Any = None, *, project: Project | None = None,
                 host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None,
                 rate_limit: int = 0) -> None:
        if (registry is None) == (project is None):
            raise ValueError("give a registry or a project, not both")
        self.clock: Clock = clock or (project.clock if project else SystemClock())
        self.registry = registry
        self.folder: ProjectFolder | None = None  # set by `from_folder`
        self.project = project or Project.from_registry(registry, clock=self.clock)
        self.faults = Faults(rate_limit)
        self.dq = DataQuality(self.project)
        self.host, self._port = host, port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_folder(cls, path: Any, *, host: str = "127.0.0.1", port: int = 0,
                    clock: Clock | None = None, rate_limit: int = 0) -> SandboxServer:
        """A server for the project kept in folder `path` (see `registry.sandbox.folder`);
        a missing or unreadable file is a `FolderError` naming it."""
        folder = read_folder(path)
        project = Project.from_folder(folder, clock=clock or SystemClock())
        server = cls(project=project, host=host, port=port, rate_limit=rate_limit)
        server.folder = folder
        return server

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> SandboxServer:
        """Bind and serve in a background thread; `SandboxPortInUse` if the port is taken."""
        if self._httpd is not None:
            return self
        try:
            self._httpd = _HTTPServer((self.host, self._port), self)
        except OSError as exc:
            raise SandboxPortInUse(
                f"cannot serve the sandbox on {self.host}:{self._port}: {exc.strerror}; "
                "stop what uses it or pass --port 0 for a free port") from exc
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            "poll_interval": 0.05}, name=f"sandbox:{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with httpd.sockets_lock:
            for sock in list(httpd.open_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests and the CLI use ------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}/"

    @property
    def url(self) -> str:
        """The API URL, ending `/api/` as PyCap requires."""
        return f"{self.base_url}api/"

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}_sandbox/"

    @property
    def tokens(self) -> Tokens:
        return self.project.tokens

    @property
    def truth(self) -> Any:
        return getattr(self.registry, "truth", None)

    def set_value(self, record: str, field: str, value: str, *, event: str = "",
                  instance: int | None = None, username: str = "coordinator"
                  ) -> dict[str, int]:
        """A coordinator changes one value on the form (a blank value erases it); checked
        as an import is (`ImportRefused` with REDCap's lines), logged as `username`."""
        project = self.project
        schema, design = project.schema, project.design
        col = schema.column_index.get(field)
        if col is None:
            raise ImportRefused(f"The following fields were not found in the project as "
                                f"real data fields: {field}")
        row = {schema.id_field: record, field: value}
        if design.longitudinal:
            event = event or design.event_names[0]
            row["redcap_event_name"] = event
        if design.is_repeating_event(event) or design.is_repeating_form(col.form, event):
            row["redcap_repeat_instrument"] = "" if design.is_repeating_event(event) \
                else col.form
            row["redcap_repeat_instance"] = str(instance or 1)
        scope = Scope(username)
        with project.lock:
            rows = parse_import(project, scope, json.dumps([row]), "json", overwrite=True)
            project.import_rows(scope, rows, overwrite=True)
        return {"count": 1}

    def health(self) -> dict[str, Any]:
        with self.project.lock:
            n = len(self.project.records)
        return {"status": "ok", "url": self.url, "records": n,
                "dags": list(self.project.dag_ids), "now": str(self.clock.now()),
                **self.faults.snapshot()}
