"""Mail to the subject's own address: the invitation, the withdrawal link, the reviewer's decision.

The platform sends these itself, so the capability links reach the person and never pass
through the researcher. A message carries a token: its body and its recipient are never logged,
and no error raised here quotes them.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from collections.abc import Iterable
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol

from ..logs import get_logger
from .errors import MailUnavailable
from .models import Use, as_utc
from .settings import ConsentSettings, SmtpTls

log = get_logger("lpm_guard.consent.mail")

DEFAULT_PORTS = {SmtpTls.TLS: 465, SmtpTls.STARTTLS: 587, SmtpTls.NONE: 25}
DESCRIBED_USES = {Use.OFFLINE: "offline video clips", Use.LIVE: "live, real-time video"}


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to its ``To`` address, or raise ``MailUnavailable``."""


class SmtpMailer:
    """One SMTP connection per message, as ``ConsentSettings`` configure it."""

    def __init__(self, settings: ConsentSettings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"SmtpMailer(host={self.settings.smtp_host!r}, tls={self.settings.smtp_tls})"

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        # (1): a server and a sender are configured; a password never goes out in clear.
        if not s.smtp_host:
            raise MailUnavailable(
                "no mail server is configured (LPM_CONSENT_SMTP_HOST): the platform sends "
                "invitations to the person itself, and cannot send this one"
            )
        if not s.mail_from:
            raise MailUnavailable("no sender address is configured (LPM_CONSENT_MAIL_FROM)")
        if s.smtp_username and s.smtp_password is None:
            raise MailUnavailable("an SMTP username without a password: LPM_CONSENT_SMTP_PASSWORD")
        if s.smtp_username and s.smtp_tls == SmtpTls.NONE and not _loopback(s.smtp_host):
            raise MailUnavailable(
                "SMTP credentials are configured without TLS: set LPM_CONSENT_SMTP_TLS to "
                "starttls or tls"
            )
        if "From" not in message:
            message["From"] = s.mail_from
        if "Message-ID" not in message:
            message["Message-ID"] = make_msgid(domain=parseaddr(s.mail_from)[1].rpartition("@")[2])
        port = s.smtp_port or DEFAULT_PORTS[s.smtp_tls]
        context = ssl.create_default_context()
        # (2): connect, upgrade, log in, send; any failure is one 503 that names its kind only.
        try:
            smtp = (
                smtplib.SMTP_SSL(s.smtp_host, port, timeout=s.smtp_timeout_s, context=context)
                if s.smtp_tls == SmtpTls.TLS
                else smtplib.SMTP(s.smtp_host, port, timeout=s.smtp_timeout_s)
            )
            with smtp:
                if s.smtp_tls == SmtpTls.STARTTLS:
                    smtp.starttls(context=context)
                if s.smtp_username and s.smtp_password is not None:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            kind = type(exc).__name__
            log.warning("consent mail not sent", host=s.smtp_host, port=port, error=kind)
            raise MailUnavailable(f"the mail server did not take the message ({kind})") from None
        log.info("consent mail sent", kind=message.get("X-Lpm-Guard-Message", ""))


def invitation_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/consent.html#{token}"


def withdrawal_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/consent.html#revoke={token}"


def invitation_message(
    *,
    to: str,
    display_name: str,
    researcher: str,
    uses: Iterable[Use],
    excluded_content: str,
    link: str,
    link_expires_at: datetime,
    consent_expires_at: datetime,
    attempts: int,
) -> EmailMessage:
    """Who asks, for what, until when; the link; how to say no and report the request."""
    body = f"""\
Hello,

{researcher} asks for your consent to make videos of your face with lpm-guard, a research
platform for portrait animation. They enrolled you as "{display_name}".

What they ask for: {_uses(uses)}.
What is excluded: {excluded_content or "nothing beyond the platform's content policy"}.
How long: until {_day(consent_expires_at)}, unless you withdraw earlier.

If you agree, open this link on a device with a camera and a microphone. The page asks you to
record a short live video (turn your head, blink, read a few digits and a statement), and a
person at the platform reviews it before anything is made:

    {link}

The link works until {_moment(link_expires_at)}, for {attempts} attempts. It is yours alone:
do not forward it.

If you do not agree, or do not know this researcher, open the same link and choose "Refuse".
You can also report the request to the platform's reviewers, and ask not to be invited again.
If you do nothing, nothing happens: without your recorded consent no video of you is made.
"""
    return _message(to, f"{researcher} asks for your consent", body, "invitation")


def withdrawal_message(
    *,
    to: str,
    display_name: str,
    researcher: str,
    uses: Iterable[Use],
    consent_expires_at: datetime,
    link: str,
) -> EmailMessage:
    """Sent once the subject's capture is recorded: the link to withdraw, at any time."""
    body = f"""\
Hello,

Your consent for {researcher} ({_uses(uses)}, as "{display_name}") was recorded. A reviewer at
the platform watches your recording before it takes effect; it ends on {_day(consent_expires_at)}.

You can withdraw it at any time with this link. Withdrawing stops every new video at once
and deletes your photos and your recording:

    {link}

Keep this message: the link is the only way to withdraw without contacting the platform, and
it is yours alone. When you withdraw you can also ask never to be invited again.
"""
    return _message(to, "Your consent: the link to withdraw it", body, "withdrawal")


def decision_message(*, to: str, researcher: str, approved: bool) -> EmailMessage:
    """The reviewer's decision on the subject's consent (no reasons: those are internal)."""
    if approved:
        subject = "Your consent was approved"
        text = (
            f"A reviewer approved your consent for {researcher}. You can still withdraw it\n"
            "at any time with the link in the message that confirmed your recording.\n"
        )
    else:
        subject = "Your consent was not accepted"
        text = (
            f"A reviewer did not accept your recorded consent for {researcher}: no video of\n"
            "you will be made. If you still wish to take part, ask the researcher to invite\n"
            "you again.\n"
        )
    return _message(to, subject, f"Hello,\n\n{text}", "decision")


def _message(to: str, subject: str, body: str, kind: str) -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = " ".join(subject.split())  # one line: no header injection
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Lpm-Guard-Message"] = kind
    message.set_content(body)
    return message


def _uses(uses: Iterable[Use]) -> str:
    return " and ".join(DESCRIBED_USES[Use(use)] for use in sorted(uses))


def _day(moment: datetime) -> str:
    return f"{as_utc(moment):%d %B %Y}"


def _moment(moment: datetime) -> str:
    return f"{as_utc(moment):%d %B %Y, %H:%M} UTC"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
