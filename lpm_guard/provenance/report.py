"""The verification report: one pydantic model, the JSON schema of ``lpm-guard verify --json``
and of ``POST /v1/verify`` (documented in docs/verify.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION: Literal[2] = 2
"""2: ``c2pa.status`` ``valid`` became ``untrusted``, ``expired`` was added, with
``c2pa.time_stamp`` and ``c2pa.problems``; ``file.width``/``height`` may be null (the video does
not decode)."""

C2paStatus = Literal["absent", "trusted", "untrusted", "expired", "tampered"]
Verdict = Literal["authentic", "traced", "tampered", "unknown"]


class FileInfo(BaseModel):
    size_bytes: int
    sha256: str
    container: str
    width: int | None = Field(description="null when the video cannot be decoded")
    height: int | None
    duration_s: float | None


class ValidationCodes(BaseModel):
    """C2PA validation status codes of the active manifest, by outcome."""

    success: list[str] = Field(default_factory=list)
    informational: list[str] = Field(default_factory=list)
    failure: list[str] = Field(default_factory=list)


class AuditClaim(BaseModel):
    """The audit receipt a manifest carries."""

    index: int
    leaf_hash: str
    tree_size: int
    checkpoint: str


class ProvenanceClaim(BaseModel):
    """Our own assertion (``org.lpm-guard.provenance``), as signed."""

    session_id: str
    audit: AuditClaim
    policy_version: str
    consent_sha256: str
    generator_version: str


class SegmentInfo(BaseModel):
    """A live segment's ``c2pa.livevideo.segment`` fields (C2PA 2.3 §19.3)."""

    stream_id: str
    sequence_number: int
    previous_manifest_id: str | None


class ChainReport(BaseModel):
    """Whether consecutive live segments link up: one stream, sequence numbers without gaps,
    each naming its predecessor's manifest id."""

    status: Literal["intact", "broken"]
    stream_id: str | None
    segments: int
    problems: list[str] = Field(default_factory=list)


class TimeStamp(BaseModel):
    """The RFC 3161 time-stamp on the manifest's signature."""

    signed_at: str | None = Field(description="The time the time-stamp authority vouches for")
    trusted: bool = Field(
        description="The authority chains to one of our time-stamp anchors; only then does "
        "it keep the credential valid past its certificate's expiry"
    )


class C2paReport(BaseModel):
    status: C2paStatus = Field(
        description="absent: no manifest; trusted: intact and signed under one of our trust "
        "anchors; untrusted: intact, but the signer does not chain to one of our anchors; "
        "expired: intact, but the signing certificate has expired and no trusted time-stamp "
        "shows it was signed while the certificate was valid; tampered: the content or the "
        "manifest does not match its signature, or bytes were added outside what it covers"
    )
    manifest_id: str | None = None
    signer: str | None = Field(default=None, description="Issuer / common name of the signer")
    codes: ValidationCodes = Field(default_factory=ValidationCodes)
    watermark_reference: str | None = Field(
        default=None, description="The c2pa.soft-binding reference, 16 hex digits"
    )
    provenance: ProvenanceClaim | None = None
    segment: SegmentInfo | None = None
    chain: ChainReport | None = Field(
        default=None, description="For a recording whose ingredients are live segments"
    )
    time_stamp: TimeStamp | None = Field(
        default=None, description="null when the signature carries no time-stamp"
    )
    problems: list[str] = Field(
        default_factory=list,
        description="What does not hold, in words: what changed, or why it is not trusted",
    )
    error: str | None = None


class WatermarkReport(BaseModel):
    status: Literal["absent", "present", "unavailable"]
    reference: str | None = Field(default=None, description="16 hex digits (64 bits)")
    manifest: str | None = Field(
        default=None,
        description="Where this mark's signed manifest is fetched (GET, public): "
        "/v1/manifests/{handle}, the handle unguessable from the reference",
    )
    method: Literal["decoded", "traced"] | None = Field(
        default=None,
        description="decoded: the payload and its keyed check value read blind; traced: one "
        "of the references the audit log issued stood out (the payload was too damaged to "
        "decode)",
    )
    confidence: float | None = Field(
        default=None, description="-log10 of the false-alarm probability (see the watermark)"
    )
    frames_used: int = 0
    candidates: int | None = Field(
        default=None, description="issued references compared when tracing was tried"
    )
    error: str | None = None


class AuditEntryPublic(BaseModel):
    """The public fields of an audit entry: no actor, objects, reasons or payload."""

    index: int
    timestamp: str
    action: str
    outcome: str
    leaf_hash: str


class InclusionProofModel(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    path: list[str]
    root_hash: str


class CheckpointModel(BaseModel):
    origin: str
    tree_size: int
    root_hash: str
    timestamp: str
    note: str


class AuditReport(BaseModel):
    status: Literal["included", "pending", "not_found", "failed"] = Field(
        description="included: the entry's inclusion proof checks against the latest signed "
        "checkpoint; pending: the entry is newer than that checkpoint; not_found: no such "
        "entry; failed: a proof, hash or signature does not check (the log or the claim is bad)"
    )
    source: Literal["c2pa", "watermark"]
    index: int
    entry: AuditEntryPublic | None = None
    inclusion_proof: InclusionProofModel | None = None
    checkpoint: CheckpointModel | None = None
    consistent_with_signing_checkpoint: bool | None = Field(
        default=None,
        description="The checkpoint in the manifest is a prefix of the latest one "
        "(consistency proof checked); null when the manifest carries none",
    )
    problems: list[str] = Field(default_factory=list)


class VerificationReport(BaseModel):
    schema_version: Literal[2] = SCHEMA_VERSION
    verdict: Verdict = Field(
        description="authentic: trusted intact manifest; traced: no trusted intact manifest "
        "but our watermark found; tampered: a manifest, segment chain or audit check failed; "
        "unknown: neither"
    )
    file: FileInfo
    c2pa: C2paReport
    watermark: WatermarkReport
    audit: AuditReport | None = None
    notes: list[str] = Field(default_factory=list)
