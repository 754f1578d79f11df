"""A server that echoes the token back, lower-cased (issue 11.6).

Before: redaction matched the exact case only, so the echoed token reached stderr,
the log, runs.message, `registry status` and the study PDF. Here a fake REDCap on
loopback answers every request through the client's real token path (PyCap's POST)
with a 403 whose error text holds the token in lower case, plus another token-shaped
value; neither may show on stdout, stderr, in the log, in the store's bytes or in
`registry status`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from registry.commands.pull import pull_command
from registry.commands.status import status_command
from registry.log import configure_logging

TOKEN = "ABCDEF0123456789ABCDEF0123456789"
STRANGER = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"  # someone else's token, never registered


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        params = dict(parse_qsl(self.rfile.read(length).decode()))
        body = json.dumps({"error": f"token {params.get('token', '').lower()} (or {STRANGER}) "
                                    "has no API rights"}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_token_echoed_in_lower_case_shows_nowhere(echo_url, tmp_path: Path, monkeypatch,
                                                    capsys):
    monkeypatch.setenv("ECHO_TOKEN", TOKEN)
    settings = tmp_path / "settings.toml"
    settings.write_text(
        '[store]\nurl = "sqlite:///var/store.sqlite"\n[log]\nfile = "var/registry.log"\n'
        "[pull]\nretries = 0\nbackoff_seconds = 0\n"
        f'[[sites]]\nname = "paris"\nurl = "{echo_url}"\ntoken_env = "ECHO_TOKEN"\n',
        encoding="utf-8")
    try:
        code = pull_command(settings, verbose=True)
        status_command(settings)
    finally:
        configure_logging(console=False)
    out, err = capsys.readouterr()
    assert code == 1 and "site 'paris'" in err and "403" in err and "***" in err
    texts = {"stdout": out, "stderr": err,
             "log": (tmp_path / "var" / "registry.log").read_text(encoding="utf-8")}
    texts.update({p.name: p.read_bytes().decode("latin-1")
                  for p in (tmp_path / "var").glob("store.sqlite*")})
    leaks = [name for name, text in texts.items()
             for secret in (TOKEN, STRANGER) if secret.lower() in text.lower()]
    assert leaks == []
