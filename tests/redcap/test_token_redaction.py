"""A token the server prints back never reaches a log line, stderr, the store or a message.

The site's real token path: the token lives in an environment variable named by the
site, `RedcapClient` reads it through `Site.token()` and registers it for redaction, the
sandbox (a fresh one: a token no other test registered) answers every dictionary request
with an error page that quotes the request, token first (a debugging proxy, a module's
error page). The nightly then fails its pull (5xx: retried, then unreachable; 403:
refused) and records why in the store, logs at DEBUG to its file and to stderr.

The log's token-shape rule alone would hide a REDCap-shaped token standing by itself, so
the test also checks the token was registered: glued between letters (no shape rule
matches it there) it is still redacted.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from registry.errors import RegistryError
from registry.log import configure_logging, redact
from registry.run import run_nightly
from registry.sandbox.server import SandboxServer
from registry.settings import Site
from tests.redcap.pull_support import settings_for


@pytest.mark.parametrize("status", [500, 403])
def test_an_echoed_token_is_redacted_everywhere(sandbox: SandboxServer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str],
                                                status: int) -> None:
    token = sandbox.tokens.project
    monkeypatch.setenv("ECHO_TEST_TOKEN", token)
    settings = settings_for(tmp_path, [Site(name="paris", url=sandbox.url,
                                            token_env="ECHO_TEST_TOKEN")])
    sandbox.faults.add("echo", status=status, content="metadata", count=None)
    configure_logging(settings.log_file, level=logging.DEBUG)       # stderr and the file
    try:
        with pytest.raises(RegistryError) as caught:
            run_nightly(settings, clock=sandbox.clock.now, show_progress=False)
    finally:
        configure_logging(console=False)
    err = capsys.readouterr().err
    log_text = settings.log_file.read_text(encoding="utf-8")
    # the server did print the token, and it arrived redacted
    assert sandbox.faults.rules[0].fired >= 1
    assert "token=*** " in log_text and "token=*** " in err
    store_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("store.sqlite*"))
    assert b"token=***" in store_bytes                       # the run's recorded failure
    # registered by the client itself, not only hidden by the token-shape rule
    assert token not in redact(f"Z{token}Z") and token.lower() not in redact(
        f"Z{token.lower()}Z")
    for variant in (token, token.lower()):
        assert variant not in log_text and variant not in err
        assert variant not in str(caught.value) and variant not in repr(caught.value)
        assert variant.encode() not in store_bytes
