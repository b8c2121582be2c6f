"""Provenance actions, one function each, shared by the HTTP API, the CLI and the gate:
sign an MP4, record a live stream as signed segments, verify a file or a segment chain.

Verification is deliberately not recorded in the audit log: ``POST /v1/verify`` is anonymous
and public, so one append per call would let anyone grow an append-only log that never deletes
(and would store callers' addresses there, personal data with no accountability gain). It
changes no state and reveals only public fields; requests are rate-limited and logged in the
ordinary request log instead. See docs/verify.md.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import __version__
from ..audit import Receipt
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..errors import NotFound
from ..keys import KeyStore
from ..runtime import Runtime
from ..settings import Settings
from ._media import DEFAULT_LIMITS, DecodeLimits, is_bmff, open_video, probe
from .chain import check_chain
from .errors import FrameTooLarge, ProvenanceError, UnreadableMedia
from .inclusion import check_inclusion
from .layout import Layout, read_layout
from .manifests import ManifestStore, handle_reference, manifest_handle
from .models import ProvenanceRecord, SignedAsset
from .reading import INTACT, C2paReading, read_c2pa, read_links
from .report import (
    AuditReport,
    ChainReport,
    FileInfo,
    Verdict,
    VerificationReport,
    WatermarkReport,
)
from .segments import SegmentCallback, SegmentRecorder
from .signing import Mp4Signer
from .trust import TrustAnchors, time_stamp_roots
from .tsa_relay import DEFAULT_TIMEOUT_S
from .watermark import Detection, detect_frames

BMFF_CONTAINER = "mov,mp4,m4a,3gp,3g2,mj2"


class DetectionLike(Protocol):
    """What the watermark detector returns (``lpm_guard.provenance.watermark.Detection``)."""

    @property
    def present(self) -> bool: ...
    @property
    def reference(self) -> int | None: ...
    @property
    def confidence(self) -> float: ...
    @property
    def frames_used(self) -> int: ...
    @property
    def method(self) -> str | None: ...
    @property
    def candidates(self) -> int: ...


class WatermarkDetector(Protocol):
    """``watermark.detect_file``: the secrets to try, and the references issued under them to
    trace the clip to when its payload cannot be decoded."""

    def __call__(
        self, path: Path, secrets: Sequence[bytes], *, references: Sequence[int] | None = None
    ) -> DetectionLike: ...


@dataclass(frozen=True)
class Verifier:
    """What verification needs: trust anchors, watermark secrets, the audit log."""

    anchors: TrustAnchors
    watermark_secrets: tuple[bytes, ...] = field(repr=False)
    audit: AuditService | None
    detector: WatermarkDetector | None
    limits: DecodeLimits = DEFAULT_LIMITS
    handles: Callable[[int], str] | None = None  # reference -> manifest handle (``manifests``)

    def issued_references(self) -> list[int] | None:
        """Every reference a watermark was given: the index of each allowed generation
        request, whose receipt the gate hands the watermarker (live/opening.py,
        jobs/worker.py). None without the audit log."""
        return None if self.audit is None else self.audit.indices(AuditTag.GENERATION_REQUEST_ALLOW)


def generation_record(
    audit: AuditService,
    stream_id: str,
    receipt: Receipt,
    policy_version: str,
    consent_index: int | None,
) -> ProvenanceRecord:
    """The provenance record signed into a generation's output (an offline job's MP4, a live
    session's segments and recording): the gate's allow entry (whose index the watermark
    carries), a checkpoint sealed now that covers it, and the consent stage's decision entry
    by its leaf hash (the SHA-256 of that record; zeros where no consent entry applies)."""
    checkpoint = audit.checkpoint(force=True)
    consent_leaf = (
        audit.log.entry(consent_index).leaf_hash if consent_index is not None else b"\0" * 32
    )
    return ProvenanceRecord(
        session_id=stream_id,
        receipt=receipt,
        checkpoint_note=checkpoint.note,
        policy_version=policy_version,
        consent_sha256=consent_leaf.hex(),
        generator_version=__version__,
        watermark_reference=receipt.index,
    )


def verify_file(path: Path, verifier: Verifier) -> VerificationReport:
    """Report the C2PA manifest, the watermark and the audit entry they point at.

    Raises ``UnsupportedMedia`` / ``UnreadableMedia`` for input that is not a readable video
    and carries no manifest (a signed file that does not decode is reported, as tampered);
    ``FrameTooLarge`` for frames past the verifier's decode limits, before decoding them.
    """
    # (0): bytes after the last whole box of a signed MP4: report the signed file they follow.
    if is_bmff(path):
        layout = read_layout(path)
        if layout.trailing:
            appended = _verify_with_appended_bytes(path, layout, verifier)
            if appended is not None:
                return appended
    # (1): a readable video of a bounded frame size, or a clear error.
    try:
        media = probe(path, verifier.limits)
    except UnreadableMedia as exc:
        return _verify_undecodable(path, verifier, exc)
    info = FileInfo(
        size_bytes=path.stat().st_size,
        sha256=_sha256(path),
        container=media.container,
        width=media.width,
        height=media.height,
        duration_s=media.duration_s,
    )
    notes: list[str] = []
    # (2): the C2PA manifest, validated against our trust anchors.
    reading = read_c2pa(path, verifier.anchors, bmff=media.bmff)
    # (3): the watermark, which survives re-encoding that strips the manifest.
    watermark = _detect(path, verifier, notes)
    # (4): the audit entry, from the signed receipt if there is one, else the watermark.
    audit = _audit(reading, watermark, verifier, notes)
    return VerificationReport(
        verdict=_verdict(reading, watermark, audit, notes),
        file=info,
        c2pa=reading.report,
        watermark=watermark,
        audit=audit,
        notes=notes,
    )


def _verify_with_appended_bytes(
    path: Path, layout: Layout, verifier: Verifier
) -> VerificationReport | None:
    """The report of the signed file that ends where the whole boxes end, as tampered, if that
    part carries an intact manifest; None otherwise (a truncated file, say)."""
    with tempfile.TemporaryDirectory(prefix="lpm-verify-prefix-") as directory:
        prefix = Path(directory) / "signed.mp4"
        with path.open("rb") as src, prefix.open("wb") as out:
            _copy(src, out, layout.end)
        if read_c2pa(prefix, verifier.anchors).report.status not in INTACT:
            return None
        report = verify_file(prefix, verifier)
    problem = (
        f"{layout.trailing} bytes follow the end of the signed file (byte {layout.end}): "
        "added after signing"
    )
    c2pa = report.c2pa.model_copy(
        update={"status": "tampered", "problems": [*report.c2pa.problems, problem]}
    )
    info = report.file.model_copy(update={"size_bytes": layout.size, "sha256": _sha256(path)})
    return report.model_copy(update={"verdict": "tampered", "c2pa": c2pa, "file": info})


def _verify_undecodable(
    path: Path, verifier: Verifier, error: UnreadableMedia
) -> VerificationReport:
    """A signed MP4 whose video does not decode (one output's header and another's media data,
    say) is reported with its manifest, not refused: its manifest says what it should be."""
    # A box running past the end is truncation (an upload cut short): the error stands.
    if not is_bmff(path) or read_layout(path).trailing:
        raise error
    reading = read_c2pa(path, verifier.anchors)
    if reading.report.manifest_id is None:
        raise error  # no manifest c2pa can read: nothing says what the file should be
    notes = [
        f"the video does not decode ({error.detail}): its media data is not what its header "
        "and manifest describe"
    ]
    watermark = WatermarkReport(status="unavailable", error=error.detail)
    audit = _audit(reading, watermark, verifier, notes)
    info = FileInfo(
        size_bytes=path.stat().st_size,
        sha256=_sha256(path),
        container=BMFF_CONTAINER,
        width=None,
        height=None,
        duration_s=None,
    )
    return VerificationReport(
        verdict=_verdict(reading, watermark, audit, notes),
        file=info,
        c2pa=reading.report,
        watermark=watermark,
        audit=audit,
        notes=notes,
    )


def _copy(src: Any, out: Any, length: int) -> None:
    while length > 0:
        block = src.read(min(length, 1 << 20))
        if not block:
            break
        out.write(block)
        length -= len(block)


def verify_segments(
    paths: Sequence[Path], anchors: TrustAnchors, limits: DecodeLimits = DEFAULT_LIMITS
) -> ChainReport:
    """Check that separately stored live segments, in the order given, form an unbroken chain
    from the start of their stream."""
    for path in paths:
        probe(path, limits)
    return check_chain(read_links(list(paths), anchors), from_start=True)


def _detect(path: Path, verifier: Verifier, notes: list[str]) -> WatermarkReport:
    if verifier.detector is None or not verifier.watermark_secrets:
        notes.append("watermark detection is not available here")
        return WatermarkReport(status="unavailable")
    issued = verifier.issued_references()
    try:
        found = verifier.detector(path, verifier.watermark_secrets, references=issued)
    except FrameTooLarge:
        raise  # a refusal of the clip, not a reading that failed
    except ProvenanceError as exc:
        return WatermarkReport(status="unavailable", error=exc.detail)
    candidates = found.candidates or None
    if not found.present or found.reference is None:
        return WatermarkReport(
            status="absent",
            confidence=found.confidence,
            frames_used=found.frames_used,
            candidates=candidates,
        )
    return WatermarkReport(
        status="present",
        reference=f"{found.reference:016x}",
        manifest=(
            f"/v1/manifests/{verifier.handles(found.reference)}"
            if verifier.handles is not None
            else None
        ),
        method=found.method,
        confidence=found.confidence,
        frames_used=found.frames_used,
        candidates=candidates,
    )


def _audit(
    reading: C2paReading, watermark: WatermarkReport, verifier: Verifier, notes: list[str]
) -> AuditReport | None:
    marked = int(watermark.reference, 16) if watermark.reference is not None else None
    # A manifest's claims count only if we signed them: one of our leaves under our root and
    # a valid claim signature (the content may still have been changed: the verdict says so).
    ours = reading.ours
    if reading.receipt is not None and not ours:
        notes.append("the manifest is not signed under our trust anchors: its claims are ignored")
    receipt = reading.receipt if ours else None
    reference = reading.reference if ours else None
    if reference is not None and marked is not None and reference != marked:
        notes.append(
            f"the manifest's soft binding ({reference:016x}) and the watermark "
            f"({marked:016x}) name different references"
        )
    if verifier.audit is None:
        if receipt is not None or marked is not None:
            notes.append("the audit log is not available here")
        return None
    if receipt is not None:
        claim = reading.report.provenance
        return check_inclusion(
            verifier.audit,
            receipt.index,
            source="c2pa",
            receipt=receipt,
            signing_checkpoint=claim.audit.checkpoint if claim else None,
        )
    if marked is not None:
        return check_inclusion(verifier.audit, marked, source="watermark")
    return None


def _verdict(
    reading: C2paReading, watermark: WatermarkReport, audit: AuditReport | None, notes: list[str]
) -> Verdict:
    c2pa = reading.report
    broken_chain = c2pa.chain is not None and c2pa.chain.status == "broken"
    bad_audit = audit is not None and (
        audit.status == "failed" or (audit.status == "not_found" and audit.source == "c2pa")
    )
    mismatch = any("name different references" in note for note in notes)
    if c2pa.status == "tampered" or broken_chain or bad_audit or mismatch:
        return "tampered"
    if c2pa.status == "trusted":
        return "authentic"
    if watermark.status == "present":
        return "traced"
    return "unknown"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ProvenanceService:
    """The provenance actions over one key store and audit log."""

    def __init__(
        self,
        keys: KeyStore,
        audit: AuditService | None,
        detector: WatermarkDetector | None,
        *,
        tsa_url: str | None = None,
        tsa_timeout_s: float = DEFAULT_TIMEOUT_S,
        tsa_anchors: Path | None = None,
        limits: DecodeLimits = DEFAULT_LIMITS,
        manifests: ManifestStore | None = None,
    ) -> None:
        self.keys = keys
        self.audit = audit
        self.detector = detector
        self.limits = limits
        self.tsa_url = tsa_url
        self.tsa_timeout_s = tsa_timeout_s
        self.tsa_anchors = tsa_anchors
        self.manifests = manifests

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> ProvenanceService:
        settings = runtime.settings
        limits = decode_limits(settings)
        return cls(
            runtime.keys,
            AuditService(runtime.audit),
            default_detector(limits),
            tsa_url=settings.tsa_url,
            tsa_timeout_s=settings.tsa_timeout_s,
            tsa_anchors=settings.tsa_trust_anchors,
            limits=limits,
            manifests=ManifestStore(runtime.engine),
        )

    def trust_anchors(self) -> TrustAnchors:
        return TrustAnchors.from_keys(self.keys, time_stamp_roots(self.tsa_anchors))

    def verifier(self) -> Verifier:
        secrets = tuple(key.secret for key in self.keys.watermark_keys())
        return Verifier(
            self.trust_anchors(),
            secrets,
            self.audit,
            self.detector,
            self.limits,
            handles=self.manifest_handle if self.manifests is not None else None,
        )

    def verify_file(self, path: Path) -> VerificationReport:
        return verify_file(path, self.verifier())

    def verify_segments(self, paths: Sequence[Path]) -> ChainReport:
        return verify_segments(paths, self.trust_anchors(), self.limits)

    def manifest_handle(self, reference: int) -> str:
        """The handle ``signed_manifest`` takes for ``reference`` (``manifests``)."""
        return manifest_handle(self.keys.data_cipher(), reference)

    def signed_manifest(self, handle: str) -> bytes:
        """The manifest store signed last for the reference ``handle`` was made for
        (application/c2pa): how a clip whose manifest was stripped finds it again through its
        watermark (verification reports the handle). ``NotFound`` for a handle that is not ours
        (guessed, altered, a bare reference) and for a reference no output was signed with:
        one answer for all of them."""
        reference = handle_reference(self.keys.data_cipher(), handle.lower())
        found = (
            self.manifests.latest(reference)
            if self.manifests is not None and reference is not None
            else None
        )
        if found is None:
            raise NotFound("no signed manifest is known for this handle")
        return found

    def sign_mp4(self, source: Path, target: Path, record: ProvenanceRecord) -> SignedAsset:
        credentials = self.keys.c2pa_signer()
        with Mp4Signer(
            credentials,
            ta_url=self.tsa_url,
            ta_timeout_s=self.tsa_timeout_s,
            keeper=self.manifests,
        ) as signer:
            return signer.sign(source, target, record)

    def recorder(
        self,
        directory: Path,
        *,
        stream_id: str,
        record: ProvenanceRecord,
        width: int,
        height: int,
        fps: int,
        on_segment: SegmentCallback | None = None,
        **options: Any,
    ) -> SegmentRecorder:
        return SegmentRecorder(
            directory,
            stream_id=stream_id,
            record=record,
            credentials=self.keys.c2pa_signer(),
            ta_url=self.tsa_url,
            ta_timeout_s=self.tsa_timeout_s,
            keeper=self.manifests,
            width=width,
            height=height,
            fps=fps,
            on_segment=on_segment,
            **options,
        )


def decode_limits(settings: Settings) -> DecodeLimits:
    return DecodeLimits(
        max_frame_pixels=settings.verify_max_frame_pixels,
        max_held_pixels=settings.verify_max_held_pixels,
    )


@dataclass(frozen=True)
class BoundedDetector:
    """The keyed watermark's detector over a file decoded within ``limits``: frames past the
    pixel cap are refused before decoding, and only as many frames are held as the held-pixel
    budget allows (at most ``limits.max_frames``), one RGB frame decoded at a time."""

    limits: DecodeLimits = DEFAULT_LIMITS

    def __call__(
        self, path: Path, secrets: Sequence[bytes], *, references: Sequence[int] | None = None
    ) -> Detection:
        with open_video(path, self.limits) as video:
            frames = video.rgb_frames()
            try:
                return detect_frames(
                    frames, secrets, max_frames=video.frames_to_hold, references=references
                )
            finally:
                frames.close()


def default_detector(limits: DecodeLimits = DEFAULT_LIMITS) -> WatermarkDetector:
    """The keyed watermark's detector: every secret the key store keeps, as many frames as
    ``limits`` allow (up to 50)."""
    return BoundedDetector(limits)
