"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: tests read the
messages the gate sends, take the link out of them, and follow it as the subject would."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SENDER = "lpm-guard consent <consent@lpm.example.org>"
_LINK = re.compile(r"https?://\S+/consent\.html#(revoke=)?([A-Za-z0-9_\-]+)")


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def settings(self) -> dict[str, Any]:
        """``ConsentSettings`` fields that send here (plain SMTP: loopback only)."""
        return {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_tls": "none",
            "mail_from": SENDER,
        }

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def last(self, address: str | None = None) -> EmailMessage:
        found = self.to(address) if address is not None else self.messages
        assert found, f"no message to {address or 'anyone'}"
        return found[-1]

    def links(self, message: EmailMessage) -> list[str]:
        return [m.group(0) for m in _LINK.finditer(text(message))]

    def invitation_token(self, address: str | None = None) -> str:
        """The token of the last invitation link sent (to ``address``)."""
        return self._token(address, revoke=False)

    def withdrawal_token(self, address: str | None = None) -> str:
        return self._token(address, revoke=True)

    def _token(self, address: str | None, *, revoke: bool) -> str:
        found = self.to(address) if address is not None else self.messages
        for message in reversed(found):
            for match in _LINK.finditer(text(message)):
                if bool(match.group(1)) == revoke:
                    return match.group(2)
        raise AssertionError(f"no {'withdrawal' if revoke else 'invitation'} link was sent")


def text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.box.messages.append(message)
        return "250 OK"


def free_port() -> int:
    """A port nothing listens on (until someone binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(*, login: tuple[str, str] | None = None) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 and a free port; with ``login``, it requires AUTH with
    that user and password (over plain SMTP: loopback only; aiosmtpd warns of it on every
    connection: ``filterwarnings("ignore:Requiring AUTH while not requiring TLS")``)."""
    box = Mailbox("127.0.0.1", free_port())
    options: dict[str, Any] = {}
    if login is not None:

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
        ) -> AuthResult:
            if isinstance(auth_data, LoginPassword):
                user, password = auth_data.login.decode(), auth_data.password.decode()
                box.logins.append((user, password))
                # handled=False: the server answers 535 itself on a failure.
                return AuthResult(success=(user, password) == login, handled=False)
            return AuthResult(success=False, handled=False)

        options = {"authenticator": authenticate, "auth_require_tls": False, "auth_required": True}
    # The loopback server stands for the subject's own mail server: its debug log (every line
    # it receives, links included) is not ours and stays quiet.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(_Handler(box), hostname=box.host, port=box.port, **options)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
