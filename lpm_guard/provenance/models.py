"""What provenance takes in (the gate's ``ProvenanceRecord``) and hands back (signed assets)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NewType

from ..audit import Receipt

ManifestLabel = NewType("ManifestLabel", str)
"""A C2PA manifest label, ``urn:c2pa:<uuid>``: the manifest id a later segment points back to."""

REFERENCE_LIMIT = 1 << 64
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ProvenanceRecord:
    """Everything a manifest says about where a file came from. No personal data: ids and hashes.

    ``receipt`` is the audit receipt of the session's "generation allowed" entry and
    ``checkpoint_note`` the latest signed checkpoint (C2SP signed note) when it was issued;
    ``watermark_reference`` is the 64-bit reference the watermark carries in every frame (the
    gate uses the receipt's index); ``consent_sha256`` is the hex SHA-256 of the consent record.
    """

    session_id: str
    receipt: Receipt
    checkpoint_note: str
    policy_version: str
    consent_sha256: str
    generator_version: str
    watermark_reference: int

    def __post_init__(self) -> None:
        if not _ID.match(self.session_id):
            raise ValueError("session_id must be 1-128 characters of [A-Za-z0-9._:-]")
        if not _SHA256.match(self.consent_sha256):
            raise ValueError("consent_sha256 must be 64 lowercase hex characters")
        if not 0 <= self.watermark_reference < REFERENCE_LIMIT:
            raise ValueError("watermark_reference must be an unsigned 64-bit integer")
        if not self.policy_version or not self.generator_version:
            raise ValueError("policy_version and generator_version are required")
        if not self.checkpoint_note.strip():
            raise ValueError("checkpoint_note is required")


@dataclass(frozen=True)
class SignedAsset:
    """A signed MP4 at its final path; ``sign_ms`` is C2PA signing (ingredients included,
    time-stamping too), ``publish_ms`` the durable publish after it (fsync, rename, directory
    fsync); ``manifest`` the signed C2PA manifest store as embedded (application/c2pa)."""

    path: Path
    manifest_label: ManifestLabel
    sign_ms: float
    publish_ms: float
    manifest: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class SegmentSigned:
    """The event a ``SegmentRecorder`` emits when a live segment has been closed and signed."""

    stream_id: str
    sequence_number: int
    path: Path
    manifest_label: ManifestLabel
    previous_manifest_label: ManifestLabel | None
    start_s: float
    duration_s: float
    frames: int
    sign_ms: float
    publish_ms: float
