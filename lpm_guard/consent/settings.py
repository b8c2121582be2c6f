"""Consent settings, read from the environment with the ``LPM_CONSENT_`` prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
