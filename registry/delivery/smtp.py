"""Send one message over SMTP (smtplib): STARTTLS, SSL or plain, retried with backoff.

`send` never raises: it returns, per recipient, `sent` or `failed` with a one-line
reason (the server's code and words, or what went wrong with the connection) and how
many attempts it took. Transient failures (a refused or dropped connection, a timeout,
a 4xx answer) are retried `retries` times, waiting `backoff_seconds` x 1, 2, 4, ...;
permanent ones (5xx, a login refused, a certificate that does not verify) are not.
The password is never part of a reason, in any letter case.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from registry.delivery.config import DeliverySettings

__all__ = ["Attempted", "send"]


@dataclass(frozen=True)
class Attempted:
    """One recipient's outcome for one message."""

    recipient: str
    status: str                # sent | failed
    attempts: int
    reason: str | None


class _Failure(Exception):
    """A whole-message failure: `transient` ones are tried again."""

    def __init__(self, reason: str, transient: bool) -> None:
        super().__init__(reason)
        self.reason, self.transient = reason, transient


def _words(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    return " ".join(text.split())


def _reason(exc: BaseException) -> _Failure:
    """What went wrong, in one line, and whether trying again may help."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _Failure(f"login refused ({exc.smtp_code} {_words(exc.smtp_error)})", False)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        first = next(iter(exc.recipients.values()), (0, b""))
        return _Failure(f"recipients refused ({first[0]} {_words(first[1])})",
                        all(400 <= c < 500 for c in codes))
    if isinstance(exc, smtplib.SMTPResponseException):
        return _Failure(f"server answered {exc.smtp_code} {_words(exc.smtp_error)}",
                        400 <= exc.smtp_code < 500)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Failure(f"the server closed the connection ({_words(str(exc)) or 'no reason'})",
                        True)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _Failure(f"the server does not support it: {_words(str(exc))}", False)
    if isinstance(exc, ssl.SSLError):
        return _Failure(f"TLS failed ({_words(exc.reason or str(exc))})", False)
    if isinstance(exc, TimeoutError):
        return _Failure("timed out waiting for the server", True)
    if isinstance(exc, OSError):
        return _Failure(f"cannot connect ({_words(exc.strerror or str(exc))})", True)
    if isinstance(exc, smtplib.SMTPException):
        return _Failure(_words(str(exc)) or type(exc).__name__, True)
    return _Failure(f"{type(exc).__name__}: {_words(str(exc))}", False)


def _connect(cfg: DeliverySettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if cfg.security == "ssl":
        return smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_seconds,
                                context=context)
    smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_seconds)
    try:
        if cfg.security == "starttls":
            smtp.ehlo()
            smtp.starttls(context=context)
            smtp.ehlo()
    except BaseException:
        smtp.close()
        raise
    return smtp


def _send_once(cfg: DeliverySettings, msg: EmailMessage, to: Sequence[str],
               password: str | None) -> dict[str, str]:
    """One attempt; the recipients the server refused -> why (4xx kept apart by code)."""
    try:
        smtp = _connect(cfg)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a reason
        raise _reason(exc) from None
    try:
        if cfg.username:
            smtp.login(cfg.username, password or "")
        refused = smtp.send_message(msg, from_addr=cfg.sender, to_addrs=list(to))
    except Exception as exc:  # noqa: BLE001
        raise _reason(exc) from None
    finally:
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001 - the connection may be gone already
            smtp.close()
    return {rcpt: f"{code} {_words(text)}" for rcpt, (code, text) in refused.items()}


def redact(text: str, secret: str | None) -> str:
    """`text` with `secret` replaced by *** wherever it appears, in any letter case."""
    if not secret:
        return text
    return re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)


def send(cfg: DeliverySettings, msg: EmailMessage, recipients: Sequence[str],
         password: str | None, *, sleep: Callable[[float], None] = time.sleep
         ) -> list[Attempted]:
    """Send `msg` to `recipients`, retrying transient failures; one outcome each."""
    pending = list(recipients)
    done: dict[str, Attempted] = {}
    for attempt in range(1, cfg.retries + 2):
        last = attempt == cfg.retries + 1
        try:
            refused = _send_once(cfg, msg, pending, password)
        except _Failure as failure:
            if failure.transient and not last:
                sleep(cfg.backoff_seconds * 2 ** (attempt - 1))
                continue
            why = redact(failure.reason, password)
            done.update({r: Attempted(r, "failed", attempt, why) for r in pending})
            pending = []
            break
        retry = []
        for rcpt in pending:
            answer = refused.get(rcpt)
            if answer is None:
                done[rcpt] = Attempted(rcpt, "sent", attempt, None)
            elif answer.startswith("4") and not last:
                retry.append(rcpt)
            else:
                done[rcpt] = Attempted(rcpt, "failed", attempt,
                                       redact(f"recipient refused ({answer})", password))
        pending = retry
        if not pending:
            break
        sleep(cfg.backoff_seconds * 2 ** (attempt - 1))
    return [done[r] for r in recipients]
