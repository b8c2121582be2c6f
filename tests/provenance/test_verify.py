"""``verify_file``: C2PA, audit inclusion against the signed checkpoint, and bad input."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from lpm_guard.audit import LeafHash, Receipt, verify_inclusion

from lpm_guard.auditing.services import AuditService
from lpm_guard.keys import KeyStore
from lpm_guard.provenance.errors import UnreadableMedia, UnsupportedMedia
from lpm_guard.provenance.models import ProvenanceRecord
from lpm_guard.provenance.services import ProvenanceService
from lpm_guard.runtime import Runtime

from .conftest import write_mp4


def test_our_signed_file_is_authentic_and_its_entry_is_in_the_signed_log(
    service: ProvenanceService, signed: Path, record: ProvenanceRecord
) -> None:
    report = service.verify_file(signed)
    assert report.verdict == "authentic"
    assert report.c2pa.status == "trusted"
    assert report.file.sha256 == hashlib.sha256(signed.read_bytes()).hexdigest()
    audit = report.audit
    assert audit is not None and audit.status == "included", audit
    assert audit.source == "c2pa" and audit.index == record.receipt.index
    assert audit.entry is not None
    assert audit.entry.action == "session:generation:allow"
    assert audit.entry.leaf_hash == record.receipt.leaf_hash.hex()
    assert audit.consistent_with_signing_checkpoint is True
    # The proof in the report checks on its own against the checkpoint's signed root.
    proof, checkpoint = audit.inclusion_proof, audit.checkpoint
    assert proof is not None and checkpoint is not None
    verify_inclusion(
        bytes.fromhex(proof.leaf_hash),
        proof.index,
        proof.tree_size,
        [bytes.fromhex(h) for h in proof.path],
        bytes.fromhex(checkpoint.root_hash),
    )
    # Public fields only: who acted and on what is not disclosed.
    dumped = report.model_dump_json()
    assert "researcher:1" not in dumped and "objects" not in dumped


def test_a_flipped_byte_makes_the_verdict_tampered(
    service: ProvenanceService, signed: Path
) -> None:
    data = bytearray(signed.read_bytes())
    data[data.find(b"mdat") + 64] ^= 0x80
    signed.write_bytes(bytes(data))
    report = service.verify_file(signed)
    assert report.verdict == "tampered"
    assert report.c2pa.status == "tampered"
    assert "assertion.bmffHash.mismatch" in report.c2pa.codes.failure


def test_a_receipt_that_does_not_match_the_log_is_caught(
    service: ProvenanceService, unsigned: Path, record: ProvenanceRecord
) -> None:
    forged = replace(
        record,
        receipt=Receipt(record.receipt.index, LeafHash(b"\x11" * 32), record.receipt.tree_size),
    )
    path = service.sign_mp4(unsigned, unsigned.parent / "forged.mp4", forged).path
    report = service.verify_file(path)
    assert report.audit is not None and report.audit.status == "failed"
    assert "leaf hash differs" in report.audit.problems[0]
    assert report.verdict == "tampered"


def test_an_entry_newer_than_the_latest_checkpoint_is_pending(
    service: ProvenanceService, runtime: Runtime, unsigned: Path, record: ProvenanceRecord
) -> None:
    fresh = AuditService(runtime.audit).record("session:generation:allow", "researcher:2")
    newer = replace(record, receipt=fresh, watermark_reference=fresh.index)
    path = service.sign_mp4(unsigned, unsigned.parent / "newer.mp4", newer).path
    report = service.verify_file(path)
    assert report.audit is not None and report.audit.status == "pending"
    assert report.verdict == "authentic"


def test_a_file_signed_under_another_root_is_intact_but_untrusted(
    service: ProvenanceService, unsigned: Path, record: ProvenanceRecord, tmp_path: Path
) -> None:
    stranger = ProvenanceService(KeyStore.open(tmp_path / "other-keys"), None, None)
    path = stranger.sign_mp4(unsigned, tmp_path / "stranger.mp4", record).path
    report = service.verify_file(path)
    assert report.c2pa.status == "untrusted"
    assert report.c2pa.codes.failure == ["signingCredential.untrusted"]
    assert report.verdict == "unknown"
    # Its manifest copies one of our genuine receipts, but a stranger's claim proves nothing.
    assert report.audit is None
    assert any("not signed under our trust anchors" in note for note in report.notes)


def test_an_unsigned_clip_has_no_manifest(service: ProvenanceService, unsigned: Path) -> None:
    report = service.verify_file(unsigned)
    assert report.c2pa.status == "absent"
    assert report.verdict in ("unknown", "traced")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", UnsupportedMedia),
        (b"just some text, certainly not a video\n" * 20, UnsupportedMedia),
    ],
)
def test_non_video_input_is_refused(
    service: ProvenanceService, tmp_path: Path, content: bytes, error: type[Exception]
) -> None:
    path = tmp_path / "input.bin"
    path.write_bytes(content)
    with pytest.raises(error):
        service.verify_file(path)


def test_a_still_image_is_not_a_video(service: ProvenanceService, tmp_path: Path) -> None:
    import av
    import numpy as np

    path = tmp_path / "still.png"
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 32, 32, "rgb24"
        picture = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
        container.mux(stream.encode(picture))
        container.mux(stream.encode())
    with pytest.raises(UnsupportedMedia):
        service.verify_file(path)


def test_a_truncated_video_is_refused(service: ProvenanceService, signed: Path) -> None:
    data = signed.read_bytes()
    signed.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(UnreadableMedia, match="truncated"):
        service.verify_file(signed)


def test_a_faststart_video_cut_short_is_refused(service: ProvenanceService, tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "clip.mp4")
    data = path.read_bytes()
    path.write_bytes(data[:200])
    with pytest.raises(UnreadableMedia):
        service.verify_file(path)
