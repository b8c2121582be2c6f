"""The SMTP mailer against a real server on loopback, the messages, and the subject's address."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from pydantic import SecretStr

from lpm_guard.consent import addresses
from lpm_guard.consent.errors import InvalidAddress, MailUnavailable
from lpm_guard.consent.mail import (
    DEFAULT_PORTS,
    SmtpMailer,
    invitation_message,
    withdrawal_message,
)
from lpm_guard.consent.models import Use
from lpm_guard.consent.settings import ConsentSettings, SmtpTls
from lpm_guard.keys import DataCipher, secret_key_id
from tests import mailbox
from tests.mailbox import Mailbox, text

WHEN = datetime(2027, 3, 1, 12, 30, tzinfo=UTC)


def _invitation(
    to: str = "ada@example.org", link: str = "https://lpm.test/consent.html#t"
) -> EmailMessage:
    return invitation_message(
        to=to,
        display_name="Ada",
        researcher="Grace Hopper, Yale University",
        uses=[Use.LIVE],
        excluded_content="",
        link=link,
        link_expires_at=WHEN,
        consent_expires_at=WHEN,
        attempts=5,
    )


def test_the_invitation_says_who_asks_for_what_until_when(smtp_server: Mailbox) -> None:
    link = f"https://lpm.test/consent.html#{secrets.token_urlsafe(32)}"
    message = _invitation(link=link)
    SmtpMailer(ConsentSettings(**smtp_server.settings())).send(message)
    received = smtp_server.last("ada@example.org")
    body = text(received)
    assert received["Subject"] == "Grace Hopper, Yale University asks for your consent"
    assert received["From"] == mailbox.SENDER and received["Message-ID"].endswith(
        "@lpm.example.org>"
    )
    assert received["Auto-Submitted"] == "auto-generated"
    assert "live, real-time video" in body and "offline" not in body
    assert "01 March 2027, 12:30 UTC" in body and "5 attempts" in body
    assert "nothing beyond the platform's content policy" in body
    assert smtp_server.links(received) == [link]


def test_the_withdrawal_message_carries_the_revoke_link(smtp_server: Mailbox) -> None:
    link = "https://lpm.test/consent.html#revoke=abc"
    message = withdrawal_message(
        to="ada@example.org",
        display_name="Ada",
        researcher="Grace Hopper",
        uses=[Use.OFFLINE, Use.LIVE],
        consent_expires_at=WHEN,
        link=link,
    )
    SmtpMailer(ConsentSettings(**smtp_server.settings())).send(message)
    assert smtp_server.withdrawal_token() == "abc"
    assert "live, real-time video and offline video clips" in text(smtp_server.last())


def test_a_newline_in_a_name_does_not_inject_headers() -> None:
    message = invitation_message(
        to="ada@example.org",
        display_name="Ada",
        researcher="Eve\r\nBcc: everyone@example.org",
        uses=[Use.LIVE],
        excluded_content="",
        link="https://lpm.test/consent.html#t",
        link_expires_at=WHEN,
        consent_expires_at=WHEN,
        attempts=5,
    )
    assert "Bcc" not in message
    assert "\n" not in str(message["Subject"])


def test_without_a_server_nothing_is_sent() -> None:
    with pytest.raises(MailUnavailable, match="LPM_CONSENT_SMTP_HOST") as unset:
        SmtpMailer(ConsentSettings(smtp_host=None)).send(_invitation())
    assert unset.value.status == 503 and unset.value.slug == "mail-unavailable"
    with pytest.raises(MailUnavailable, match="LPM_CONSENT_MAIL_FROM"):
        SmtpMailer(ConsentSettings(smtp_host="127.0.0.1", mail_from=None)).send(_invitation())


def test_a_server_that_is_down_is_a_503(smtp_server: Mailbox) -> None:
    settings = ConsentSettings(**{**smtp_server.settings(), "smtp_port": mailbox.free_port()})
    with pytest.raises(MailUnavailable, match="ConnectionRefusedError"):
        SmtpMailer(settings).send(_invitation())


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_and_the_password_never_logged(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "s3cret-" + secrets.token_hex(4)
    with mailbox.smtp_server(login=("lpm", password)) as box:
        good = ConsentSettings(**box.settings(), smtp_username="lpm", smtp_password=password)
        SmtpMailer(good).send(_invitation())
        assert box.logins == [("lpm", password)] and len(box.messages) == 1
        wrong = good.model_copy(update={"smtp_password": SecretStr("wrong")})
        with pytest.raises(MailUnavailable, match="SMTPAuthenticationError"):
            SmtpMailer(wrong).send(_invitation())
        unset = good.model_copy(update={"smtp_password": None})
        with pytest.raises(MailUnavailable, match="LPM_CONSENT_SMTP_PASSWORD"):
            SmtpMailer(unset).send(_invitation())
        assert len(box.messages) == 1
    assert password not in repr(good) and password not in repr(SmtpMailer(good))
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert not any(password in f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert password not in "".join(capsys.readouterr())


def test_credentials_never_go_out_in_clear() -> None:
    settings = ConsentSettings(
        smtp_host="mail.example.org",
        smtp_tls=SmtpTls.NONE,
        smtp_username="lpm",
        smtp_password="secret",
        mail_from="consent@example.org",
    )
    with pytest.raises(MailUnavailable, match="without TLS"):
        SmtpMailer(settings).send(_invitation())


def test_the_port_follows_the_tls_mode() -> None:
    assert ConsentSettings().smtp_tls == SmtpTls.STARTTLS
    assert [DEFAULT_PORTS[m] for m in SmtpTls] == [25, 587, 465]


def test_addresses_are_normalised_masked_and_hashed() -> None:
    assert addresses.normalise("  Ada.Smith@Example.ORG ") == "Ada.Smith@example.org"
    assert addresses.normalise("ada@bücher.example") == "ada@xn--bcher-kva.example"
    assert addresses.mask("ada@example.org") == "a***@example.org"
    key = secrets.token_bytes(32)
    cipher = DataCipher(secret_key_id(key), {secret_key_id(key): key})
    same = addresses.hashes(cipher, "ADA@example.org")
    assert same == addresses.hashes(cipher, "ada@EXAMPLE.org")
    assert same != addresses.hashes(cipher, "bob@example.org")
    for bad in [
        "ada@example.org\n",
        "ad\ta@example.org",
        "a" * 250 + "@example.org",
        "@example.org",
    ]:
        with pytest.raises(InvalidAddress):
            addresses.normalise(bad)
