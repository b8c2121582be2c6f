"""C2PA that lasts: manifests time-stamped by a real RFC 3161 authority on loopback stay valid
after their certificate expires; an expired or untrusted credential is never called tampered;
files made of two outputs, or with bytes added after signing, are reported as what they are."""

from __future__ import annotations

import json
import struct
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fastapi.testclient import TestClient

from lpm_guard.keys import C2paCredentials, KeyStore
from lpm_guard.keys._material import private_key_pem
from lpm_guard.keys.certificates import chain_pem, create_root, issue_leaf, new_signing_key
from lpm_guard.provenance.errors import SigningError
from lpm_guard.provenance.layout import read_layout
from lpm_guard.provenance.manifest import MP4, build_manifest, new_label
from lpm_guard.provenance.models import ProvenanceRecord
from lpm_guard.provenance.reading import read_c2pa
from lpm_guard.provenance.services import ProvenanceService, Verifier, verify_file
from lpm_guard.provenance.signing import Mp4Signer
from lpm_guard.provenance.trust import TrustAnchors
from lpm_guard.provenance.tsa_relay import relay_for
from lpm_guard.runtime import Runtime
from tests.tsa import running_tsa, silent_tsa

from .conftest import write_mp4
from .test_cli_verify import run

LIFETIME_S = 4


class LeafCa:
    """A test root like the key store's, issuing leaves of any lifetime."""

    def __init__(self) -> None:
        self.key = new_signing_key()
        self.root = create_root(self.key)

    def leaf(self, lifetime: timedelta) -> tuple[C2paCredentials, x509.Certificate]:
        leaf_key = new_signing_key()
        template = issue_leaf(self.key, self.root, leaf_key.public_key())
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(template.subject)
            .issuer_name(template.issuer)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + lifetime)
        )
        for extension in template.extensions:
            builder = builder.add_extension(extension.value, extension.critical)
        leaf = builder.sign(self.key, hashes.SHA256())
        credentials = C2paCredentials(
            certificate_chain_pem=chain_pem([leaf, self.root]),
            private_key_pem=private_key_pem(leaf_key),
        )
        return credentials, leaf

    def anchors(self, leaf: x509.Certificate, tsa_root: x509.Certificate | None) -> TrustAnchors:
        stamps = (tsa_root,) if tsa_root is not None else ()
        return TrustAnchors((self.root,), stamps, frozenset({leaf.serial_number}))


def _verifier(anchors: TrustAnchors) -> Verifier:
    return Verifier(anchors, (), None, None)


def test_a_time_stamped_manifest_outlives_its_certificate_and_one_without_expires(
    unsigned: Path, record: ProvenanceRecord, tmp_path: Path
) -> None:
    ca = LeafCa()
    credentials, leaf = ca.leaf(timedelta(seconds=LIFETIME_S))
    with running_tsa() as tsa:
        with Mp4Signer(credentials, ta_url=tsa.url) as signer:
            stamped = signer.sign(unsigned, tmp_path / "stamped.mp4", record).path
        assert len(tsa.requests) == 1
    with Mp4Signer(credentials) as signer:
        bare = signer.sign(unsigned, tmp_path / "bare.mp4", record).path
    tsa_root = tsa.authority.root
    anchors = ca.anchors(leaf, tsa_root)
    # Both read trusted while the certificate is valid.
    assert read_c2pa(stamped, anchors).report.status == "trusted"
    assert read_c2pa(bare, anchors).report.status == "trusted"
    # Let the certificate expire for real.
    time.sleep(max(0.0, (leaf.not_valid_after_utc - datetime.now(UTC)).total_seconds()) + 1.5)

    report = verify_file(stamped, _verifier(anchors))
    assert report.c2pa.status == "trusted", report.c2pa
    assert report.verdict == "authentic"
    stamp = report.c2pa.time_stamp
    assert stamp is not None and stamp.trusted and stamp.signed_at is not None
    signed_at = datetime.fromisoformat(stamp.signed_at)
    assert signed_at < leaf.not_valid_after_utc

    report = verify_file(bare, _verifier(anchors))
    assert report.c2pa.status == "expired", report.c2pa
    assert report.verdict != "tampered"
    assert report.c2pa.time_stamp is None
    assert "signingCredential.expired" in report.c2pa.codes.failure
    assert any("no time-stamp" in problem for problem in report.c2pa.problems)
    # Its claims are not taken on an expired credential's word.
    assert any("claims are ignored" in note for note in report.notes)

    # A time-stamp from an authority the verifier does not trust does not save it either.
    report = verify_file(stamped, _verifier(ca.anchors(leaf, None)))
    assert report.c2pa.status == "expired" and report.verdict != "tampered"
    assert report.c2pa.time_stamp is not None and not report.c2pa.time_stamp.trusted
    assert any("authority we do not trust" in p for p in report.c2pa.problems)

    # Expired and tampered: the tampering is what is reported.
    data = bytearray(bare.read_bytes())
    data[data.find(b"mdat") + 64] ^= 0x01
    bare.write_bytes(bytes(data))
    assert read_c2pa(bare, anchors).report.status == "tampered"


def test_the_service_time_stamps_through_the_configured_authority(
    service: ProvenanceService, unsigned: Path, record: ProvenanceRecord, tmp_path: Path
) -> None:
    with running_tsa() as tsa:
        anchors = tmp_path / "tsa-roots.pem"
        anchors.write_bytes(tsa.authority.root_pem())
        service.tsa_url, service.tsa_anchors = tsa.url, anchors
        signed = service.sign_mp4(unsigned, tmp_path / "out.mp4", record)
        assert len(tsa.requests) == 1
    report = service.verify_file(signed.path)
    assert report.verdict == "authentic"
    assert report.c2pa.time_stamp is not None and report.c2pa.time_stamp.trusted
    assert "timeStamp.trusted" in report.c2pa.codes.success
    # The public trust-anchor list names the authority's root beside ours.
    [root] = service.trust_anchors().describe_time_stamp_roots()
    assert root["subject"] == tsa.authority.root.subject.rfc4514_string()


def test_an_unreachable_time_stamp_authority_fails_signing_and_publishes_nothing(
    service: ProvenanceService, unsigned: Path, record: ProvenanceRecord, tmp_path: Path
) -> None:
    with running_tsa() as tsa:
        url = tsa.url
    service.tsa_url = url  # the server is gone: the port refuses connections
    target = tmp_path / "out" / "clip.mp4"
    target.parent.mkdir()
    with pytest.raises(SigningError):
        service.sign_mp4(unsigned, target, record)
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize("trickle_s", [None, 0.2], ids=["silent", "trickling"])
def test_a_hung_time_stamp_authority_fails_signing_at_the_deadline(
    service: ProvenanceService,
    unsigned: Path,
    record: ProvenanceRecord,
    tmp_path: Path,
    trickle_s: float | None,
) -> None:
    """An authority that takes the connection and never answers (or dribbles its reply) held
    c2pa for its own 30 s: now signing fails at LPM_TSA_TIMEOUT_S, publishes nothing and keeps
    no manifest, and says why. Never an unsigned or untime-stamped file in its place."""
    target = tmp_path / "out" / "clip.mp4"
    target.parent.mkdir()
    service.tsa_timeout_s = 1.0
    with silent_tsa(trickle_s=trickle_s) as tsa:
        service.tsa_url = tsa.url
        started = time.monotonic()
        with pytest.raises(SigningError, match=r"did not answer within 1 s"):
            service.sign_mp4(unsigned, target, record)
        waited = time.monotonic() - started
        assert tsa.connections, "the authority was never asked"
    assert waited < 10, waited  # c2pa alone waits 30 s
    assert list(target.parent.iterdir()) == []
    assert service.manifests is None or service.manifests.latest(record.watermark_reference) is None


def test_a_hung_authority_is_not_waited_for_again_until_its_cool_down_ends(
    service: ProvenanceService, unsigned: Path, record: ProvenanceRecord, tmp_path: Path
) -> None:
    """Once the authority has missed its deadline, the next signatures (other live segments,
    other jobs) fail at once with its reason instead of each waiting the deadline out; after the
    cool-down it is asked again."""
    target = tmp_path / "out" / "clip.mp4"
    target.parent.mkdir()
    service.tsa_timeout_s = 0.5
    with silent_tsa() as tsa:
        service.tsa_url = tsa.url
        relay = relay_for(tsa.url, 0.5)
        relay.cooldown_s = 1.5
        with pytest.raises(SigningError, match=r"did not answer within 0.5 s"):
            service.sign_mp4(unsigned, target, record)
        asked, failed = len(tsa.connections), time.monotonic()
        with pytest.raises(SigningError, match=r"not asked again for"):
            service.sign_mp4(unsigned, target, record)
        assert len(tsa.connections) == asked, "the authority was asked during its cool-down"
        time.sleep(max(0.0, relay.cooldown_s - (time.monotonic() - failed)) + 0.1)
        with pytest.raises(SigningError, match=r"did not answer within 0.5 s"):
            service.sign_mp4(unsigned, target, record)
        assert len(tsa.connections) > asked, "the authority was not asked after its cool-down"
    assert list(target.parent.iterdir()) == []


def test_an_untrusted_signer_is_untrusted_not_tampered(
    service: ProvenanceService, unsigned: Path, record: ProvenanceRecord, tmp_path: Path
) -> None:
    credentials, _ = LeafCa().leaf(timedelta(days=1))
    with Mp4Signer(credentials) as signer:
        path = signer.sign(unsigned, tmp_path / "foreign.mp4", record).path
    report = service.verify_file(path)
    assert report.c2pa.status == "untrusted"
    assert report.verdict != "tampered"
    assert report.audit is None or report.audit.source == "watermark"


def _box(data: bytes, kind: bytes) -> tuple[int, int]:
    for box in read_layout_bytes(data):
        if box[0] == kind:
            return box[1], box[2]
    raise AssertionError(f"no {kind!r} box")


def read_layout_bytes(data: bytes) -> list[tuple[bytes, int, int]]:
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append((kind, offset, size))
        offset += size
    return boxes


def test_a_free_box_appended_after_signing_is_tampering(
    service: ProvenanceService, signed: Path
) -> None:
    signed.write_bytes(signed.read_bytes() + struct.pack(">I4s", 20, b"free") + b"hidden bytes")
    report = service.verify_file(signed)
    assert report.verdict == "tampered"
    assert report.c2pa.status == "tampered"
    assert "assertion.bmffHash.mismatch" in report.c2pa.codes.failure


def test_a_free_box_appended_to_a_file_signed_with_free_boxes_left_out_is_found(
    service: ProvenanceService, keys: KeyStore, unsigned: Path, record: ProvenanceRecord
) -> None:
    # Files signed before free boxes were hashed (c2pa's default leaves them out): c2pa reads
    # them intact whatever a free box holds, so the layout check must catch it.
    manifest = build_manifest(record, title="old.mp4", label=new_label())
    credentials = keys.c2pa_signer()
    info = c2pa.C2paSignerInfo(
        b"es256", credentials.certificate_chain_pem, credentials.private_key_pem, None
    )
    old = unsigned.parent / "old.mp4"
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder.from_json(manifest) as builder,
        unsigned.open("rb") as src,
        old.open("w+b") as out,
    ):
        builder.sign(signer, MP4, src, out)
    assert service.verify_file(old).verdict == "authentic"
    old.write_bytes(old.read_bytes() + struct.pack(">I4s", 20, b"free") + b"hidden bytes")
    report = service.verify_file(old)
    assert report.verdict == "tampered" and report.c2pa.status == "tampered"
    assert report.c2pa.codes.failure == []  # c2pa itself sees nothing wrong
    assert any("12 bytes in a top-level 'free' box" in p for p in report.c2pa.problems)


def test_raw_bytes_appended_after_signing_are_reported_not_refused(
    service: ProvenanceService, signed: Path, record: ProvenanceRecord
) -> None:
    original = signed.read_bytes()
    signed.write_bytes(original + b"appended after signing")
    report = service.verify_file(signed)
    assert report.verdict == "tampered"
    assert report.c2pa.status == "tampered"
    assert report.c2pa.manifest_id is not None
    assert any(
        f"22 bytes follow the end of the signed file (byte {len(original)})" in p
        for p in report.c2pa.problems
    )
    assert report.file.size_bytes == len(original) + 22
    # The signed part it carries is still traced to its audit entry.
    assert report.audit is not None and report.audit.index == record.receipt.index


def _second_output(service: ProvenanceService, record: ProvenanceRecord, directory: Path) -> bytes:
    other = write_mp4(directory / "other-unsigned.mp4", audio=True, start=40)
    return service.sign_mp4(other, directory / "other.mp4", record).path.read_bytes()


def test_one_outputs_header_with_anothers_media_data_is_tampered_not_a_decode_error(
    service: ProvenanceService, signed: Path, record: ProvenanceRecord, tmp_path: Path
) -> None:
    a, b = signed.read_bytes(), _second_output(service, record, tmp_path)
    a_mdat, _ = _box(a, b"mdat")
    a_moov, _ = _box(a, b"moov")
    b_mdat, b_size = _box(b, b"mdat")
    # A's header and manifest, B's media data, A's sample tables.
    spliced = tmp_path / "spliced.mp4"
    spliced.write_bytes(a[:a_mdat] + b[b_mdat : b_mdat + b_size] + a[a_moov:])
    report = service.verify_file(spliced)
    assert report.verdict == "tampered"
    assert report.c2pa.status == "tampered"
    assert "assertion.bmffHash.mismatch" in report.c2pa.codes.failure
    assert report.watermark.status == "unavailable"
    assert any("does not decode" in note for note in report.notes)
    assert report.file.width is None
    # A's header and manifest, then all of B from its media data on (B's own tables).
    spliced.write_bytes(a[:a_mdat] + b[b_mdat:])
    report = service.verify_file(spliced)
    assert report.verdict == "tampered" and report.c2pa.status == "tampered"
    assert "assertion.bmffHash.mismatch" in report.c2pa.codes.failure


def test_the_verify_endpoint_reports_appended_bytes(client: TestClient, signed: Path) -> None:
    response = client.post(
        "/v1/verify",
        content=signed.read_bytes() + b"\0\0\0\x10" + b"trailing",
        headers={"Content-Type": "video/mp4"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["verdict"] == "tampered"
    assert any("follow the end of the signed file" in p for p in report["c2pa"]["problems"])


def test_layout_reads_boxes_and_trailing_bytes(signed: Path) -> None:
    layout = read_layout(signed)
    assert [box.type for box in layout.boxes][:2] == ["ftyp", "uuid"]
    assert layout.trailing == 0
    signed.write_bytes(signed.read_bytes() + b"\0\0\0\xffmdat")
    assert read_layout(signed).trailing == 8


def test_the_cli_reports_an_expired_credential_as_expired_not_tampered(
    runtime: Runtime, unsigned: Path, record: ProvenanceRecord, tmp_path: Path
) -> None:
    credentials, leaf = LeafCa().leaf(timedelta(seconds=LIFETIME_S))
    with Mp4Signer(credentials) as signer:
        path = signer.sign(unsigned, tmp_path / "bare.mp4", record).path
    time.sleep(max(0.0, (leaf.not_valid_after_utc - datetime.now(UTC)).total_seconds()) + 1.5)
    code, output = run(runtime, "verify", str(path))
    assert code == 3, output  # nothing of ours found: not 2 (tampered)
    assert "c2pa:      expired" in output
    assert "no time-stamp" in output
    code, output = run(runtime, "verify", str(path), "--json")
    assert code == 3 and json.loads(output)["c2pa"]["status"] == "expired"
