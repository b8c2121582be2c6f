"""Test factories for access: accounts in every standing, tokens obtained over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from sqlalchemy import update
from sqlmodel import Session

from lpm_guard.access.clients import WEB_CLIENT_ID
from lpm_guard.access.ids import utcnow
from lpm_guard.access.models import ApplicationRow, IntendedUse
from lpm_guard.access.principals import Principal
from lpm_guard.access.routes import AccessServices
from lpm_guard.access.schemas import TERMS_VERSION, ApplicationForm, Approval, Decision
from lpm_guard.access.scopes import Role
from lpm_guard.runtime import Runtime

_serial = itertools.count()
PASSWORD = "correct horse battery staple"


def unique_email(tag: str) -> str:
    return f"{tag}-{next(_serial)}-{secrets.token_hex(3)}@example.org"


def application_form(
    email: str | None = None, uses: tuple[IntendedUse, ...] = (IntendedUse.OFFLINE,)
) -> ApplicationForm:
    return ApplicationForm(
        name="Ada Researcher",
        email=email or unique_email("researcher"),
        password=PASSWORD,
        institution="University of Somewhere",
        position="Postdoctoral researcher",
        research_purpose="Studying how people perceive synthetic talking heads in calls.",
        ethics_reference="IRB-2026-0042",
        intended_uses=list(uses),
        accepted_terms_version=TERMS_VERSION,
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class Account:
    account_id: str
    email: str
    password: str
    application_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def principal(self) -> Principal:
        return Principal(subject=self.account_id, role=Role.RESEARCHER)


@dataclass
class World:
    """A live server's services and an HTTP client to it."""

    services: AccessServices
    http: httpx.Client
    issuer: str
    runtime: Runtime | None = None  # for other domains' targets (consent identities)

    # -- accounts ------------------------------------------------------------------------

    def applicant(self, uses: tuple[IntendedUse, ...] = (IntendedUse.OFFLINE,)) -> Account:
        form = application_form(uses=uses)
        view = self.services.applications.apply(form, "test")
        return Account(view.account_id, view.email, PASSWORD, application_id=view.id)

    def researcher(
        self,
        uses: tuple[IntendedUse, ...] = (IntendedUse.OFFLINE, IntendedUse.LIVE),
        quota_s: float = 600.0,
    ) -> Account:
        account = self.applicant(uses)
        assert account.application_id
        self.services.applications.approve(
            account.application_id,
            Approval(reason="ethics approval checked", daily_quota_s=quota_s),
            "test-reviewer",
        )
        return account

    def staff(self, role: Role) -> Account:
        new = self.services.accounts.create_staff(unique_email(role.value), "Staff", role, "test")
        return Account(new.account_id, new.email, new.password)

    def suspend(self, account: Account) -> None:
        assert account.application_id
        self.services.applications.suspend(
            account.application_id, Decision(reason="misuse report"), "test-reviewer"
        )

    def expire(self, account: Account) -> None:
        """Move the approval's expiry into the past (the clock cannot be moved)."""
        with Session(self.services.oauth2.engine) as session:
            session.exec(
                update(ApplicationRow)
                .where(ApplicationRow.id == account.application_id)  # type: ignore[arg-type]
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            session.commit()

    # -- tokens over HTTP ------------------------------------------------------------------

    def api_client(self, account: Account) -> tuple[str, str]:
        new = self.services.clients.create(account.principal, "test client")
        account.client_id, account.client_secret = new.client_id, new.client_secret
        return new.client_id, new.client_secret

    def client_token(self, account: Account, scope: str | None = None) -> httpx.Response:
        if account.client_id is None:
            self.api_client(account)
        assert account.client_id and account.client_secret
        data = {"grant_type": "client_credentials"}
        if scope is not None:
            data["scope"] = scope
        return self.http.post(
            "/oauth/token", data=data, auth=(account.client_id, account.client_secret)
        )

    def authorize_params(self, challenge: str, **extra: str) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": WEB_CLIENT_ID,
            "redirect_uri": f"{self.issuer}/callback.html",
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(extra)
        return params

    def sign_in(self, account: Account, challenge: str, **extra: str) -> httpx.Response:
        query = urlencode(self.authorize_params(challenge, **extra))
        return self.http.post(
            f"/oauth/authorize?{query}",
            data={"email": account.email, "password": account.password},
        )

    def code(self, account: Account, challenge: str, **extra: str) -> str:
        response = self.sign_in(account, challenge, **extra)
        if response.status_code == 200 and 'name="new_password"' in response.text:
            # The first sign-in with a one-time password chooses a new one.
            query = urlencode(self.authorize_params(challenge, **extra))
            new_password = f"own {secrets.token_hex(8)} password"
            response = self.http.post(
                f"/oauth/authorize?{query}",
                data={
                    "email": account.email,
                    "password": account.password,
                    "new_password": new_password,
                },
            )
            account.password = new_password
        assert response.status_code == 302, response.text
        location = urlsplit(response.headers["location"])
        return parse_qs(location.query)["code"][0]

    def exchange(self, code: str, verifier: str) -> httpx.Response:
        return self.http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": f"{self.issuer}/callback.html",
                "client_id": WEB_CLIENT_ID,
                "code_verifier": verifier,
            },
        )

    def web_tokens(self, account: Account, **extra: str) -> dict[str, str]:
        verifier, challenge = pkce_pair()
        response = self.exchange(self.code(account, challenge, **extra), verifier)
        assert response.status_code == 200, response.text
        tokens: dict[str, str] = response.json()
        return tokens

    def get(self, path: str, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(path, headers=headers)
