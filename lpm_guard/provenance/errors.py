"""The provenance error family: every failure to mark, sign, read or verify a clip on purpose.
Each is an ``LpmGuardError`` (problem+json in the API, one line and exit 1 in the CLI)."""

from __future__ import annotations

from lpm_guard.errors import LpmGuardError


class ProvenanceError(LpmGuardError):
    """Base of the provenance errors."""

    status, slug, title = 422, "provenance-error", "Provenance check failed"


class InvalidFrame(ProvenanceError):
    """A frame is not an HxWx3 uint8 RGB array of the expected size."""

    status, slug, title = 422, "invalid-frame", "The frame is not an RGB image of the right size"


class UnreadableVideo(ProvenanceError):
    """A file that PyAV cannot open or decode as video."""

    status, slug, title = 422, "unreadable-video", "The file is not a readable video"


class UnsupportedMedia(ProvenanceError):
    """The input is not a video at all (text, an image, an unknown container)."""

    status, slug, title = 415, "unsupported-media", "Not a video"


class UnreadableMedia(ProvenanceError):
    """The input looks like a video but cannot be read: truncated, corrupt, no video track."""

    status, slug, title = 422, "unreadable-media", "The video cannot be read"


class MediaTooLarge(ProvenanceError):
    status, slug, title = 413, "media-too-large", "The upload is too large"


class FrameTooLarge(ProvenanceError):
    """A video whose frames are larger than the decoder may allocate (``DecodeLimits``)."""

    status, slug, title = 413, "frame-too-large", "The video's frames are too large"


class SigningError(ProvenanceError):
    """C2PA signing failed; nothing was published at the target path."""

    status, slug, title = 500, "signing-failed", "Signing failed"


class TimeStampAnchorsUnreadable(ProvenanceError):
    """LPM_TSA_TRUST_ANCHORS names a file that is not a readable PEM bundle."""

    status, slug, title = 500, "time-stamp-anchors-unreadable", "Time-stamp anchors unreadable"


class RecorderClosed(ProvenanceError):
    status, slug, title = 409, "recorder-closed", "The recording is closed"
