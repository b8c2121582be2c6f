from __future__ import annotations

import hashlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from lpm_guard.auditing.services import AuditService
from lpm_guard.keys import KeyStore
from lpm_guard.provenance.models import ProvenanceRecord
from lpm_guard.provenance.services import ProvenanceService
from lpm_guard.runtime import Runtime

WIDTH, HEIGHT, FPS = 160, 128, 25


def frame(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A moving gradient with a bright square: real content that changes every frame."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = (x * 255 // width + index * 3) % 256
    rgb[..., 1] = (y * 255 // height) % 256
    rgb[..., 2] = (x + y + index * 5) % 256
    top = (index * 2) % (height - 24)
    rgb[top : top + 24, 20:44] = 250
    return rgb


def write_mp4(path: Path, frames: int = 25, *, start: int = 0, audio: bool = False) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "23"}
        sound = container.add_stream("aac", rate=48000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for i in range(frames):
            picture = av.VideoFrame.from_ndarray(frame(start + i), format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, FPS)
            container.mux(video.encode(picture))
        container.mux(video.encode())
        if sound is not None:
            samples = (0.1 * np.sin(np.arange(frames * 48000 // FPS) / 20)).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 48000, 0, Fraction(1, 48000)
            container.mux(sound.encode(chunk))
            container.mux(sound.encode())
    return path


@pytest.fixture
def keys(runtime: Runtime) -> KeyStore:
    return runtime.keys


@pytest.fixture
def record(runtime: Runtime) -> ProvenanceRecord:
    """A record as the gate will fill it: a real audit entry and a checkpoint covering it."""
    audit = AuditService(runtime.audit)
    for i in range(3):
        audit.record("test:other:thing", f"system:{i}")
    receipt = audit.record(
        "session:generation:allow", "researcher:1", objects={"session": "ses_test1"}
    )
    audit.record("test:other:thing", "system:after")
    checkpoint = runtime.audit.checkpoint(force=True)
    return ProvenanceRecord(
        session_id="ses_test1",
        receipt=receipt,
        checkpoint_note=checkpoint.note,
        policy_version="2026.11.1",
        consent_sha256=hashlib.sha256(b"consent record").hexdigest(),
        generator_version="0.1.0",
        watermark_reference=receipt.index,
    )


@pytest.fixture
def service(runtime: Runtime) -> ProvenanceService:
    return ProvenanceService.from_runtime(runtime)


@pytest.fixture
def unsigned(tmp_path: Path) -> Path:
    return write_mp4(tmp_path / "unsigned.mp4", audio=True)


@pytest.fixture
def signed(service: ProvenanceService, unsigned: Path, record: ProvenanceRecord) -> Path:
    return service.sign_mp4(unsigned, unsigned.parent / "signed.mp4", record).path


@pytest.fixture
def out_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "out"
    path.mkdir()
    yield path
