"""Consent settings, read from the environment with the ``LPM_CONSENT_`` prefix."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SmtpTls(StrEnum):
    NONE = "none"  # plain SMTP: only for a relay on loopback or a trusted network
    STARTTLS = "starttls"
    TLS = "tls"


class ConsentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LPM_CONSENT_", env_file=".env", extra="ignore")

    face_model: Path | None = Field(
        default=None,
        description="An ArcFace ONNX model (input [N,3,112,112]); when set it replaces dlib.",
    )
    max_upload_bytes: int = Field(
        default=25 * 1024 * 1024, gt=0, description="The largest request body an upload accepts."
    )
    link_valid_hours: float = Field(
        default=72.0, gt=0, description="How long an invitation link stays usable."
    )
    max_capture_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="The largest live capture upload (a 40 s webcam recording is ~10 MB).",
    )
    max_attempts: int = Field(
        default=5, ge=1, description="Failed consent captures before an invitation is spent."
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "Where subjects reach the server: the base of invitation and revocation links"
            " (default: the server's own public URL, LPM_PUBLIC_URL)."
        ),
    )
    # Mail: invitations and withdrawal links go to the subject's own address, never back to
    # the researcher. With no host, nothing can be sent and inviting is refused (503).
    smtp_host: str | None = Field(default=None, description="The SMTP server (unset: no mail).")
    smtp_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The SMTP port (default: 465 with tls, 587 with starttls, 25 with none).",
    )
    smtp_tls: SmtpTls = Field(
        default=SmtpTls.STARTTLS,
        description="none, starttls (upgrade a plain connection) or tls (implicit TLS).",
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if the server asks.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_timeout_s: float = Field(
        default=20.0, gt=0, description="How long to wait for the SMTP server."
    )
    mail_from: str | None = Field(
        default=None,
        description='The sender of every message ("lpm-guard consent <consent@example.org>").',
    )
    invitations_per_identity_per_day: int = Field(
        default=3, ge=1, description="Invitations one identity may receive in 24 hours."
    )
    invitations_per_researcher_per_day: int = Field(
        default=20, ge=1, description="Invitations one researcher may send in 24 hours."
    )
