"""What the access API and CLI take and show (pydantic); never a password or secret hash."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .fields import Email, Line, Prose
from .models import AccountRow, ApplicationRow, ApplicationStatus, ClientRow, IntendedUse
from .scopes import Role, Scope
from .standing import parse_uses

TERMS_VERSION = "2026-11"
"""The acceptable-use terms an applicant must accept (``web/terms.html``)."""


class ApplicationDetails(BaseModel):
    """What an application says; a denied researcher applies again with these alone."""

    institution: Line = Field(min_length=1, max_length=300)
    position: Line = Field(min_length=1, max_length=200)
    research_purpose: Prose = Field(min_length=20, max_length=10_000)
    ethics_reference: Line = Field(min_length=1, max_length=200)
    intended_uses: list[IntendedUse] = Field(min_length=1, max_length=2)
    accepted_terms_version: Line = Field(max_length=40)


class ApplicationForm(ApplicationDetails):
    """Signing up: the account and its first application."""

    name: Line = Field(min_length=1, max_length=200)
    email: Email = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024, repr=False)


class SignUpReceipt(BaseModel):
    """The answer to every well-formed sign-up, whether or not the email had an account."""

    status: Literal["received"] = "received"
    detail: str = (
        "If this email has no account yet, the account and its application were created: "
        "sign in to follow the application."
    )


class Decision(BaseModel):
    reason: Prose = Field(min_length=1, max_length=4000)


class Approval(Decision):
    expires_in_days: int = Field(default=90, ge=1, le=730)
    daily_quota_s: float = Field(default=600.0, gt=0, le=86_400)


class QuotaChange(Decision):
    daily_quota_s: float = Field(gt=0, le=86_400, description="Generated seconds per UTC day.")


class StaffForm(BaseModel):
    email: Email = Field(min_length=3, max_length=320)
    name: Line = Field(min_length=1, max_length=200)


class ClientForm(BaseModel):
    name: Line = Field(min_length=1, max_length=200)


class ApplicationView(BaseModel):
    id: str
    account_id: str
    name: str
    email: str
    institution: str
    position: str
    research_purpose: str
    ethics_reference: str
    intended_uses: list[IntendedUse]
    terms_version: str
    status: ApplicationStatus
    submitted_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    expires_at: datetime | None
    daily_quota_s: float | None

    @classmethod
    def of(cls, row: ApplicationRow, account: AccountRow) -> ApplicationView:
        return cls(
            id=row.id,
            account_id=row.account_id,
            name=account.name,
            email=account.email,
            institution=row.institution,
            position=row.position,
            research_purpose=row.research_purpose,
            ethics_reference=row.ethics_reference,
            intended_uses=parse_uses(row.intended_uses),
            terms_version=row.terms_version,
            status=ApplicationStatus(row.status),
            submitted_at=row.submitted_at,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
            expires_at=row.expires_at,
            daily_quota_s=row.daily_quota_s,
        )


class ClientView(BaseModel):
    client_id: str
    name: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ClientRow) -> ClientView:
        return cls(
            client_id=row.client_id,
            name=row.name,
            scope=row.scope,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


class NewClientView(ClientView):
    client_secret: str = Field(description="Shown once; only its digest is stored.")


class MeView(BaseModel):
    subject: str
    email: str
    name: str
    role: Role
    scopes: list[Scope]
    client_id: str | None
    standing: str
    application: ApplicationView | None
    sandbox: bool = False
    """A sandbox account (``lpm-guard demo``): every page says so."""


class QuotaView(BaseModel):
    day: str
    daily_quota_s: float
    used_s: float
    remaining_s: float


class ResearcherView(BaseModel):
    """A researcher as reviewers see them: standing, scopes, quota and today's use."""

    account_id: str
    name: str
    email: str
    institution: str
    application_id: str
    status: ApplicationStatus
    standing: str
    scopes: list[Scope]
    submitted_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    expires_at: datetime | None
    daily_quota_s: float | None
    used_today_s: float
    disabled: bool
