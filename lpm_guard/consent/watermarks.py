"""Our own output can never be someone's consent: a capture carrying our watermark is refused."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .errors import UnreadableMedia
from .faces import RGB


def stills_carry_our_watermark(stills: Sequence[RGB], secrets: Sequence[bytes]) -> bool:
    """Any still (each may have its own size) carrying a mark under any of our secrets."""
    from ..provenance import watermark

    for still in stills:
        for secret in secrets:
            if watermark.detect([still], secret).present:
                return True
    return False


def video_carries_our_watermark(path: Path, secrets: Sequence[bytes]) -> bool:
    from ..provenance import watermark
    from ..provenance.errors import ProvenanceError

    try:
        return watermark.detect_file(path, secrets).present
    except ProvenanceError as exc:
        # A capture we cannot check is refused: it could hide a mark.
        raise UnreadableMedia(f"the video cannot be checked for our watermark: {exc}") from None
