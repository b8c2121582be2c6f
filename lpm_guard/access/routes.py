"""Access routes: the OAuth2 endpoints, discovery, applications, API clients, staff and ``me``.

Thin: read the request, call one service (or Authlib's server), format. Each route's summary
says who may call it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Annotated, Any

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from ..errors import Forbidden, InvalidRequest
from ..proxies import client_address
from ..ratelimits import RateLimited, of_app
from .accounts import AccountService
from .applications import ApplicationService
from .clients import ClientService
from .errors import EmailTaken, InvalidCredentials, LoginThrottled
from .guards import get_principal, require_scope
from .ids import utcnow
from .interfaces import Quotas
from .models import ApplicationStatus
from .oauth2_requests import HttpRequest
from .oauth2_server import OAuth2Server
from .pages import change_password_page, error_page, login_page
from .principals import Principal
from .researchers import ResearcherService
from .schemas import (
    ApplicationDetails,
    ApplicationForm,
    ApplicationView,
    Approval,
    ClientForm,
    ClientView,
    Decision,
    MeView,
    NewClientView,
    QuotaChange,
    QuotaView,
    ResearcherView,
    SignUpReceipt,
    StaffForm,
)
from .scopes import Role, Scope
from .standing import standing_of
from .tokens import OAuthUser
from .tokens import jwks as key_set


@dataclass(frozen=True)
class AccessServices:
    oauth2: OAuth2Server
    accounts: AccountService
    applications: ApplicationService
    clients: ClientService
    quotas: Quotas
    researchers: ResearcherService


def get_services(request: Request) -> AccessServices:
    services: AccessServices = request.app.state.access
    return services


Services = Annotated[AccessServices, Depends(get_services)]
SignedIn = Annotated[Principal, Depends(get_principal)]
Reviewer = Annotated[Principal, Depends(require_scope(Scope.REVIEW))]
Admin = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]


def require_researcher(principal: SignedIn) -> Principal:
    if principal.role is not Role.RESEARCHER:
        raise Forbidden("only researchers have API clients and quotas")
    return principal


Researcher = Annotated[Principal, Depends(require_researcher)]

oauth = APIRouter(tags=["oauth2"])
api = APIRouter(prefix="/v1", tags=["access"])


def _address(request: Request) -> str:
    return client_address(request)


# -- OAuth2 ------------------------------------------------------------------------------


@oauth.post("/oauth/token", summary="Token endpoint (public; the client authenticates)")
async def token(request: Request, services: Services) -> Response:
    http = await HttpRequest.read(request, services.oauth2.issuer)
    response: Response = await run_in_threadpool(services.oauth2.create_token_response, http)
    return response


@oauth.post("/oauth/revoke", summary="RFC 7009 revocation (the client the token was issued to)")
async def revoke(request: Request, services: Services) -> Response:
    http = await HttpRequest.read(request, services.oauth2.issuer)
    response: Response = await run_in_threadpool(
        services.oauth2.create_endpoint_response, "revocation", http
    )
    return response


@oauth.post(
    "/oauth/introspect", summary="RFC 7662 introspection (confidential clients, own tokens)"
)
async def introspect(request: Request, services: Services) -> Response:
    http = await HttpRequest.read(request, services.oauth2.issuer)
    response: Response = await run_in_threadpool(
        services.oauth2.create_endpoint_response, "introspection", http
    )
    return response


def _consent_grant(services: AccessServices, http: HttpRequest) -> Any:
    return services.oauth2.get_consent_grant(http)


def _refuse(services: AccessServices, http: HttpRequest, error: OAuth2Error) -> Response:
    # Redirect only to a redirect URI Authlib validated against the client; else show a page.
    if error.redirect_uri:
        response: Response = services.oauth2.handle_error_response(http, error)
        return response
    return error_page(f"{error.error}: {error.description or 'invalid request'}", 400)


@oauth.get("/oauth/authorize", summary="Authorization endpoint: the sign-in page (public)")
async def authorize_page(request: Request, services: Services) -> Response:
    http = await HttpRequest.read(request, services.oauth2.issuer)
    try:
        grant = await run_in_threadpool(_consent_grant, services, http)
    except OAuth2Error as error:
        return _refuse(services, http, error)
    return login_page(request.url.query, (grant.request.scope or "").split(), None)


@oauth.post("/oauth/authorize", summary="Authorization endpoint: sign in (public, throttled)")
async def authorize(request: Request, services: Services) -> Response:
    http = await HttpRequest.read(request, services.oauth2.issuer)
    try:
        grant = await run_in_threadpool(_consent_grant, services, http)
    except OAuth2Error as error:
        return _refuse(services, http, error)
    scopes = (grant.request.scope or "").split()
    form = dict(http.form)
    # Attempts per address, counted on every node (Redis): a 503 problem if Redis is down.
    settings = request.app.state.runtime.settings
    try:
        await run_in_threadpool(
            of_app(request.app.state, settings).check,
            settings.sign_in_rate_limit,
            "sign-in",
            http.address,
            "sign-in attempts",
        )
    except RateLimited as exc:
        page = login_page(request.url.query, scopes, exc.detail, 429)
        page.headers["Retry-After"] = str(exc.extensions["retry_after_s"])
        return page
    try:
        account = await run_in_threadpool(
            services.accounts.sign_in, form.get("email", ""), form.get("password", ""), http.address
        )
    except LoginThrottled as exc:
        page = login_page(request.url.query, scopes, exc.detail, 429)
        page.headers["Retry-After"] = str(exc.extensions.get("retry_after_s", 900))
        return page
    except InvalidCredentials as exc:
        return login_page(request.url.query, scopes, exc.detail, 401)
    if account.password_must_change:
        new_password = form.get("new_password")
        if not new_password:
            return change_password_page(request.url.query, account.email, None)
        try:
            await run_in_threadpool(services.accounts.change_password, account.id, new_password)
        except InvalidRequest as exc:
            return change_password_page(request.url.query, account.email, exc.detail)
    standing = await run_in_threadpool(_standing, services, account.id)
    if standing is not None:
        return error_page(f"You cannot sign in: {standing}.", 403)
    response: Response = await run_in_threadpool(
        services.oauth2.create_authorization_response, http, OAuthUser(account.id), grant
    )
    return response


def _standing(services: AccessServices, account_id: str) -> str | None:
    """Why this account may not sign in, or None."""
    with Session(services.oauth2.engine, expire_on_commit=False) as session:
        standing = standing_of(session, account_id, utcnow())
    if standing is None or standing.locked:
        return standing.reason if standing else "no such account"
    return None


@oauth.get("/.well-known/oauth-authorization-server", summary="RFC 8414 server metadata (public)")
def metadata(services: Services) -> dict[str, Any]:
    return services.oauth2.metadata()


@oauth.get("/.well-known/jwks.json", summary="Keys that verify access tokens (public)")
def jwks(services: Services) -> JSONResponse:
    return JSONResponse(key_set(services.oauth2.keys))


# -- applications ------------------------------------------------------------------------


@api.post(
    "/applications",
    status_code=202,
    summary="Apply for research access: creates the account (public)",
)
def apply(form: ApplicationForm, request: Request, services: Services) -> SignUpReceipt:
    # Sign-ups per address, counted on every node: an anonymous caller cannot grow the
    # accounts and the append-only log at its own rate (a 429 problem past the limit).
    settings = request.app.state.runtime.settings
    limits = of_app(request.app.state, settings)
    limits.check(settings.sign_up_rate_limit, "sign-up", _address(request), "sign-ups")
    # The same answer whether or not the email had an account: sign-up tells no stranger
    # who has one (the password is hashed either way, before the look-up).
    with contextlib.suppress(EmailTaken):
        services.applications.apply(form, _address(request))
    return SignUpReceipt()


@api.get(
    "/applications",
    summary="Applications: a researcher's own; every one with scope review",
)
def list_applications(
    principal: SignedIn, services: Services, status: ApplicationStatus | None = Query(None)
) -> list[ApplicationView]:
    return services.applications.list(principal, status)


@api.get("/applications/{application_id}", summary="One application (its owner, or review)")
def get_application(
    application_id: str, principal: SignedIn, services: Services
) -> ApplicationView:
    return services.applications.get(application_id, principal)


@api.post("/applications/{application_id}/approve", summary="Approve (scope review)")
def approve(
    application_id: str, approval: Approval, principal: Reviewer, services: Services
) -> ApplicationView:
    return services.applications.approve(application_id, approval, principal.actor)


@api.post("/applications/{application_id}/deny", summary="Deny (scope review)")
def deny(
    application_id: str, decision: Decision, principal: Reviewer, services: Services
) -> ApplicationView:
    return services.applications.deny(application_id, decision, principal.actor)


@api.post("/applications/{application_id}/suspend", summary="Suspend (scope review)")
def suspend(
    application_id: str, decision: Decision, principal: Reviewer, services: Services
) -> ApplicationView:
    return services.applications.suspend(application_id, decision, principal.actor)


@api.post("/applications/{application_id}/reinstate", summary="Reinstate (scope review)")
def reinstate(
    application_id: str, decision: Decision, principal: Reviewer, services: Services
) -> ApplicationView:
    return services.applications.reinstate(application_id, decision, principal.actor)


# -- researchers (reviewers' view) --------------------------------------------------------


@api.get(
    "/researchers",
    summary="Approved and suspended researchers with standing, quota and today's use "
    "(scope review)",
)
def list_researchers(
    principal: Reviewer,
    services: Services,
    status: ApplicationStatus | None = Query(None, description="approved or suspended"),
) -> list[ResearcherView]:
    return services.researchers.list(status)


@api.get("/researchers/{account_id}", summary="One researcher's standing and quota (scope review)")
def get_researcher(account_id: str, principal: Reviewer, services: Services) -> ResearcherView:
    return services.researchers.get(account_id)


@api.post(
    "/researchers/{account_id}/quota",
    summary="Change a researcher's daily quota, with a reason (scope review)",
)
def change_quota(
    account_id: str, change: QuotaChange, principal: Reviewer, services: Services
) -> ResearcherView:
    return services.researchers.set_quota(account_id, change, principal.actor)


# -- API clients, staff, me ----------------------------------------------------------------


@api.get("/clients", summary="Your API clients (researchers)")
def list_clients(principal: Researcher, services: Services) -> list[ClientView]:
    return services.clients.list(principal)


@api.post(
    "/clients", status_code=201, summary="New API client; the secret is shown once (researchers)"
)
def create_client(form: ClientForm, principal: Researcher, services: Services) -> NewClientView:
    return services.clients.create(principal, form.name)


@api.delete("/clients/{client_id}", summary="Revoke your API client and its tokens (its owner)")
def revoke_client(client_id: str, principal: Researcher, services: Services) -> ClientView:
    return services.clients.revoke(principal, client_id)


@api.post(
    "/reviewers",
    status_code=201,
    summary="New reviewer account; the one-time password is shown once (scope admin)",
)
def create_reviewer(form: StaffForm, principal: Admin, services: Services) -> dict[str, str]:
    new = services.accounts.create_staff(form.email, form.name, Role.REVIEWER, principal.actor)
    return {"account_id": new.account_id, "email": new.email, "one_time_password": new.password}


@api.get("/me", summary="Who you are and what you may do now (signed in)")
def me(principal: SignedIn, services: Services) -> MeView:
    account = services.accounts.get(principal.subject)
    assert account is not None  # the authenticator has just read it
    mine = services.applications.list(principal) if principal.role is Role.RESEARCHER else []
    reason = _standing(services, principal.subject) or "active"
    return MeView(
        subject=principal.subject,
        email=account.email,
        name=account.name,
        role=Role(account.role),
        scopes=sorted(principal.scopes),
        client_id=principal.client_id,
        standing=reason,
        application=mine[0] if mine else None,
        sandbox=account.sandbox,
    )


@api.post(
    "/me/applications",
    status_code=201,
    summary="Apply again after a denial (researchers)",
)
def reapply(
    details: ApplicationDetails, request: Request, principal: Researcher, services: Services
) -> ApplicationView:
    return services.applications.reapply(principal, details, _address(request))


@api.get("/me/quota", summary="Today's generation quota (approved researchers)")
def my_quota(principal: Researcher, services: Services) -> QuotaView:
    return services.quotas.check(principal.subject)
