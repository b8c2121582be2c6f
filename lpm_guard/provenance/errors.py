"""The provenance error family: every failure to mark, read or verify a clip on purpose."""

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
