"""Is this file a video we can read? A clear error when it is not (non-video, truncated); and
its frames, decoded within bounds fixed before decoding (``DecodeLimits``).

Every decoder opened here carries FFmpeg's own ``max_pixels`` cap, for stream discovery and for
decoding: a header that understates the frame size (an AVI saying 64x64 around 4096x4096
JPEGs, an H.264 stream whose later SPS grows) cannot make FFmpeg allocate a frame past it."""

from __future__ import annotations

import struct
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .errors import FrameTooLarge, UnreadableMedia, UnreadableVideo, UnsupportedMedia

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
class DecodeLimits:
    """How much of a video one verification may decode and hold.

    ``max_frame_pixels`` bounds one frame (checked from the stream before any frame is decoded
    and enforced by FFmpeg while decoding); ``max_held_pixels`` bounds the frames kept at once
    (one byte of luma each), so larger frames mean fewer of them, never more memory;
    ``max_frames`` is the most the watermark detector reads even of small frames.
    """

    max_frame_pixels: int = 1920 * 1088
    max_held_pixels: int = 50 * 1024 * 1024
    max_frames: int = 50

    def frames_for(self, pixels: int) -> int:
        """How many frames of ``pixels`` each may be held (at least one)."""
        return max(1, min(self.max_frames, self.max_held_pixels // max(1, pixels)))


DEFAULT_LIMITS = DecodeLimits()


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


def _too_large(width: int, height: int, limits: DecodeLimits) -> FrameTooLarge:
    return FrameTooLarge(
        f"frames of {width}x{height} pixels are over the limit of "
        f"{limits.max_frame_pixels} pixels a frame"
    )


@contextmanager
def open_video(path: Path, limits: DecodeLimits = DEFAULT_LIMITS) -> Iterator[Video]:
    """Open ``path`` as a video whose frame size is known and within ``limits``; raise
    UnsupportedMedia, UnreadableMedia or FrameTooLarge (before decoding a frame)."""
    cap = {"max_pixels": str(limits.max_frame_pixels)}
    bmff = is_bmff(path)
    try:
        # ``options`` reach the decoders that stream discovery opens, too.
        container = av.open(str(path), options=cap)
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
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > limits.max_frame_pixels:
            raise _too_large(width, height, limits)
        if width <= 0 or height <= 0:
            # Stream discovery found no frame size: none stated, or the first frame is over
            # the cap (FFmpeg refuses to allocate it and says no more).
            raise UnreadableMedia(
                "the video's frame size cannot be read within the limit of "
                f"{limits.max_frame_pixels} pixels a frame"
            )
        stream.codec_context.options = cap  # the decoder proper, opened on first decode
        yield Video(container, stream, name, bmff, width, height, limits)


class Video:
    """An open video (``open_video``): its first stream's frames, each within the limits."""

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.VideoStream,
        container_name: str,
        bmff: bool,
        width: int,
        height: int,
        limits: DecodeLimits,
    ) -> None:
        self._container, self._stream = container, stream
        self.container_name, self.bmff = container_name, bmff
        self.width, self.height, self.limits = width, height, limits

    @property
    def duration_s(self) -> float | None:
        duration = self._container.duration
        return None if duration is None else duration / av.time_base

    @property
    def frames_to_hold(self) -> int:
        return self.limits.frames_for(self.width * self.height)

    def frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames, one at a time, each of the stated size; a frame past the cap ends
        them with FrameTooLarge, a change of size or any decoding failure with UnreadableVideo
        (FFmpeg's own words are not passed on)."""
        decoded = self._container.decode(self._stream)
        while True:
            try:
                frame = next(decoded, None)
            except av.error.FFmpegError:
                raise UnreadableVideo(
                    "a frame of the video cannot be decoded (corrupt, or larger than "
                    f"{self.limits.max_frame_pixels} pixels)"
                ) from None
            if frame is None:
                return
            if frame.width * frame.height > self.limits.max_frame_pixels:
                raise _too_large(frame.width, frame.height, self.limits)
            if (frame.width, frame.height) != (self.width, self.height):
                # The held-pixel budget was set from the stated size: a stream may not grow.
                raise UnreadableVideo(
                    f"the frame size changes from {self.width}x{self.height} to "
                    f"{frame.width}x{frame.height} within the video"
                )
            yield frame

    def rgb_frames(self) -> Generator[np.ndarray]:
        """The frames as HxWx3 uint8 RGB arrays, one at a time."""
        for frame in self.frames():
            yield frame.to_ndarray(format="rgb24")


def probe(path: Path, limits: DecodeLimits = DEFAULT_LIMITS) -> MediaInfo:
    """Check that ``path`` is a readable video within ``limits``; raise UnsupportedMedia,
    UnreadableMedia or FrameTooLarge."""
    # (1): an empty file is not a video.
    if path.stat().st_size == 0:
        raise UnsupportedMedia("the file is empty")
    # (2): an ISO BMFF file must be structurally whole.
    if is_bmff(path):
        check_boxes(path)
    # (3): PyAV must open it and find a video track of a bounded frame size.
    with open_video(path, limits) as video:
        # (4): its first frame must decode (within the cap).
        try:
            frame = next(video.frames(), None)
        except UnreadableVideo:
            frame = None
        if frame is None:
            raise UnreadableMedia("no frame of the video can be decoded")
        return MediaInfo(
            video.container_name, video.bmff, frame.width, frame.height, video.duration_s
        )
