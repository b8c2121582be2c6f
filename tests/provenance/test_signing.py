"""Signed MP4s: trusted under our root, tampering shows, nothing unsigned is ever published."""

from __future__ import annotations

from pathlib import Path

import pytest

from lpm_guard import __version__
from lpm_guard.keys import KeyStore
from lpm_guard.provenance.errors import SigningError
from lpm_guard.provenance.manifest import (
    PROVENANCE_LABEL,
    TRAINED_ALGORITHMIC_MEDIA,
    WATERMARK_ALG,
)
from lpm_guard.provenance.models import ProvenanceRecord
from lpm_guard.provenance.reading import read_c2pa
from lpm_guard.provenance.signing import Mp4Signer
from lpm_guard.provenance.trust import TrustAnchors


def test_signed_output_reads_trusted_with_every_assertion(
    signed: Path, keys: KeyStore, record: ProvenanceRecord
) -> None:
    reading = read_c2pa(signed, TrustAnchors.from_keys(keys))
    report = reading.report
    assert report.status == "trusted"
    assert "signingCredential.trusted" in report.codes.success
    assert "assertion.bmffHash.match" in report.codes.success
    assert report.codes.failure == []
    assert reading.reference == record.watermark_reference
    assert report.watermark_reference == f"{record.watermark_reference:016x}"
    assert reading.receipt == record.receipt
    claim = report.provenance
    assert claim is not None
    assert claim.session_id == "ses_test1"
    assert claim.audit.checkpoint == record.checkpoint_note
    assert claim.consent_sha256 == record.consent_sha256
    assert claim.policy_version == "2026.11.1"


def test_manifest_has_created_watermarked_and_soft_binding(signed: Path, keys: KeyStore) -> None:
    import c2pa

    with signed.open("rb") as f, c2pa.Reader("video/mp4", f) as reader:
        manifest = reader.get_active_manifest()
    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
    actions = assertions["c2pa.actions.v2"]["actions"]
    assert actions[0] == {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": {"name": "lpm-guard", "version": __version__},
    }
    assert actions[1]["action"] == "c2pa.watermarked.bound"
    assert actions[1]["parameters"]["alg"] == WATERMARK_ALG
    assert assertions["c2pa.soft-binding"]["alg"] == WATERMARK_ALG
    assert PROVENANCE_LABEL in assertions


def test_without_our_anchor_the_file_is_intact_but_untrusted(signed: Path) -> None:
    report = read_c2pa(signed, TrustAnchors.none()).report
    assert report.status == "untrusted"
    assert report.codes.failure == ["signingCredential.untrusted"]


def test_one_flipped_byte_in_mdat_reads_tampered(signed: Path, keys: KeyStore) -> None:
    data = bytearray(signed.read_bytes())
    mdat = data.find(b"mdat")
    assert mdat > 0
    data[mdat + 100] ^= 0x01
    signed.write_bytes(bytes(data))
    report = read_c2pa(signed, TrustAnchors.from_keys(keys)).report
    assert report.status == "tampered"
    assert "assertion.bmffHash.mismatch" in report.codes.failure


def test_unsigned_file_reads_absent(unsigned: Path, keys: KeyStore) -> None:
    assert read_c2pa(unsigned, TrustAnchors.from_keys(keys)).report.status == "absent"


def test_a_failed_signing_leaves_nothing_at_the_target(
    keys: KeyStore, record: ProvenanceRecord, tmp_path: Path
) -> None:
    # A real failure inside c2pa: the source claims to be an MP4 but its boxes are garbage.
    source = tmp_path / "broken.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\xff" * 64)
    target = tmp_path / "out" / "clip.mp4"
    target.parent.mkdir()
    with Mp4Signer(keys.c2pa_signer()) as signer, pytest.raises(SigningError):
        signer.sign(source, target, record)
    assert list(target.parent.iterdir()) == []


def test_a_failed_signing_keeps_an_earlier_file_intact(
    keys: KeyStore, record: ProvenanceRecord, signed: Path, tmp_path: Path
) -> None:
    before = signed.read_bytes()
    source = tmp_path / "empty.mp4"
    source.write_bytes(b"")
    with Mp4Signer(keys.c2pa_signer()) as signer, pytest.raises(SigningError):
        signer.sign(source, signed, record)
    assert signed.read_bytes() == before
    assert [p.name for p in signed.parent.iterdir() if p.name.endswith(".partial")] == []


def test_record_refuses_personal_looking_or_malformed_fields(record: ProvenanceRecord) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError):
        replace(record, session_id="Jane Doe <jane@example.com>")
    with pytest.raises(ValueError):
        replace(record, consent_sha256="not-a-hash")
    with pytest.raises(ValueError):
        replace(record, watermark_reference=1 << 64)
