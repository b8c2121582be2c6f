"""Consent captures decoded with PyAV: the recording's audio, and a video's stills and audio."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from ..generator import AudioError, load_audio
from .errors import UnreadableMedia
from .faces import RGB, shrink
from .speech import SAMPLE_RATE

# A consent recording says a statement and a phrase: a minute is plenty; more is refused.
MAX_SECONDS = 120.0
MIN_SECONDS = 1.0
VIDEO_STILLS = 5


@dataclass(frozen=True)
class Capture:
    stills: list[RGB]
    audio: npt.NDArray[np.float32]


def decode_audio(data: bytes) -> npt.NDArray[np.float32]:
    """A recording (any container and codec FFmpeg reads: WAV, WebM/Opus, MP4/AAC, ...)."""
    with tempfile.TemporaryDirectory(prefix="lpm-consent-") as tmp:
        path = Path(tmp) / "recording"
        path.write_bytes(data)
        return _audio(path)


def _audio(path: Path) -> npt.NDArray[np.float32]:
    try:
        samples = load_audio(path, SAMPLE_RATE)
    except AudioError as exc:
        raise UnreadableMedia(f"the recording has no readable audio: {_reason(exc)}") from None
    seconds = samples.size / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        raise UnreadableMedia(f"the recording lasts {seconds:.1f} s: too short to hold speech")
    if seconds > MAX_SECONDS:
        raise UnreadableMedia(f"the recording lasts {seconds:.0f} s, more than {MAX_SECONDS:.0f}")
    return samples


def _reason(exc: Exception) -> str:
    # load_audio prefixes the temporary path; the caller never sent us a path.
    return str(exc).split(": ", 1)[-1]


def decode_video(path: Path, stills: int = VIDEO_STILLS) -> Capture:
    """Evenly spaced stills from the first video stream, and the first audio stream."""
    frames: list[RGB] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UnreadableMedia("the file has no video stream")
            stream = container.streams.video[0]
            # (1): decode every frame once, keeping a bounded, evenly thinned set (the duration
            # in the header is not trusted).
            for frame in container.decode(stream):
                if frame.time is not None and frame.time > MAX_SECONDS:
                    raise UnreadableMedia(f"the video lasts more than {MAX_SECONDS:.0f} s")
                frames.append(shrink(np.asarray(frame.to_ndarray(format="rgb24"), np.uint8)))
                if len(frames) > 4 * stills:
                    frames = frames[::2]
    except (av.FFmpegError, OSError) as exc:
        raise UnreadableMedia(f"the video cannot be decoded: {exc}") from None
    if not frames:
        raise UnreadableMedia("the video has no frames")
    # (2): the stills, spread over the whole recording.
    picks = np.linspace(0, len(frames) - 1, num=min(stills, len(frames))).round().astype(int)
    return Capture(stills=[frames[i] for i in sorted(set(picks.tolist()))], audio=_audio(path))
