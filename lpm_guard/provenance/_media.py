"""Is this file a video we can read? A clear error when it is not (non-video, truncated)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import av

from .errors import UnreadableMedia, UnsupportedMedia

_HEADER = struct.Struct(">I4s")
# Video containers (FFmpeg demuxer names). A list, not "anything FFmpeg opens": FFmpeg reads
# text files as ANSI art and still images as one-frame videos.
VIDEO_CONTAINERS = frozenset(
    {
        "mov,mp4,m4a,3gp,3g2,mj2",
        "matroska,webm",
        "avi",
        "flv",
        "mpegts",
        "mpeg",
        "ogg",
        "asf",
        "nut",
        "ivf",
        "h264",
        "hevc",
    }
)


@dataclass(frozen=True)
class MediaInfo:
    container: str
    bmff: bool
    width: int
    height: int
    duration_s: float | None


def is_bmff(path: Path) -> bool:
    """ISO BMFF (MP4, MOV, 3GP...): the file starts with an ``ftyp`` box."""
    with path.open("rb") as f:
        head = f.read(8)
    return len(head) == 8 and head[4:8] == b"ftyp"


def check_boxes(path: Path) -> None:
    """Walk the top-level boxes of an ISO BMFF file; a box running past the end is truncation.

    Hand-written: PyAV opens many truncated MP4s without complaint (the moov box comes first),
    and c2pa's message is not one to show to users. Twenty lines of ISO/IEC 14496-12 §4.2.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        offset = 0
        while offset < size:
            f.seek(offset)
            header = f.read(16)
            if len(header) < 8:
                raise UnreadableMedia(f"the video is truncated: a partial box header at {offset}")
            length, kind = _HEADER.unpack_from(header)
            if length == 1:
                if len(header) < 16:
                    raise UnreadableMedia(f"the video is truncated at {offset}")
                length = struct.unpack_from(">Q", header, 8)[0]
            elif length == 0:
                length = size - offset
            if length < 8 or offset + length > size:
                name = kind.decode("latin-1")
                raise UnreadableMedia(
                    f"the video is truncated or corrupt: box {name!r} at byte {offset} "
                    f"claims {length} bytes, {size - offset} remain"
                )
            offset += length


def probe(path: Path) -> MediaInfo:
    """Check that ``path`` is a readable video; raise UnsupportedMedia or UnreadableMedia."""
    # (1): an empty file is not a video.
    if path.stat().st_size == 0:
        raise UnsupportedMedia("the file is empty")
    # (2): an ISO BMFF file must be structurally whole.
    bmff = is_bmff(path)
    if bmff:
        check_boxes(path)
    # (3): PyAV must open it and find a video track that is not a still image.
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError):
        if bmff:
            raise UnreadableMedia("the video cannot be opened (corrupt or truncated)") from None
        raise UnsupportedMedia("not a video file (no container format recognised)") from None
    with container:
        name = container.format.name
        if name not in VIDEO_CONTAINERS:
            raise UnsupportedMedia(f"not a video: the input reads as {name!r}")
        if not container.streams.video:
            raise UnsupportedMedia("not a video: the file has no video track")
        stream = container.streams.video[0]
        # (4): its first frame must decode.
        try:
            frame = next(container.decode(stream), None)
        except av.error.FFmpegError:
            frame = None
        if frame is None:
            raise UnreadableMedia("no frame of the video can be decoded")
        duration = None if container.duration is None else container.duration / av.time_base
        return MediaInfo(name, bmff, frame.width, frame.height, duration)
