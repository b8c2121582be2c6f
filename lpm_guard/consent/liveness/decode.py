"""A capture decoded with PyAV in one bounded pass: sampled frames, luma pairs, 16 kHz audio.

Chrome's MediaRecorder writes WebM (VP8 or VP9 with Opus) with variable frame timing and often
no duration in the header; phones and other browsers write MP4. Nothing in the header is
trusted but the picture size, which is checked before a single frame is decoded: the length is
counted from the frames' own timestamps as they arrive, and decoding stops at the first frame
past the limit. Frames are handed on one at a time; none is kept here. The sound is laid on
the picture's clock by its packets' timestamps, so sound the device dropped comes back as
silence rather than pulling the rest forward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import av
import cv2
import numpy as np
import numpy.typing as npt

from ..errors import UnreadableMedia

RATE = 16_000  # audio for speech recognition and the lip-sync envelope
GAP_SAMPLES = RATE // 50  # a jump of more than 20 ms in the sound's timestamps is a gap
WORKING_WIDTH = 640  # frames are measured at this width (faces ~150 px across)

RGB = npt.NDArray[np.uint8]
Luma = npt.NDArray[np.uint8]
Audio = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # seconds from the first video frame
    gray: Luma  # working size: faces are found and measured on luma alone
    scale: float  # working pixels per source pixel
    frame: av.VideoFrame

    def rgb(self) -> RGB:
        """The frame in colour at the working size (descriptors need colour): ~3 ms, so only
        for the few frames kept."""
        height, width = self.gray.shape
        small = self.frame.reformat(
            width=width, height=height, format="rgb24", interpolation="FAST_BILINEAR"
        )
        return np.ascontiguousarray(small.to_ndarray(), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class Decoded:
    audio: Audio  # mono float32 at RATE, starting at the first video frame
    video_s: float  # the last video frame's time
    frames: int  # video frames decoded
    size: tuple[int, int]  # the source's width and height


OnSample = Callable[[Sample], None]
OnPair = Callable[[float, Luma, Luma, float], None]  # time, two consecutive lumas, scale


def decode(
    path: str,
    *,
    on_sample: OnSample,
    on_pair: OnPair,
    max_seconds: float,
    max_pixels: int,
    sample_fps: float,
    pair_every_s: float = 1.0,
    dense: Sequence[tuple[float, float]] = (),
) -> Decoded:
    """Decode ``path``: ``on_sample`` gets a frame about every 1/``sample_fps`` seconds (by
    timestamp) and every frame inside the ``dense`` windows (seconds), ``on_pair`` two
    consecutive full-size luma planes about every ``pair_every_s`` (the camera-noise measure)."""
    try:
        return _decode(
            path, on_sample, on_pair, max_seconds, max_pixels, sample_fps, pair_every_s, dense
        )
    except (av.FFmpegError, OSError, ValueError, MemoryError) as exc:
        raise UnreadableMedia(f"the video cannot be decoded: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    # PyAV's messages name the temporary file; the subject never sent us a path.
    text = str(exc)
    return text.split(": '", 1)[0] if ": '" in text else text


def _decode(
    path: str,
    on_sample: OnSample,
    on_pair: OnPair,
    max_seconds: float,
    max_pixels: int,
    sample_fps: float,
    pair_every_s: float,
    dense: Sequence[tuple[float, float]],
) -> Decoded:
    with av.open(path, metadata_errors="ignore") as container:
        # (1): one video and one audio stream, or nothing to check.
        if not container.streams.video:
            raise UnreadableMedia("the recording has no video stream")
        if not container.streams.audio:
            raise UnreadableMedia("the recording has no audio stream")
        video, audio = container.streams.video[0], container.streams.audio[0]
        # (2): the picture size from the header, before any frame is decoded.
        width, height = video.codec_context.width, video.codec_context.height
        _check_size(width, height, max_pixels)
        video.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks: list[Audio] = []
        audio_start: float | None = None
        origin: float | None = None
        next_sample, next_pair = 0.0, 0.0
        pending_pair: tuple[float, Luma] | None = None
        frames, last_t, samples = 0, 0.0, 0
        limit = int((max_seconds + 1.0) * RATE)
        # (3): one pass over the packets in file order; each frame is measured and dropped.
        for packet in container.demux(video, audio):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    if frame.time is None:
                        raise UnreadableMedia("a video frame has no timestamp")
                    # A stream may change its size midway (MediaRecorder adapts): each frame
                    # is checked again before it is converted.
                    _check_size(frame.width, frame.height, max_pixels)
                    origin = frame.time if origin is None else origin
                    t = frame.time - origin
                    if t > max_seconds:
                        raise UnreadableMedia(f"the recording lasts more than {max_seconds:.0f} s")
                    if t + 1e-6 < last_t:
                        continue  # out of order (a broken file): ignored
                    frames, last_t = frames + 1, t
                    scale = min(1.0, WORKING_WIDTH / frame.width)
                    luma = _luma(frame)
                    if pending_pair is not None:
                        on_pair(pending_pair[0], pending_pair[1], luma, scale)
                        pending_pair = None
                    if t >= next_pair:
                        pending_pair = (t, luma.copy())
                        next_pair = t + pair_every_s
                    due = t + 0.5 / sample_fps >= next_sample
                    if due or any(start <= t <= end for start, end in dense):
                        on_sample(Sample(t, _shrink(luma, scale), scale, frame))
                    if due:
                        next_sample = max(next_sample + 1.0 / sample_fps, t + 0.5 / sample_fps)
                elif isinstance(frame, av.AudioFrame):
                    if audio_start is None and frame.time is not None:
                        audio_start = frame.time
                    # Sound the device dropped (a stalled browser or phone loses whole buffers;
                    # the next packet's timestamp still tells when it was heard) is put back
                    # as silence: joined up, everything after would come early and the lips
                    # would seem to lag the voice.
                    if frame.time is not None and audio_start is not None:
                        gap = round((frame.time - audio_start) * RATE) - samples
                        if gap > GAP_SAMPLES:
                            if samples + gap > limit:
                                raise UnreadableMedia(
                                    f"the sound lasts more than {max_seconds:.0f} s"
                                )
                            chunks.append(np.zeros(gap, np.float32))
                            samples += gap
                    for out in resampler.resample(frame):
                        chunk = np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1)
                        chunks.append(chunk)
                        samples += chunk.size
                    if samples > limit:
                        raise UnreadableMedia(f"the sound lasts more than {max_seconds:.0f} s")
        for out in resampler.resample(None):
            chunks.append(np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1))
    if origin is None:
        raise UnreadableMedia("the recording has no video frames")
    if not chunks:
        raise UnreadableMedia("the recording has no sound")
    # (4): the sound placed on the video's clock (its first frame is time 0).
    sound = np.concatenate(chunks)
    shift = round(((audio_start or 0.0) - origin) * RATE)
    if shift > 0:
        sound = np.concatenate([np.zeros(shift, np.float32), sound])
    elif shift < 0:
        sound = sound[-shift:]
    return Decoded(np.clip(sound, -1.0, 1.0), last_t, frames, (width, height))


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise UnreadableMedia("the video stream has no picture size")
    if width * height > max_pixels:
        raise UnreadableMedia(f"the video is {width}×{height}, more than {max_pixels} pixels")


def _shrink(luma: Luma, scale: float) -> Luma:
    if scale >= 1.0:
        return np.ascontiguousarray(luma)
    height, width = luma.shape
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    return np.asarray(cv2.resize(luma, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _luma(frame: av.VideoFrame) -> Luma:
    """The luma plane as it is in a planar YUV frame (no conversion), else converted."""
    if frame.format.name in _PLANAR_YUV:
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        return np.asarray(rows[:, : plane.width], dtype=np.uint8)
    return np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)


_PLANAR_YUV = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"})
