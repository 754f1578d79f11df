"""Structured log lines, with every known secret redacted.

One line per event, `key=value` pairs after the event name, e.g.
`2026-11-25T13:40:01Z INFO event=pull.batch site=paris n=200 ms=143`, so a scheduler's
mail or `grep event=pull.failed` reads them as easily as a person does. Lines go to
stderr and, when settings name one, to a log file.

Defence in depth for tokens: `register_secret` adds a value that the `RedactingFilter`
on every handler replaces with `***` in the final text of every record, whichever
logger (ours, urllib3, requests) wrote it, in any letter case (a server may echo a
token lower-cased); anything shaped like a REDCap token (32 hex characters) is hidden
too. The REDCap client registers its token before the first request; every
`RegistryError` message, and so stderr, the store's run messages, `registry status`
and the reports, goes through the same `redact`.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "RedactingFilter",
    "configure_logging",
    "event",
    "get_logger",
    "looks_like_token",
    "redact",
    "register_secret",
]

_ROOT = "registry"
_secrets: set[str] = set()
_lock = threading.Lock()
#: Anything shaped like a REDCap API token (32 hex characters, either case) is hidden
#: even when nobody registered it: a token pasted in the wrong place, another site's.
_TOKEN_SHAPE = r"(?<![0-9A-Za-z])[0-9A-Fa-f]{32}(?![0-9A-Za-z])"
_pattern: re.Pattern[str] = re.compile(_TOKEN_SHAPE)


def looks_like_token(value: str) -> bool:
    """Whether `value` is (or holds) something shaped like a REDCap API token."""
    return re.search(_TOKEN_SHAPE, value) is not None


def register_secret(value: str) -> None:
    """Make `value` show as `***` (in any letter case) in every log line and in
    `redact()` from now on."""
    global _pattern
    if value and len(value) >= 8:  # a short value would blank out ordinary words
        with _lock:
            _secrets.add(value.lower())
            known = "|".join(re.escape(v) for v in sorted(_secrets, key=len, reverse=True))
            _pattern = re.compile(f"{known}|{_TOKEN_SHAPE}", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with every registered secret, in any letter case, and everything shaped
    like a REDCap token replaced by `***`."""
    with _lock:
        pattern = _pattern
    return pattern.sub("***", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its traceback text) with every secret as `***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class _Formatter(logging.Formatter):
    converter = staticmethod(time.gmtime)  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _value(value: Any) -> str:
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    if text == "" or any(c.isspace() or c in '"=' for c in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
    return text


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured line: `event=<name> key=value ...` (values quoted when needed)."""
    if logger.isEnabledFor(level):
        parts = [f"event={name}"] + [f"{k}={_value(v)}" for k, v in fields.items()
                                     if v is not None]
        logger.log(level, " ".join(parts))


def get_logger(name: str = "") -> logging.Logger:
    """The `registry` logger or one of its children."""
    return logging.getLogger(f"{_ROOT}.{name}" if name else _ROOT)


def configure_logging(log_file: Path | None = None, *, level: int = logging.INFO,
                      stream: TextIO | None = None, console: bool = True) -> None:
    """Send `registry` log lines to stderr (unless `console` is false) and to `log_file`.

    Replaces handlers installed by an earlier call, so calling it twice (tests, the
    nightly calling the pull) never doubles lines.
    """
    root = logging.getLogger(_ROOT)
    for handler in list(root.handlers):
        if getattr(handler, "_registry_handler", False):
            root.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = []
    if console:
        handlers.append(logging.StreamHandler(stream or sys.stderr))
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(_Formatter())
        handler.addFilter(RedactingFilter())
        handler._registry_handler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
