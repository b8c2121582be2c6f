"""Frames of a consent capture, decoded with PyAV at chosen moments (for the identity's gallery).

The liveness checks read the whole recording themselves (``liveness.track``); this reads only
the few frames that join the identity's photos once the capture passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from .errors import UnreadableMedia
from .faces import RGB, shrink

# A capture's frame larger than this is refused before any frame is decoded.
MAX_PIXELS = 1920 * 1080


def frames_at(path: Path, times: Sequence[float]) -> list[RGB]:
    """The frame shown at each of ``times`` (seconds from the start), in order."""
    wanted = sorted(times)
    found: list[RGB] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UnreadableMedia("the recording has no video stream")
            stream = container.streams.video[0]
            # (1): the frame size from the header, bounded before decoding.
            if stream.codec_context.width * stream.codec_context.height > MAX_PIXELS:
                raise UnreadableMedia("the recording's frames are larger than 1920×1080")
            # (2): one pass; each wanted moment takes the last frame at or before it. Only the
            # frames taken are converted to RGB (~2 ms each at 640×480, more at 1080p).
            previous: av.VideoFrame | None = None
            taken: tuple[av.VideoFrame, RGB] | None = None
            for frame in container.decode(stream):
                moment = frame.time if frame.time is not None else 0.0
                while wanted and moment > wanted[0] and previous is not None:
                    taken = _rgb(previous, taken)
                    found.append(taken[1])
                    wanted.pop(0)
                if not wanted:
                    break
                previous = frame
            if wanted and previous is not None:
                taken = _rgb(previous, taken)
                found.extend(taken[1] for _ in wanted)
    except (av.FFmpegError, OSError, ValueError):
        raise UnreadableMedia("the recording cannot be decoded") from None
    if len(found) != len(times):
        raise UnreadableMedia("the recording has no frames at the script's moments")
    return found


def _rgb(frame: av.VideoFrame, last: tuple[av.VideoFrame, RGB] | None) -> tuple[av.VideoFrame, RGB]:
    """The frame in RGB at most ``faces.shrink``'s size; the last one's again when it is the
    same frame (two moments in one frame's time)."""
    if last is not None and last[0] is frame:
        return last
    return frame, shrink(np.asarray(frame.to_ndarray(format="rgb24"), np.uint8))
