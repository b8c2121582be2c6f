"""The consent domain's tables and enums.

Biometric columns (``photo``, ``descriptor``, ``evidence``) hold AES-GCM blobs sealed with the
data key (``KeyStore.data_cipher()``); the associated data names the table, the row and the
column (see ``sealing.py``), so a blob copied into another row does not open.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlmodel import Field, SQLModel


class IdentityKind(StrEnum):
    PERSON = "person"
    SYNTHETIC = "synthetic"


class IdentityStatus(StrEnum):
    AWAITING_CONSENT = "awaiting_consent"  # a person, enrolled; the subject has not consented
    AWAITING_REVIEW = "awaiting_review"  # the subject's live capture passed; a reviewer decides
    CONSENTED = "consented"  # a person whose consent a reviewer approved
    PENDING_REVIEW = "pending_review"  # a synthetic character waiting for a reviewer
    APPROVED = "approved"  # a synthetic character a reviewer approved
    REJECTED = "rejected"  # a synthetic character a reviewer rejected
    REVOKED = "revoked"  # consent (or approval) withdrawn; biometric data deleted


class Use(StrEnum):
    OFFLINE = "offline"
    LIVE = "live"


class SyntheticOrigin(StrEnum):
    DRAWN = "drawn"
    RENDERED_3D = "3d"
    AI_GENERATED = "ai-generated"


class PhotoSource(StrEnum):
    REFERENCE = "reference"  # uploaded by the researcher
    CONSENT_STILL = "consent-still"  # a frame of the subject's live capture


class CaptureStatus(StrEnum):
    OPEN = "open"  # the script was issued; the upload has not arrived
    REFUSED = "refused"  # uploaded and refused by a check (or too late, or unreadable)
    AWAITING_REVIEW = "awaiting_review"  # every check passed; a reviewer watches it
    APPROVED = "approved"  # a reviewer approved: the consent is in force
    REJECTED = "rejected"  # a reviewer rejected it
    EXPIRED = "expired"  # the deadline passed with no upload, or the identity was revoked


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything this domain stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _id(length: int = 40) -> Column[str]:
    return Column(String(length), primary_key=True)


def _when(nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


def _owned_by(table: str) -> Column[str]:
    """The id of the row this one belongs to; deleting that row deletes this one."""
    return Column(
        String(40), ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False, index=True
    )


class Identity(SQLModel, table=True):
    __tablename__ = "consent_identities"

    id: str = Field(sa_column=_id())
    owner: str = Field(sa_column=Column(String(256), nullable=False, index=True))
    display_name: str = Field(sa_column=Column(String(200), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    status: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    origin: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    attestation: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The uses and exclusions in force: from the subject's consent, or the reviewer's approval.
    allowed_uses: str = Field(default="", sa_column=Column(String(64), nullable=False))
    excluded_content: str = Field(default="", sa_column=Column(Text, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    created_at: datetime = Field(sa_column=_when())
    updated_at: datetime = Field(sa_column=_when())
    reviewed_by: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    review_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # A person's own address (sealed with the data key): invitations and the withdrawal link go
    # there, never to the researcher. ``subject_email_hash`` (keyed) finds blocks by address.
    subject_email: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    subject_email_hash: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, index=True)
    )

    def uses(self) -> frozenset[Use]:
        return frozenset(Use(u) for u in self.allowed_uses.split(",") if u)


class ReferencePhoto(SQLModel, table=True):
    __tablename__ = "consent_reference_photos"

    id: str = Field(sa_column=_id())
    identity_id: str = Field(sa_column=_owned_by("consent_identities"))
    source: str = Field(sa_column=Column(String(16), nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    encoder: str = Field(sa_column=Column(String(64), nullable=False))
    photo: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    descriptor: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=_when())
    landmarks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """A drawn character's 68 points as JSON ``[[x, y], …]`` in this photo's pixels: the rig
    uses them instead of detecting a face (synthetic characters only)."""


class Invitation(SQLModel, table=True):
    __tablename__ = "consent_invitations"

    id: str = Field(sa_column=_id())
    identity_id: str = Field(sa_column=_owned_by("consent_identities"))
    created_by: str = Field(sa_column=Column(String(256), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    challenge_phrase: str = Field(sa_column=Column(String(200), nullable=False))
    statement: str = Field(sa_column=Column(Text, nullable=False))
    allowed_uses: str = Field(sa_column=Column(String(64), nullable=False))
    excluded_content: str = Field(sa_column=Column(Text, nullable=False))
    consent_expires_at: datetime = Field(sa_column=_when())
    link_expires_at: datetime = Field(sa_column=_when())
    created_at: datetime = Field(sa_column=_when())
    used_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    # The subject said no (``refused_at``), and perhaps reported the request as abuse.
    refused_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    reported: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))


class ConsentRecord(SQLModel, table=True):
    __tablename__ = "consent_records"

    id: str = Field(sa_column=_id())
    identity_id: str = Field(sa_column=_owned_by("consent_identities"))
    invitation_id: str = Field(sa_column=Column(String(40), nullable=False))
    statement_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    evidence_sha256: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of hashes
    evidence: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    transcript: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    revocation_token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    allowed_uses: str = Field(sa_column=Column(String(64), nullable=False))
    accepted_at: datetime = Field(sa_column=_when())
    expires_at: datetime = Field(sa_column=_when())
    revoked_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    revoked_by: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    capture_id: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    reviewed_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    reviewed_by: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    review_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Capture(SQLModel, table=True):
    """One live capture session: the script the server issued, its deadline, and (once the
    video arrived) every check's result and the sealed video for the reviewer."""

    __tablename__ = "consent_captures"

    id: str = Field(sa_column=_id())
    invitation_id: str = Field(sa_column=_owned_by("consent_invitations"))
    identity_id: str = Field(sa_column=Column(String(40), nullable=False, index=True))
    status: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    script: str = Field(sa_column=Column(Text, nullable=False))  # JSON (liveness.Script)
    opened_at: datetime = Field(sa_column=_when())
    deadline: datetime = Field(sa_column=_when())
    submitted_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    video_sha256: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    video_type: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    video: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # JSON list of check results (names, outcomes, scores): for reviewers, never the subject.
    checks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    transcript: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Sealed perceptual hashes of the capture's face crops: later captures must not copy it.
    hashes: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    reviewed_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))
    reviewed_by: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    review_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AddressBlock(SQLModel, table=True):
    """An address whose owner asked for no more invitations. Only a keyed hash is kept."""

    __tablename__ = "consent_address_blocks"

    email_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    created_at: datetime = Field(sa_column=_when())
    reason: str = Field(sa_column=Column(String(32), nullable=False))  # refused | withdrew


class ProtectedIdentity(SQLModel, table=True):
    __tablename__ = "consent_protected_identities"

    id: str = Field(sa_column=_id())
    name: str = Field(sa_column=Column(String(200), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(sa_column=Column(String(256), nullable=False))
    created_at: datetime = Field(sa_column=_when())


class ProtectedFace(SQLModel, table=True):
    __tablename__ = "consent_protected_faces"

    id: str = Field(sa_column=_id())
    protected_id: str = Field(sa_column=_owned_by("consent_protected_identities"))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    encoder: str = Field(sa_column=Column(String(64), nullable=False))
    photo: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    descriptor: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=_when())
