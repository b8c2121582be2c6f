"""An offline render through any performer: audio file(s) in, an H.264 + AAC MP4 out.

The gate's side of an offline job: the voices are decoded here, fed to a performer (the CPU
generator in this process or a remote worker), and every frame that comes back is checked
(index, size, count), passed through ``frame_filter`` (the watermark) and encoded. The MP4 is
written to a temporary file and appears only when complete. A worker that dies or stalls
mid-render costs that attempt only: the render starts over on another worker (the output is
the same: a performer is deterministic for its input and seed).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly

from ..logs import get_logger
from .errors import Breach, PerformerFailed, PerformerUnavailable
from .protocol import (
    RGB,
    SAMPLE_RATE,
    Backend,
    Direction,
    Performer,
    Portrait,
    Voice,
    frames_for,
)

log = get_logger(__name__)

MUX_RATE = 48_000
FEED_SAMPLES = SAMPLE_RATE  # one second of voice per message
MAX_ALIGNED = 60 * SAMPLE_RATE  # a longer stretch of a transcript is not aligned (one message)
RETRY_ON = (Breach.DIED, Breach.STALLED)  # the worker's fault, not the job's: try another
Progress = Callable[[int, int], None]
Spoken = tuple[float, float, str]  # a stretch of a voice (start s, end s) and its words
FrameFilter = Callable[[RGB], RGB]


class AudioUnreadable(ValueError):
    """The audio file cannot be decoded, or holds no sound."""


def read_audio(path: str | Path, sample_rate: int) -> npt.NDArray[np.float32]:
    """The first audio stream of ``path`` as float32 mono at ``sample_rate``, in -1..1."""
    chunks: list[npt.NDArray[np.float32]] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioUnreadable(f"{Path(path).name}: no audio stream")
            resampler = av.AudioResampler(format="fltp", rate=sample_rate)
            for frame in container.decode(container.streams.audio[0]):
                chunks.extend(f.to_ndarray().mean(axis=0) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().mean(axis=0) for f in resampler.resample(None))
    except (av.FFmpegError, OSError) as exc:
        raise AudioUnreadable(f"{Path(path).name}: cannot read audio") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise AudioUnreadable(f"{Path(path).name}: the audio is empty")
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


def render(
    backend: Backend,
    portrait: Portrait,
    audio_path: str | Path,
    out_path: str | Path,
    *,
    listen_audio: str | Path | None = None,
    instructions: str | None = None,
    fps: int = 25,
    seed: int = 0,
    crf: int = 20,
    progress: Progress | None = None,
    frame_filter: FrameFilter | None = None,
    attempts: int = 3,
    transcript: Sequence[Spoken] = (),
) -> int:
    """Render ``audio_path`` spoken (and ``listen_audio`` heard) by the portrait into
    ``out_path``; returns the frame count. ``transcript``: what is said in ``audio_path``, as
    stretches (start s, end s, words) the performer aligns the words' phones in. Raises
    ``PerformerFailed`` when the stream broke (after ``attempts`` starts, where the worker died
    or stalled)."""
    out = Path(out_path)
    tracks = [read_audio(audio_path, MUX_RATE)]
    if listen_audio is not None:
        tracks.append(read_audio(listen_audio, MUX_RATE))
    voices = [resample_poly(t, SAMPLE_RATE, MUX_RATE).astype(np.float32) for t in tracks]
    total = max(frames_for(len(v), fps) for v in voices)
    mix = np.clip(_mix(tracks), -1.0, 1.0)
    failed: PerformerFailed | None = None
    for attempt in range(1, attempts + 1):
        try:
            performer = backend.start(portrait, Direction(fps=fps, seed=seed, live=False))
        except PerformerUnavailable:
            if failed is None:
                raise
            raise PerformerFailed(
                failed.breach, f"{failed.detail}; no other generator could take it"
            ) from None
        fd, tmp = tempfile.mkstemp(prefix=".render-", suffix=".mp4", dir=out.parent)
        os.close(fd)
        try:
            _perform(performer, voices, instructions, transcript)
            _encode(performer, total, (fps, crf), mix, tmp, progress, frame_filter)
            os.replace(tmp, out)
            return total
        except PerformerFailed as exc:
            if exc.breach not in RETRY_ON or attempt == attempts:
                raise
            failed = exc
            log.warning("a render's generator failed; starting over", breach=exc.breach.value)
        finally:
            performer.close()
            Path(tmp).unlink(missing_ok=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _perform(
    performer: Performer,
    voices: list[npt.NDArray[np.float32]],
    text: str | None,
    transcript: Sequence[Spoken],
) -> None:
    if text:  # before any voice: it applies from the first frame (the answer is not needed)
        performer.instruct(text)
    for samples, voice in zip(voices, (Voice.AGENT, Voice.USER), strict=False):
        spoken = transcript if voice is Voice.AGENT else ()
        for start, end, words in _chunks(len(samples), spoken):
            performer.feed_audio(samples[start:end], voice, words)
    performer.end_audio()


def _chunks(length: int, spoken: Sequence[Spoken]) -> list[tuple[int, int, str | None]]:
    """The voice in feeds: each stretch of the transcript whole, with its words (alignment
    needs all the audio of its words at once); the rest a second at a time."""
    cuts: list[tuple[int, int, str | None]] = []
    at = 0
    for start_s, end_s, words in sorted(spoken):
        start = min(length, max(at, round(start_s * SAMPLE_RATE)))
        end = min(length, max(start, round(end_s * SAMPLE_RATE)))
        if not SAMPLE_RATE // 10 <= end - start <= MAX_ALIGNED or not words.strip():
            continue  # nothing to align, or too long to align at once: the audio alone
        cuts += [(a, min(a + FEED_SAMPLES, start), None) for a in range(at, start, FEED_SAMPLES)]
        cuts.append((start, end, words))
        at = end
    cuts += [(a, min(a + FEED_SAMPLES, length), None) for a in range(at, length, FEED_SAMPLES)]
    return cuts


def _encode(
    performer: Performer,
    total: int,
    rate: tuple[int, int],
    mix: npt.NDArray[np.float32],
    tmp: str,
    progress: Progress | None,
    frame_filter: FrameFilter | None,
) -> None:
    fps, crf = rate
    width, height = performer.size
    done = 0
    with av.open(tmp, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": str(crf), "preset": "veryfast"}
        audio = container.add_stream("aac", rate=MUX_RATE)
        audio.layout = "mono"
        for frame in performer.frames():
            if frame.index >= total:
                raise PerformerFailed(
                    Breach.AFTER_END, f"the generator sent frame {frame.index} of {total}"
                )
            if frame.rgb.shape != (height, width, 3):
                raise PerformerFailed(Breach.WRONG_SIZE, f"a frame of shape {frame.rgb.shape}")
            rgb = frame.rgb if frame_filter is None else frame_filter(frame.rgb)
            if rgb.shape != frame.rgb.shape or rgb.dtype != np.uint8:
                raise ValueError(f"frame_filter returned {rgb.dtype} {rgb.shape}, not the frame's")
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            picture.pts = frame.index
            picture.time_base = Fraction(1, fps)
            container.mux(video.encode(picture))
            done = frame.index + 1
            if progress:
                progress(done, total)
        if done != total:
            raise PerformerFailed(
                Breach.FAILED, f"the generator's stream ended after {done} of {total} frames"
            )
        container.mux(video.encode())
        step = 1024 * 16
        for start in range(0, len(mix), step):
            chunk = av.AudioFrame.from_ndarray(
                mix[start : start + step][None, :], format="flt", layout="mono"
            )
            chunk.sample_rate = MUX_RATE
            chunk.pts = start
            chunk.time_base = Fraction(1, MUX_RATE)
            container.mux(audio.encode(chunk))
        container.mux(audio.encode())


def _mix(tracks: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
    mixed = np.zeros(max(len(t) for t in tracks), np.float32)
    for track in tracks:
        mixed[: len(track)] += track
    return mixed
