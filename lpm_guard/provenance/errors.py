"""The provenance error family: every one is an ``LpmGuardError`` (problem+json, CLI exit 1)."""

from __future__ import annotations

from ..errors import LpmGuardError


class ProvenanceError(LpmGuardError):
    status, slug, title = 422, "provenance-error", "Provenance error"


class UnsupportedMedia(ProvenanceError):
    """The input is not a video at all (text, an image, an unknown container)."""

    status, slug, title = 415, "unsupported-media", "Not a video"


class UnreadableMedia(ProvenanceError):
    """The input looks like a video but cannot be read: truncated, corrupt, no video track."""

    status, slug, title = 422, "unreadable-media", "The video cannot be read"


class MediaTooLarge(ProvenanceError):
    status, slug, title = 413, "media-too-large", "The upload is too large"


class SigningError(ProvenanceError):
    """C2PA signing failed; nothing was published at the target path."""

    status, slug, title = 500, "signing-failed", "Signing failed"


class RecorderClosed(ProvenanceError):
    status, slug, title = 409, "recorder-closed", "The recording is closed"
