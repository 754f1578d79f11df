"""Each layer of the log's redaction holds on its own, and lines keep their shape.

`configure_logging` gives every handler both the `RedactingFilter` and a formatter that
redacts the final text, so a mutant removing either layer is invisible through it. The
filter is also the one to put on any other handler (a scheduler's, a web server's):
here it works alone, under a plain `logging.Formatter`, for messages, arguments and
tracebacks. The formatter's lines are `<UTC time>Z LEVEL message`.
"""

from __future__ import annotations

import io
import logging
import re

from registry.log import RedactingFilter, configure_logging, get_logger, redact, register_secret

SECRET = "5EC12E7A5EC12E7A5EC12E7A5EC12E7A"


def test_the_filter_alone_redacts_messages_arguments_and_tracebacks() -> None:
    register_secret(SECRET)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("test_log_layers.plain")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("token=%s in an argument", SECRET)
        log.warning(f"token={SECRET} in the message")
        log.warning("nothing secret here: %d", 3)
        try:
            raise RuntimeError(f"refused {SECRET}")
        except RuntimeError:
            log.exception("failed")
        try:
            raise RuntimeError(f"again {SECRET}")
        except RuntimeError as exc:
            record = log.makeRecord(log.name, logging.ERROR, __file__, 1, "failed %s",
                                    ("twice",), (type(exc), exc, exc.__traceback__))
            record.exc_text = f"Traceback: {SECRET}"    # text a handler made earlier
            log.handle(record)
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert SECRET not in text
    assert "token=*** in an argument" in text and "token=*** in the message" in text
    assert "nothing secret here: 3" in text
    assert "RuntimeError: refused ***" in text and "Traceback: ***" in text
    assert "failed twice" in text


def test_lines_are_utc_time_level_message() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        get_logger("test").warning("event=x n=1")
    finally:
        configure_logging(console=False)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ WARNING event=x n=1\n",
                        stream.getvalue())


def test_eight_characters_at_least_and_a_secret_holding_another_hidden_whole() -> None:
    """Not only REDCap-shaped tokens (those the shape rule hides anyway): a password."""
    register_secret("Qz7Lm2Vx")              # 8 characters: hidden
    register_secret("qz7lm2vxPLUS9tail")     # holds the one above: hidden whole
    register_secret("short7x")               # 7: would blank out ordinary words
    register_secret("")
    assert redact("a QZ7LM2VX b") == "a *** b"
    assert redact("x qz7lm2vxplus9TAIL y") == "x *** y"
    assert redact("a short7x word") == "a short7x word"
