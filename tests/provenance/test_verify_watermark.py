"""verify_file with the real watermark: a re-encoded copy loses its manifest but is still traced
to its audit entry; a clip marked with another key reads absent."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from lpm_guard.keys import KeyStore
from lpm_guard.provenance.models import ProvenanceRecord
from lpm_guard.provenance.services import ProvenanceService
from lpm_guard.provenance.watermark import Watermarker

from .media import talking_clip

WIDTH, HEIGHT = 640, 360

pytestmark = pytest.mark.slow


@functools.cache
def clip() -> tuple[np.ndarray, ...]:
    return tuple(talking_clip("astronaut", WIDTH, HEIGHT, frames=25))


def encode(frames: Sequence[np.ndarray], path: Path, crf: int | None = 23) -> Path:
    """H.264 in MP4 at ``crf`` (what the gate writes), or lossless (4:4:4, qp 0) for None."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = width, height
        if crf is None:
            stream.pix_fmt, stream.options = "yuv444p", {"qp": "0", "preset": "veryfast"}
        else:
            stream.pix_fmt, stream.options = "yuv420p", {"crf": str(crf), "preset": "veryfast"}
        for i, rgb in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, 25)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return path


def reencode(source: Path, target: Path, crf: int) -> Path:
    """What a platform does on upload: decode and encode again (the manifest is lost)."""
    with av.open(str(source)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return encode(frames, target, crf)


def transcode_lossless(source: Path, target: Path) -> Path:
    """Decode and re-encode into Matroska / FFV1: the manifest is gone, the pixels are not."""
    with av.open(str(source)) as inp, av.open(str(target), "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv444p"
        for picture in inp.decode(video=0):
            rgb = picture.to_ndarray(format="rgb24")
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return target


def marked(secret: bytes, reference: int) -> list[np.ndarray]:
    mark = Watermarker(secret, reference, width=WIDTH, height=HEIGHT)
    return [mark.mark(rgb) for rgb in clip()]


@pytest.fixture
def marked_signed(
    service: ProvenanceService, keys: KeyStore, record: ProvenanceRecord, tmp_path: Path
) -> Path:
    # Lossless, so these tests check verification, not the watermark's H.264 robustness (that
    # is test_a_reencoded_copy_... below and the watermark's own tests).
    frames = marked(keys.watermark_key().secret, record.watermark_reference)
    unsigned = encode(frames, tmp_path / "marked.mp4", crf=None)
    return service.sign_mp4(unsigned, tmp_path / "signed.mp4", record).path


def test_a_marked_signed_clip_is_authentic_and_carries_the_same_reference(
    service: ProvenanceService, marked_signed: Path, record: ProvenanceRecord
) -> None:
    report = service.verify_file(marked_signed)
    assert report.verdict == "authentic"
    assert report.watermark.status == "present"
    assert report.watermark.reference == f"{record.watermark_reference:016x}"
    assert report.watermark.reference == report.c2pa.watermark_reference
    assert report.audit is not None and report.audit.source == "c2pa"


def test_a_transcoded_copy_loses_its_manifest_but_is_traced_by_its_watermark(
    service: ProvenanceService, marked_signed: Path, record: ProvenanceRecord, tmp_path: Path
) -> None:
    copy = transcode_lossless(marked_signed, tmp_path / "copy.mkv")
    report = service.verify_file(copy)
    assert report.file.container == "matroska,webm"
    assert report.c2pa.status == "absent"
    assert report.watermark.status == "present"
    assert report.watermark.reference == f"{record.watermark_reference:016x}"
    audit = report.audit
    assert audit is not None and audit.source == "watermark"
    assert audit.status == "included" and audit.index == record.receipt.index
    assert report.verdict == "traced"


def test_a_reencoded_copy_has_no_manifest_but_is_traced_by_its_watermark(
    service: ProvenanceService, keys: KeyStore, record: ProvenanceRecord, tmp_path: Path
) -> None:
    # The gate's output (H.264 at the generator's crf 20, signed), then a platform's transcode.
    frames = marked(keys.watermark_key().secret, record.watermark_reference)
    unsigned = encode(frames, tmp_path / "marked.mp4", crf=20)
    signed = service.sign_mp4(unsigned, tmp_path / "signed.mp4", record).path
    assert service.verify_file(signed).watermark.status == "present"
    # Decoded and encoded again at crf 20. Measured with 4 keys on 2 photos (25 frames,
    # veryfast): at the default strength crf 20 then 20 is found 8/8, 20 then 23 7/8 (the
    # first frame, an I-frame, carries it); at strength 1.3, 8/8 each.
    copy = reencode(signed, tmp_path / "reuploaded.mp4", crf=20)
    report = service.verify_file(copy)
    assert report.c2pa.status == "absent"
    assert report.watermark.status == "present"
    assert report.watermark.reference == f"{record.watermark_reference:016x}"
    assert report.watermark.frames_used == 25
    audit = report.audit
    assert audit is not None and audit.source == "watermark"
    assert audit.status == "included" and audit.index == record.receipt.index
    assert audit.entry is not None and audit.entry.action == "session:generation:allow"
    assert report.verdict == "traced"


def test_a_clip_marked_with_another_key_reads_absent(
    service: ProvenanceService, record: ProvenanceRecord, tmp_path: Path
) -> None:
    frames = marked(secrets.token_bytes(32), record.watermark_reference)
    path = encode(frames, tmp_path / "foreign.mp4")
    report = service.verify_file(path)
    assert report.watermark.status == "absent"
    assert report.watermark.reference is None
    assert report.audit is None
    assert report.verdict == "unknown"


def test_an_unmarked_clip_reads_absent(service: ProvenanceService, tmp_path: Path) -> None:
    report = service.verify_file(encode(list(clip()), tmp_path / "plain.mp4"))
    assert report.watermark.status == "absent"
    assert report.verdict == "unknown"
