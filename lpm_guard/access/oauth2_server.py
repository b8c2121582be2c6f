"""The OAuth2 authorization server: Authlib's ``AuthorizationServer`` with a thin Starlette
adapter (``create_oauth2_request``, ``handle_response``), our clients and token storage.

Authlib ships server integrations for Flask and Django only; this adapter follows the shape
of its Flask one. No OAuth logic is written here: grants, PKCE, revocation, introspection and
JWT access tokens are Authlib's (see ``grants`` and ``tokens``).
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.responses import Response

from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..keys import KeyStore
from .clients import WEB_CLIENT_ID
from .fields import unsafe_character
from .grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    S256CodeChallenge,
    TokenIntrospectionEndpoint,
    TokenRevocationEndpoint,
)
from .ids import digest
from .models import ClientRow, TokenRow
from .oauth2_requests import HttpRequest, StarletteOAuth2Request
from .scopes import Scope
from .tokens import (
    ALGORITHM,
    REFRESH_TOKEN_LIFETIME_S,
    AccessTokenGenerator,
    public_key_set,
)

WEB_CALLBACK = "/callback.html"
CLIENT_ID_LENGTH = 64  # the clients' column
# Authlib's grants log whole token responses at DEBUG ("Issue token {...}"): secrets never go
# to the log, whatever LPM_LOG_LEVEL says.
logging.getLogger("authlib").setLevel(logging.INFO)


@dataclass(frozen=True)
class OAuthClient:
    """A client as Authlib's ``ClientMixin`` wants it: the built-in public client of the web
    pages, or a researcher's confidential API client."""

    client_id: str
    owner_id: str | None
    secret_hash: str | None = field(repr=False)
    scope: str
    grant_types: frozenset[str]
    redirect_uris: tuple[str, ...] = ()

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        allowed = set(self.scope.split())
        if not scope:
            return "" if self.secret_hash is None else " ".join(sorted(allowed))
        requested = set(scope_to_list(scope))
        return " ".join(sorted(requested)) if requested <= allowed else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(digest(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.secret_hash is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class OAuth2Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, engine: Engine, audit: AuditService, keys: KeyStore, issuer: str) -> None:
        super().__init__(scopes_supported=[scope.value for scope in Scope])
        self.engine = engine
        self.audit = audit
        self.keys = keys
        self.issuer = issuer.rstrip("/")
        self.web_client = OAuthClient(
            client_id=WEB_CLIENT_ID,
            owner_id=None,
            secret_hash=None,
            scope=" ".join(scope.value for scope in Scope),
            grant_types=frozenset({"authorization_code", "refresh_token"}),
            redirect_uris=(self.issuer + WEB_CALLBACK,),
        )
        self.register_token_generator("default", AccessTokenGenerator(self.issuer, keys, engine))
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(TokenRevocationEndpoint(server=self))
        self.register_endpoint(TokenIntrospectionEndpoint(server=self))

    # -- what Authlib asks of an integration ------------------------------------------------

    def query_client(self, client_id: str) -> OAuthClient | None:
        if client_id == WEB_CLIENT_ID:
            return self.web_client
        if not client_id or len(client_id) > CLIENT_ID_LENGTH or unsafe_character(client_id):
            return None  # no client has such an id: never sent to the database
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(ClientRow, client_id)
        if row is None or row.revoked_at is not None:
            return None
        return OAuthClient(
            client_id=row.client_id,
            owner_id=row.owner_id,
            secret_hash=row.secret_hash,
            scope=row.scope,
            grant_types=frozenset({"client_credentials"}),
        )

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        claims = jwt.decode(
            token["access_token"], public_key_set(self.keys), algorithms=[ALGORITHM]
        ).claims
        issued_at = datetime.fromtimestamp(claims["iat"], UTC)
        # A family: every token descended from one code, one refresh chain, or one client grant.
        if request.authorization_code is not None:
            family = request.authorization_code.row.code_hash
        elif request.refresh_token is not None:
            family = request.refresh_token.row.family
        else:
            family = claims["jti"]
        refresh = token.get("refresh_token")
        row = TokenRow(
            jti=claims["jti"],
            family=family,
            client_id=claims["client_id"],
            account_id=claims["sub"],
            grant_type=request.payload.grant_type or "",
            scope=token.get("scope", ""),
            issued_at=issued_at,
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            refresh_hash=digest(refresh) if refresh else None,
            refresh_expires_at=(
                issued_at + timedelta(seconds=REFRESH_TOKEN_LIFETIME_S) if refresh else None
            ),
        )
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(row)
            session.commit()
        self.audit.record(
            AuditTag.ACCESS_TOKEN_ISSUE,
            row.account_id,
            objects={"token": row.jti, "client": row.client_id, "account": row.account_id},
            payload={"grant_type": row.grant_type, "scope": row.scope, "refresh": bool(refresh)},
        )

    def create_oauth2_request(self, request: Any) -> StarletteOAuth2Request:
        if isinstance(request, StarletteOAuth2Request):
            return request
        assert isinstance(request, HttpRequest)
        return StarletteOAuth2Request(request)

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no endpoint here takes JSON")

    def handle_response(
        self, status_code: int, payload: Any, headers: list[tuple[str, str]]
    ) -> Response:
        body = json.dumps(payload) if isinstance(payload, dict) else (payload or "")
        return Response(body, status_code=status_code, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's hook for signals; audit events are recorded where things happen."""

    # -- discovery ----------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata, checked by Authlib's validator."""
        metadata = AuthorizationServerMetadata(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/oauth/authorize",
                "token_endpoint": f"{self.issuer}/oauth/token",
                "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
                "revocation_endpoint": f"{self.issuer}/oauth/revoke",
                "introspection_endpoint": f"{self.issuer}/oauth/introspect",
                "scopes_supported": [scope.value for scope in Scope],
                "response_types_supported": ["code"],
                "grant_types_supported": [
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                ],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "revocation_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "introspection_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "code_challenge_methods_supported": ["S256"],
            }
        )
        metadata.validate()
        return dict(metadata)
