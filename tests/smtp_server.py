"""Real SMTP servers on loopback for the delivery tests (aiosmtpd), and one that hangs up.

`Inbox` is an aiosmtpd handler that keeps every message it accepts, refuses the
recipients it is told to (`refuse[address] = "550 ..."`), and checks a login against
one user and password. `start_inbox()` serves it on a free loopback port;
`hang_up_server()` accepts connections and closes them at once (a server that drops
the connection: what smtplib sees as `SMTPServerDisconnected`).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "registry-mailer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]

    def attachments(self) -> dict[str, Any]:
        """file name -> content (bytes; str for a text/* part)."""
        return {part.get_filename(): part.get_content()
                for part in self.message.iter_attachments()}


@dataclass
class Inbox:
    password: str | None = None
    refuse: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content))
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
              and auth_data.password.decode() == self.password)
        self.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword)
                            else "?", ok))
        return AuthResult(success=ok, handled=False)  # False: the server answers 535

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]


@contextmanager
def start_inbox(inbox: Inbox) -> Iterator[int]:
    """Serve `inbox` on a free loopback port (login required when it has a password)."""
    port = free_port()
    kwargs: dict[str, Any] = {}
    if inbox.password is not None:
        kwargs = {"authenticator": inbox.authenticate, "auth_require_tls": False,
                  "auth_required": True}
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextmanager
def hang_up_server() -> Iterator[tuple[int, list[int]]]:
    """A loopback port whose server closes every connection at once; yields (port,
    [connections accepted])."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1]), accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()
