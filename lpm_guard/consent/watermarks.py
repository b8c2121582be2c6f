"""Our own output can never be someone's consent: a capture carrying our watermark is refused.

Every watermark secret is tried, retired ones too (``KeyStore.watermark_keys()``): a clip made
before a key rotation is still ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..provenance import watermark
from ..provenance.errors import ProvenanceError
from .errors import UnreadableMedia
from .faces import RGB


def stills_carry_our_watermark(stills: Sequence[RGB], secrets: Sequence[bytes]) -> bool:
    """Any still (each may have its own size) carrying a mark under any of our secrets."""
    for still in stills:
        for secret in secrets:
            try:
                if watermark.detect([still], secret).present:
                    return True
            except ProvenanceError as exc:
                # A capture we cannot check is refused: it could hide a mark.
                raise UnreadableMedia(
                    f"a still cannot be checked for our watermark: {exc}"
                ) from None
    return False


def video_carries_our_watermark(path: Path, secrets: Sequence[bytes]) -> bool:
    try:
        return watermark.detect_file(path, secrets).present
    except ProvenanceError as exc:
        raise UnreadableMedia(f"the video cannot be checked for our watermark: {exc}") from None
