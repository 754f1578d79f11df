"""Structured log lines; registered secrets never reach a handler's output."""

from __future__ import annotations

import io
import logging

from registry.log import configure_logging, event, get_logger, redact, register_secret


def test_event_lines_are_key_value_and_secrets_are_redacted(tmp_path):
    secret = "C0FFEE00C0FFEE00C0FFEE00C0FFEE00"
    register_secret(secret)
    stream = io.StringIO()
    log_file = tmp_path / "run.log"
    configure_logging(log_file, stream=stream)
    log = get_logger("test")
    event(log, "pull.batch", site="paris", n=200, note="two words")
    log.warning("token=%s leaked", secret)
    try:
        raise ValueError(f"bad {secret}")
    except ValueError:
        log.exception("failed")
    logging.getLogger("registry").handlers[0].flush()
    for text in (stream.getvalue(), log_file.read_text()):
        assert 'event=pull.batch site=paris n=200 note="two words"' in text
        assert "token=*** leaked" in text
        assert secret not in text
    assert redact(f"x{secret}y") == "x***y"
    configure_logging(console=False)


def test_redaction_ignores_letter_case_and_hides_anything_token_shaped():
    secret = "Tok3nWithMixedCase-not-hex"
    register_secret(secret)
    assert redact(f"a {secret.upper()} b {secret.lower()} c") == "a *** b *** c"
    stranger = "deadbeef" * 4  # 32 hex characters nobody registered
    assert redact(f"token={stranger}.") == "token=***."
    assert redact(f"token={stranger.upper()}") == "token=***"
    # a longer hex run (a SHA-256) or a shorter one is not a REDCap token
    assert redact("a" * 64) == "a" * 64 and redact("b" * 31) == "b" * 31
    from registry.errors import RegistryError
    assert str(RegistryError(f"site 'x': refused ({stranger})")) == "site 'x': refused (***)"
