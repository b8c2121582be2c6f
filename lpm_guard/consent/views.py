"""What the consent services return: plain, JSON-ready views (never biometric data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .models import Identity, ProtectedIdentity, as_utc


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment is not None else None


@dataclass(frozen=True)
class IdentityView:
    id: str
    owner: str
    display_name: str
    kind: str
    status: str
    origin: str | None
    allowed_uses: list[str]
    excluded_content: str
    expires_at: str | None
    created_at: str | None
    photos: int
    subject_email: str | None = None  # masked (a***@example.org), for the researcher to check

    @classmethod
    def of(cls, row: Identity, photos: int, subject_email: str | None = None) -> IdentityView:
        return cls(
            id=row.id,
            owner=row.owner,
            display_name=row.display_name,
            kind=row.kind,
            status=row.status,
            origin=row.origin,
            allowed_uses=sorted(row.uses()),
            excluded_content=row.excluded_content,
            expires_at=_iso(row.expires_at),
            created_at=_iso(row.created_at),
            photos=photos,
            subject_email=subject_email,
        )


@dataclass(frozen=True)
class InvitationSent:
    """What the researcher learns of an invitation: it went to the subject's own address. No
    token and no link: those reach the person only."""

    invitation_id: str
    identity_id: str
    sent_to: str  # masked: a***@example.org
    link_expires_at: str | None
    consent_expires_at: str | None


@dataclass(frozen=True)
class InvitationView:
    """What the subject reads before consenting: who asks, for what, until when."""

    invitation_id: str
    identity_display_name: str
    researcher_name: str  # the account's name and institution, as the statement names them
    institution: str | None
    statement: str
    allowed_uses: list[str]
    excluded_content: str
    consent_expires_at: str | None
    link_expires_at: str | None
    attempts_left: int


@dataclass(frozen=True)
class RefusalView:
    """The subject said no: the link is spent; perhaps reported, perhaps the address blocked."""

    refused: bool
    reported: bool
    blocked: bool


@dataclass(frozen=True)
class ReportView:
    """An invitation its subject refused and reported, for reviewers."""

    invitation_id: str
    identity_id: str
    display_name: str
    identity_status: str
    researcher: str
    researcher_name: str
    allowed_uses: list[str]
    excluded_content: str
    invited_at: str | None
    refused_at: str | None


@dataclass(frozen=True)
class ConsentReceipt:
    """Returned once, to the subject: the revocation token is stored only as a hash."""

    consent_id: str
    identity_id: str
    expires_at: str | None
    revocation_token: str
    revocation_url: str
    audit_index: int


@dataclass(frozen=True)
class ProtectedView:
    id: str
    name: str
    reason: str
    created_by: str
    created_at: str | None
    photos: int

    @classmethod
    def of(cls, row: ProtectedIdentity, photos: int) -> ProtectedView:
        return cls(row.id, row.name, row.reason, row.created_by, _iso(row.created_at), photos)


@dataclass(frozen=True)
class GateDecision:
    """The request-time answer: allowed, or denied with every reason found."""

    allowed: bool
    identity_id: str
    reasons: tuple[str, ...] = ()
    audit_index: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
