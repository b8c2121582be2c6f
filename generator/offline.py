"""Offline rendering: audio file(s) in, an H.264 + AAC MP4 out, written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from scipy.signal import resample_poly

from .audio import SAMPLE_RATE, load_audio
from .character import Character
from .controls import Role
from .errors import AudioError
from .performance import Performance

MUX_RATE = 48_000
Progress = Callable[[int, int], None]
FrameFilter = Callable[[np.ndarray], np.ndarray]


def render(
    character: Character,
    audio_path: str | Path,
    out_path: str | Path,
    *,
    listen_audio: str | Path | None = None,
    transcript: str | None = None,
    instructions: Sequence[tuple[float, str]] = (),
    fps: int = 25,
    seed: int = 0,
    crf: int = 20,
    progress: Progress | bool = False,
    frame_filter: FrameFilter | None = None,
) -> int:
    """Render ``audio_path`` spoken by ``character`` into ``out_path``; returns the frame count.

    ``listen_audio`` is the other side of a dialogue: the character listens while it plays and
    both are mixed into the file's sound. ``transcript``: the words of ``audio_path``, when
    known; their phones are aligned to it and shape the mouth (lips shut on p/b/m, ...).
    ``instructions`` are ``(seconds, text)`` pairs.
    ``progress`` is a callback ``(done, total)``, or True for a progress bar on stderr.
    ``frame_filter`` sees every frame (H×W×3 uint8 RGB) before it is encoded and returns the
    frame to encode in its place (the gate marks its watermark there).
    The MP4 appears only when complete: it is written to a temporary file and renamed.
    """
    out = Path(out_path)
    # Each file is decoded once, at the muxing rate; analysis gets it resampled to 16 kHz.
    tracks = [load_audio(audio_path, MUX_RATE)]
    if listen_audio is not None:
        tracks.append(load_audio(listen_audio, MUX_RATE))
    mix = _mix(tracks)
    performance = Performance(character, fps=fps, seed=seed)
    for track, role in zip(tracks, (Role.AGENT, Role.USER), strict=False):
        performance.feed_audio(
            resample_poly(track, SAMPLE_RATE, MUX_RATE).astype(np.float32),
            role,
            text=transcript if role is Role.AGENT else None,
        )
    performance.end_audio()
    total = performance.duration_frames()
    cues = sorted(instructions)

    fd, tmp = tempfile.mkstemp(prefix=".render-", suffix=".mp4", dir=out.parent)
    os.close(fd)
    with contextlib.ExitStack() as stack:
        report = stack.enter_context(_bar(out.name, total)) if progress is True else progress
        try:
            _encode(
                performance,
                total,
                character.size,
                (fps, crf),
                cues,
                mix,
                tmp,
                report or None,
                frame_filter,
            )
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return total


@contextlib.contextmanager
def _bar(name: str, total: int) -> Iterator[Progress]:
    from rich.progress import BarColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed}/{task.total}",
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"rendering {name}", total=total)
        yield lambda done, _total: bar.update(task, completed=done)


def _encode(
    performance: Performance,
    total: int,
    size: tuple[int, int],
    rate: tuple[int, int],
    cues: list[tuple[float, str]],
    mix: np.ndarray,
    tmp: str,
    progress: Progress | None,
    frame_filter: FrameFilter | None,
) -> None:
    fps, crf = rate
    with av.open(tmp, "w", format="mp4") as container:
        width, height = size
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": str(crf), "preset": "veryfast"}
        audio = container.add_stream("aac", rate=MUX_RATE)
        audio.layout = "mono"
        for frame in performance.frames(total):
            while cues and cues[0][0] <= frame.pts:
                performance.instruct(cues.pop(0)[1])
            rgb = frame.rgb if frame_filter is None else frame_filter(frame.rgb)
            if rgb.shape != frame.rgb.shape or rgb.dtype != np.uint8:
                raise ValueError(f"frame_filter returned {rgb.dtype} {rgb.shape}, not the frame's")
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            picture.pts = frame.index
            picture.time_base = Fraction(1, fps)
            container.mux(video.encode(picture))
            if progress:
                progress(frame.index + 1, total)
        container.mux(video.encode())
        _write_audio(container, audio, mix)


def _mix(tracks: list[np.ndarray]) -> np.ndarray:
    if not tracks or not any(len(t) for t in tracks):
        raise AudioError("no audio to render")
    length = max(len(t) for t in tracks)
    mixed = np.zeros(length, np.float32)
    for track in tracks:
        mixed[: len(track)] += track
    return np.clip(mixed, -1.0, 1.0)


def _write_audio(
    container: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray
) -> None:
    step = 1024 * 16
    for start in range(0, len(samples), step):
        chunk = samples[start : start + step]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
        frame.sample_rate = MUX_RATE
        frame.pts = start
        frame.time_base = Fraction(1, MUX_RATE)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
