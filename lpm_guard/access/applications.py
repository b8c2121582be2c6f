"""Researcher applications: apply (sign up), list and read (own only), and the reviewer's
approve / deny / suspend / reinstate. Status lives on the application row."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..errors import InvalidRequest
from ..proxies import network_of
from .accounts import check_password_strength, insert_account
from .errors import ApplicationNotFound, Conflict, EmailTaken
from .ids import new_id, utcnow
from .models import AccountRow, ApplicationRow, ApplicationStatus, TokenRow
from .principals import Principal
from .schemas import (
    TERMS_VERSION,
    ApplicationDetails,
    ApplicationForm,
    ApplicationView,
    Approval,
    Decision,
)
from .scopes import Role, Scope
from .standing import latest_application


def _check_terms(details: ApplicationDetails) -> None:
    if details.accepted_terms_version != TERMS_VERSION:
        raise InvalidRequest(
            f"accept the current acceptable-use terms (version {TERMS_VERSION})",
            terms_version=TERMS_VERSION,
        )


def _new_application(account_id: str, details: ApplicationDetails) -> ApplicationRow:
    return ApplicationRow(
        id=new_id("app"),
        account_id=account_id,
        institution=details.institution.strip(),
        position=details.position.strip(),
        research_purpose=details.research_purpose.strip(),
        ethics_reference=details.ethics_reference.strip(),
        intended_uses=",".join(sorted({use.value for use in details.intended_uses})),
        terms_version=details.accepted_terms_version,
        status=ApplicationStatus.SUBMITTED.value,
        submitted_at=utcnow(),
    )


# Which status each reviewer action starts from, and where it leads.
_TRANSITIONS: dict[AuditTag, tuple[frozenset[ApplicationStatus], ApplicationStatus]] = {
    AuditTag.ACCESS_APPLICATION_APPROVE: (
        frozenset({ApplicationStatus.SUBMITTED}),
        ApplicationStatus.APPROVED,
    ),
    AuditTag.ACCESS_APPLICATION_DENY: (
        frozenset({ApplicationStatus.SUBMITTED}),
        ApplicationStatus.DENIED,
    ),
    AuditTag.ACCESS_APPLICATION_SUSPEND: (
        frozenset({ApplicationStatus.APPROVED}),
        ApplicationStatus.SUSPENDED,
    ),
    AuditTag.ACCESS_APPLICATION_REINSTATE: (
        frozenset({ApplicationStatus.SUSPENDED}),
        ApplicationStatus.APPROVED,
    ),
}


def may_review(viewer: Principal | None) -> bool:
    """None stands for the operator at the CLI, who may do everything."""
    return viewer is None or Scope.REVIEW in viewer.scopes


class ApplicationService:
    def __init__(self, engine: Engine, audit: AuditService) -> None:
        self.engine = engine
        self.audit = audit

    def apply(self, form: ApplicationForm, address: str) -> ApplicationView:
        """A new researcher account and its application, in one transaction; ``EmailTaken``
        once every other check has passed, if the email has an account."""
        # (1): the applicant accepted the current terms, and chose a sound password.
        _check_terms(form)
        check_password_strength(form.password)
        with Session(self.engine, expire_on_commit=False) as session:
            account = insert_account(session, form.email, form.name, Role.RESEARCHER, form.password)
            application = _new_application(account.id, form)
            session.add(application)
            try:
                session.commit()
            except IntegrityError:
                raise EmailTaken(f"an account with the email {account.email} exists") from None
            view = ApplicationView.of(application, account)
        return self._submitted(view, address, again=False)

    def reapply(
        self, researcher: Principal, details: ApplicationDetails, address: str
    ) -> ApplicationView:
        """An application from a signed-in researcher: a denied researcher's new one, or a
        first one from an account made without one (a sandbox researcher); one under review
        or approved is enough."""
        _check_terms(details)
        with Session(self.engine, expire_on_commit=False) as session:
            account = session.get(AccountRow, researcher.subject)
            if account is None or account.role != Role.RESEARCHER.value:
                raise InvalidRequest("only researchers apply for access")
            latest = latest_application(session, account.id)
            if latest is not None and latest.status != ApplicationStatus.DENIED.value:
                raise Conflict(
                    f"your application is {latest.status}; apply again only after a denial",
                    current_status=latest.status,
                )
            application = _new_application(account.id, details)
            session.add(application)
            session.commit()
            view = ApplicationView.of(application, account)
        return self._submitted(view, address, again=latest is not None)

    def _submitted(self, view: ApplicationView, address: str, *, again: bool) -> ApplicationView:
        """Records an application's submission (a first one, or one after a denial)."""
        payload: dict[str, object] = {
            "intended_uses": [use.value for use in view.intended_uses],
            "terms_version": view.terms_version,
            "network": network_of(address),
        }
        if again:
            payload["again"] = True
        self.audit.record(
            AuditTag.ACCESS_APPLICATION_SUBMIT,
            view.account_id,
            objects={"account": view.account_id, "application": view.id},
            payload=payload,
        )
        return view

    def list(
        self, viewer: Principal | None, status: ApplicationStatus | None = None
    ) -> list[ApplicationView]:
        """Reviewers (and the operator) see every application; a researcher only their own."""
        with Session(self.engine, expire_on_commit=False) as session:
            statement = select(ApplicationRow, AccountRow).where(
                ApplicationRow.account_id == AccountRow.id
            )
            if not may_review(viewer):
                assert viewer is not None
                statement = statement.where(ApplicationRow.account_id == viewer.subject)
            if status is not None:
                statement = statement.where(ApplicationRow.status == status.value)
            statement = statement.order_by(col(ApplicationRow.submitted_at).desc())
            return [ApplicationView.of(row, account) for row, account in session.exec(statement)]

    def get(self, application_id: str, viewer: Principal | None) -> ApplicationView:
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(ApplicationRow, application_id)
            # Someone else's application is as absent as a missing one.
            mine = viewer is not None and row is not None and row.account_id == viewer.subject
            if row is None or not (may_review(viewer) or mine):
                raise ApplicationNotFound(f"no application {application_id}")
            account = session.get(AccountRow, row.account_id)
            assert account is not None
            return ApplicationView.of(row, account)

    def approve(self, application_id: str, approval: Approval, actor: str) -> ApplicationView:
        return self._decide(AuditTag.ACCESS_APPLICATION_APPROVE, application_id, approval, actor)

    def deny(self, application_id: str, decision: Decision, actor: str) -> ApplicationView:
        return self._decide(AuditTag.ACCESS_APPLICATION_DENY, application_id, decision, actor)

    def suspend(self, application_id: str, decision: Decision, actor: str) -> ApplicationView:
        return self._decide(AuditTag.ACCESS_APPLICATION_SUSPEND, application_id, decision, actor)

    def reinstate(self, application_id: str, decision: Decision, actor: str) -> ApplicationView:
        return self._decide(AuditTag.ACCESS_APPLICATION_REINSTATE, application_id, decision, actor)

    def _decide(
        self, tag: AuditTag, application_id: str, decision: Decision, actor: str
    ) -> ApplicationView:
        sources, target = _TRANSITIONS[tag]
        reason = decision.reason.strip()
        if not reason:
            raise InvalidRequest("a decision needs a written reason")
        now = utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(ApplicationRow, application_id)
            if row is None:
                raise ApplicationNotFound(f"no application {application_id}")
            # (1): the action fits the application's status; approving an approval that has
            # expired renews it.
            current = ApplicationStatus(row.status)
            renewal = (
                tag is AuditTag.ACCESS_APPLICATION_APPROVE
                and current is ApplicationStatus.APPROVED
                and row.expires_at is not None
                and row.expires_at <= now
            )
            if current not in sources and not renewal:
                raise Conflict(
                    f"the application is {current.value}; it cannot become {target.value} "
                    f"from there",
                    current_status=current.value,
                )
            # (2): the change, with who decided, when and why.
            row.status = target.value
            row.decided_at, row.decided_by, row.decision_reason = now, actor, reason
            if isinstance(decision, Approval):
                row.expires_at = now + timedelta(days=decision.expires_in_days)
                row.daily_quota_s = decision.daily_quota_s
            if target is ApplicationStatus.SUSPENDED:
                # (3): a suspension also ends every token; status checks on each request
                # already shut the researcher out, this keeps them out after reinstatement.
                session.exec(
                    update(TokenRow)
                    .where(col(TokenRow.account_id) == row.account_id)
                    .values(access_revoked=True, refresh_revoked=True)
                )
            session.add(row)
            session.commit()
            session.refresh(row)
            account = session.get(AccountRow, row.account_id)
            assert account is not None
            view = ApplicationView.of(row, account)
        payload: dict[str, object] = {"from": current.value, "to": target.value}
        if view.expires_at is not None and isinstance(decision, Approval):
            payload |= {
                "expires_at": view.expires_at.isoformat(),
                "daily_quota_s": view.daily_quota_s,
            }
        self.audit.record(
            tag,
            actor,
            objects={"account": view.account_id, "application": view.id},
            reasons=[reason],
            payload=payload,
        )
        return view
