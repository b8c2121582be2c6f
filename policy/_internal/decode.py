"""Audio files to 16 kHz mono int16 with PyAV, enforcing the policy file's limits as it goes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..document import AudioLimits
from ..errors import InputRejected
from .speech import RATE, Samples


@dataclass(frozen=True)
class DecodedAudio:
    samples: Samples  # 16 kHz mono
    container: str
    sample_rate: int  # the file's own
    duration_s: float


def decode_file(path: Path, limits: AudioLimits) -> DecodedAudio:
    # (1): size before opening, so nothing large is parsed.
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputRejected("audio.file", f"cannot read audio file: {exc.strerror}") from exc
    if size > limits.max_bytes:
        raise InputRejected(
            "audio.bytes", f"audio file is {size} bytes; the limit is {limits.max_bytes}"
        )
    try:
        with av.open(str(path)) as container:
            # (2): a container the policy accepts, holding one audio stream.
            names = set(container.format.name.split(","))
            if not names & set(limits.containers):
                raise InputRejected(
                    "audio.container",
                    f"audio container {container.format.name!r} is not one of "
                    f"{', '.join(limits.containers)}",
                )
            streams = list(container.streams.audio)
            if len(streams) != 1:
                raise InputRejected(
                    "audio.streams", f"expected one audio stream, found {len(streams)}"
                )
            stream = streams[0]
            # (3): the sample rate within limits.
            rate = int(stream.rate or 0)
            if not limits.min_sample_rate <= rate <= limits.max_sample_rate:
                raise InputRejected(
                    "audio.sample_rate",
                    f"sample rate {rate} Hz is outside {limits.min_sample_rate}-"
                    f"{limits.max_sample_rate} Hz",
                )
            # (4): decode, resampled to 16 kHz mono, stopping once past the longest allowed.
            resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
            chunks: list[Samples] = []
            total = 0
            cap = int(limits.max_duration_s * RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1).astype(np.int16)
                    chunks.append(chunk)
                    total += len(chunk)
                if total > cap:
                    break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.int16))
            container_name = sorted(names & set(limits.containers))[0]
    except av.error.FFmpegError as exc:
        raise InputRejected("audio.decode", f"not a readable audio file: {exc.strerror}") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    duration = len(samples) / RATE
    # (5): the duration within limits.
    if duration > limits.max_duration_s:
        raise InputRejected(
            "audio.duration", f"audio is longer than the limit of {limits.max_duration_s:g} s"
        )
    if duration < limits.min_duration_s:
        raise InputRejected(
            "audio.duration",
            f"audio is {duration:.2f} s; the minimum is {limits.min_duration_s:g} s",
        )
    return DecodedAudio(samples, container_name, rate, duration)
