"""``lpm-guard admin``: staff accounts and researcher access, through the same services as the
API; every action is audited under the operator's name."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from ..access.accounts import AccountService
from ..access.applications import ApplicationService
from ..access.models import ApplicationStatus
from ..access.researchers import ResearcherService
from ..access.schemas import ApplicationView, Approval, Decision, QuotaChange
from ..access.scopes import Role
from ..auditing.services import AuditService
from .common import emit_json, fail, operator, runtime

app = typer.Typer(help="Operator actions: accounts and researcher access.", no_args_is_help=True)
researchers = typer.Typer(help="Researcher applications.", no_args_is_help=True)
app.add_typer(researchers, name="researchers")

REASON = typer.Option(..., "--reason", help="Why (recorded in the audit log).")


def _print_password(email: str, role: Role, password: str) -> None:
    typer.echo(f"created {role.value} {email}")
    typer.echo(f"one-time password (shown only now): {password}")


@app.command("create-admin")
def create_admin(
    email: str = typer.Option(..., help="The admin's email (their sign-in name)."),
    name: str = typer.Option(..., help="The admin's name."),
) -> None:
    """Create an admin account and print its one-time password. There is no default password."""
    with runtime() as rt:
        new = AccountService(rt.engine, AuditService(rt.audit)).create_staff(
            email, name, Role.ADMIN, operator()
        )
    _print_password(new.email, new.role, new.password)


@app.command("create-reviewer")
def create_reviewer(
    email: str = typer.Option(..., help="The reviewer's email (their sign-in name)."),
    name: str = typer.Option(..., help="The reviewer's name."),
) -> None:
    """Create a trust-and-safety reviewer account and print its one-time password."""
    with runtime() as rt:
        new = AccountService(rt.engine, AuditService(rt.audit)).create_staff(
            email, name, Role.REVIEWER, operator()
        )
    _print_password(new.email, new.role, new.password)


@app.command("reset-password")
def reset_password(email: str = typer.Option(..., help="The staff account's email.")) -> None:
    """Give a staff account a new one-time password (printed once)."""
    with runtime() as rt:
        new = AccountService(rt.engine, AuditService(rt.audit)).reset_password(email, operator())
    _print_password(new.email, new.role, new.password)


@app.command("disable-account")
def disable_account(email: str = typer.Option(..., help="The account's email.")) -> None:
    """Disable an account: it cannot sign in, and its tokens stop working at once."""
    with runtime() as rt:
        AccountService(rt.engine, AuditService(rt.audit)).set_disabled(email, True, operator())
    typer.echo(f"disabled {email}")


@app.command("enable-account")
def enable_account(email: str = typer.Option(..., help="The account's email.")) -> None:
    """Enable a disabled account again."""
    with runtime() as rt:
        AccountService(rt.engine, AuditService(rt.audit)).set_disabled(email, False, operator())
    typer.echo(f"enabled {email}")


@app.command("accounts")
def list_accounts() -> None:
    """List every account: id, role, email, and whether it is disabled."""
    with runtime() as rt:
        accounts = AccountService(rt.engine, AuditService(rt.audit)).list()
    for account in accounts:
        flag = "  (disabled)" if account.disabled else ""
        typer.echo(f"{account.id}  {account.role:<10} {account.email}{flag}")


def _show(view: ApplicationView) -> None:
    expiry = f" until {view.expires_at:%Y-%m-%d}" if view.expires_at else ""
    quota = f", {view.daily_quota_s:g} s/day" if view.daily_quota_s else ""
    typer.echo(
        f"{view.id}  {view.status.value:<9} {view.email:<32} {view.institution}"
        f"  [{','.join(use.value for use in view.intended_uses)}]{expiry}{quota}"
    )


@researchers.command("list")
def list_researchers(
    status: ApplicationStatus | None = typer.Option(None, help="Only this status."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List applications, newest first."""
    with runtime() as rt:
        views = ApplicationService(rt.engine, AuditService(rt.audit)).list(None, status)
    if as_json:
        emit_json([view.model_dump(mode="json") for view in views])
        return
    if not views:
        typer.echo("no applications")
    for view in views:
        _show(view)


@researchers.command()
def approve(
    application_id: str,
    reason: str = REASON,
    days: int = typer.Option(90, min=1, max=730, help="Access expires after this many days."),
    quota: float = typer.Option(600.0, min=1, help="Daily quota of generated seconds."),
) -> None:
    """Approve an application."""
    try:
        approval = Approval(reason=reason, expires_in_days=days, daily_quota_s=quota)
    except ValidationError as exc:
        raise fail(_first_error(exc)) from None
    _decide("approve", application_id, approval)


@researchers.command()
def deny(application_id: str, reason: str = REASON) -> None:
    """Deny an application."""
    _decide("deny", application_id, _reason(reason))


@researchers.command()
def suspend(application_id: str, reason: str = REASON) -> None:
    """Suspend approved access (tokens stop working at once)."""
    _decide("suspend", application_id, _reason(reason))


@researchers.command()
def reinstate(application_id: str, reason: str = REASON) -> None:
    """Reinstate suspended access."""
    _decide("reinstate", application_id, _reason(reason))


@researchers.command()
def quota(
    researcher: str = typer.Argument(..., help="The researcher's account id or email."),
    seconds: float = typer.Option(..., "--seconds", help="New daily quota of generated seconds."),
    reason: str = REASON,
) -> None:
    """Change an approved (or suspended) researcher's daily quota."""
    try:
        change = QuotaChange(reason=reason, daily_quota_s=seconds)
    except ValidationError as exc:
        raise fail(_first_error(exc)) from None
    if not change.reason.strip():
        raise fail("a quota change needs a written reason")
    with runtime() as rt:
        view = ResearcherService(rt.engine, AuditService(rt.audit)).set_quota(
            researcher, change, operator()
        )
    typer.echo(
        f"{view.email}: daily quota {view.daily_quota_s:g} s "
        f"({view.used_today_s:g} s used today, {view.standing})"
    )


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"


def _reason(reason: str) -> Decision:
    try:
        return Decision(reason=reason)
    except ValidationError as exc:
        raise fail(_first_error(exc)) from None


def _decide(action: str, application_id: str, decision: Decision) -> None:
    if not decision.reason.strip():
        raise fail("a decision needs a written reason")
    with runtime() as rt:
        service = ApplicationService(rt.engine, AuditService(rt.audit))
        view = getattr(service, action)(application_id, decision, operator())
    _show(view)
