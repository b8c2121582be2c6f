"""Authlib's grants and endpoints with our storage: authorization code (PKCE, S256 only),
refresh tokens rotated on use, client credentials, RFC 7009 revocation, RFC 7662 introspection.

Codes and refresh tokens are claimed with one conditional UPDATE, so a replay (or a race of
two requests with the same value) finds them spent; a replayed code or reused refresh token
revokes every token of its family (RFC 6749 §4.1.2, RFC 9700 §4.14).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError, UnsupportedTokenTypeError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy import update
from sqlmodel import Session, col, select

from ..auditing.tags import AuditTag
from .ids import digest, utcnow
from .models import AuthorizationCodeRow, TokenRow
from .standing import standing_of
from .tokens import OAuthUser, scopes_of, signed_jti

if TYPE_CHECKING:
    from .oauth2_server import OAuth2Server

CODE_LIFETIME = timedelta(minutes=5)
ACCESS, REFRESH = "access_token", "refresh_token"


@dataclass
class StoredCode:
    """An authorization code as Authlib's ``AuthorizationCodeMixin`` wants it."""

    row: AuthorizationCodeRow

    @property
    def code_challenge(self) -> str:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


@dataclass
class StoredToken:
    """A token row as Authlib's ``TokenMixin`` wants it, for the part that was presented."""

    row: TokenRow
    kind: str

    def check_client(self, client: Any) -> bool:
        return bool(self.row.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def expires_at(self) -> datetime:
        if self.kind == REFRESH and self.row.refresh_expires_at is not None:
            return self.row.refresh_expires_at
        return self.row.expires_at

    def is_expired(self) -> bool:
        return self.expires_at() <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.refresh_revoked if self.kind == REFRESH else self.row.access_revoked


def _server(grant: Any) -> OAuth2Server:
    server: OAuth2Server = grant.server
    return server


def revoke_family(server: OAuth2Server, family: str, why: str) -> None:
    """Revoke every token descended from one authorization, and record why."""
    with Session(server.engine, expire_on_commit=False) as session:
        session.exec(
            update(TokenRow)
            .where(col(TokenRow.family) == family)
            .values(access_revoked=True, refresh_revoked=True)
        )
        session.commit()
    server.audit.record(
        AuditTag.ACCESS_TOKEN_REUSE,
        "anonymous",
        outcome="denied",
        objects={"token_family": family},
        reasons=[why],
    )


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE required, S256 only (no "plain")."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (Authlib's attribute)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send a code_challenge")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012 (the web pages are a public client)

    def save_authorization_code(self, code: str, request: Any) -> None:
        now = utcnow()
        data = request.payload.data
        with Session(_server(self).engine, expire_on_commit=False) as session:
            session.add(
                AuthorizationCodeRow(
                    code_hash=digest(code),
                    client_id=request.client.get_client_id(),
                    account_id=request.user.get_user_id(),
                    redirect_uri=request.payload.redirect_uri or "",
                    scope=request.scope or "",
                    code_challenge=data["code_challenge"],
                    code_challenge_method=data["code_challenge_method"],
                    created_at=now,
                    expires_at=now + CODE_LIFETIME,
                )
            )
            session.commit()

    def query_authorization_code(self, code: str, client: Any) -> StoredCode | None:
        server, code_hash, now = _server(self), digest(code), utcnow()
        with Session(server.engine, expire_on_commit=False) as session:
            # (1): claim the code: unused, unexpired, this client's. One statement, no race.
            claimed = session.exec(
                update(AuthorizationCodeRow)
                .where(col(AuthorizationCodeRow.code_hash) == code_hash)
                .where(col(AuthorizationCodeRow.client_id) == client.get_client_id())
                .where(col(AuthorizationCodeRow.used_at).is_(None))
                .where(col(AuthorizationCodeRow.expires_at) > now)
                .values(used_at=now)
            ).rowcount
            session.commit()
            row = session.get(AuthorizationCodeRow, code_hash)
            if row is not None:
                session.expunge(row)
        if claimed == 1 and row is not None:
            return StoredCode(row)
        # (2): a code used before is a replay: whatever it bought is revoked.
        if row is not None and row.used_at is not None:
            revoke_family(server, code_hash, "authorization code replayed")
        return None

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        """Nothing left to do: the code was spent when claimed, and its row stays so that a
        replay is recognised."""

    def authenticate_user(self, authorization_code: StoredCode) -> OAuthUser:
        return OAuthUser(authorization_code.row.account_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> StoredToken | None:
        server, token_hash, now = _server(self), digest(refresh_token), utcnow()
        with Session(server.engine, expire_on_commit=False) as session:
            # (1): claim it: a refresh token works once (rotation).
            claimed = session.exec(
                update(TokenRow)
                .where(col(TokenRow.refresh_hash) == token_hash)
                .where(col(TokenRow.refresh_revoked).is_(False))
                .where(col(TokenRow.refresh_expires_at) > now)
                .values(refresh_revoked=True)
            ).rowcount
            session.commit()
            row = session.exec(select(TokenRow).where(TokenRow.refresh_hash == token_hash)).first()
            if row is not None:
                session.expunge(row)
        if claimed == 1 and row is not None:
            return StoredToken(row, REFRESH)
        # (2): a spent refresh token presented again: revoke its whole family.
        if row is not None and row.refresh_revoked:
            revoke_family(server, row.family, "refresh token reused")
        return None

    def authenticate_user(self, refresh_token: StoredToken) -> OAuthUser:
        return OAuthUser(refresh_token.row.account_id)

    def revoke_old_credential(self, refresh_token: StoredToken) -> None:
        """Already revoked when claimed."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]  # noqa: RUF012

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # As Authlib's, except that the token stands for the researcher who owns the client.
        owner = OAuthUser(self.client.owner_id)
        self.request.user = owner
        token = self.generate_token(
            user=owner, scope=self.request.payload.scope, include_refresh_token=False
        )
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def _as_access(session: Session, server: OAuth2Server, token: str) -> StoredToken | None:
    jti = signed_jti(server.keys, token)
    row = session.get(TokenRow, jti) if jti is not None else None
    if row is None:
        return None
    session.expunge(row)
    return StoredToken(row, ACCESS)


def _as_refresh(session: Session, server: OAuth2Server, token: str) -> StoredToken | None:
    row = session.exec(select(TokenRow).where(TokenRow.refresh_hash == digest(token))).first()
    if row is None:
        return None
    session.expunge(row)
    return StoredToken(row, REFRESH)


def find_token(server: OAuth2Server, token: str, hint: str | None) -> StoredToken | None:
    """The stored token a presented access token (JWT) or refresh token stands for. The hint
    only orders the search: a token under the wrong hint is still found (RFC 7009 §2.1)."""
    kinds = (_as_refresh, _as_access) if hint == REFRESH else (_as_access, _as_refresh)
    with Session(server.engine, expire_on_commit=False) as session:
        for kind in kinds:
            if (found := kind(session, server, token)) is not None:
                return found
    return None


class UnsupportedTokenType(UnsupportedTokenTypeError):  # type: ignore[misc]
    status_code = 400  # Authlib's says 401; RFC 7009 §2.2.1 and RFC 6749 §5.2 say 400


def _check_hint(request: Any, supported: tuple[str, ...]) -> None:
    """An unknown ``token_type_hint`` is a 400 ``unsupported_token_type`` (RFC 7009 §2.2.1),
    answered before the client is authenticated."""
    hint = request.form.get("token_type_hint")
    if hint and hint not in supported:
        raise UnsupportedTokenType(f"token_type_hint must be one of {', '.join(supported)}")


class TokenRevocationEndpoint(RevocationEndpoint):  # type: ignore[misc]
    # RFC 7009 §2.1: public clients (the web pages) revoke with their client_id alone.
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012

    def create_endpoint_response(self, request: Any) -> tuple[int, Any, Any]:
        _check_hint(request, self.SUPPORTED_TOKEN_TYPES)
        response: tuple[int, Any, Any] = super().create_endpoint_response(request)
        return response

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        return find_token(_server(self), token_string, token_type_hint)

    def revoke_token(self, token: StoredToken, request: Any) -> None:
        server = _server(self)
        values = {"access_revoked": True}
        if token.kind == REFRESH:  # the refresh token takes its access token with it
            values["refresh_revoked"] = True
        with Session(server.engine, expire_on_commit=False) as session:
            session.exec(update(TokenRow).where(col(TokenRow.jti) == token.row.jti).values(values))
            session.commit()
        server.audit.record(
            AuditTag.ACCESS_TOKEN_REVOKE,
            token.row.account_id,
            objects={"token": token.row.jti, "client": token.row.client_id},
            payload={"token_type": token.kind},
        )


class TokenIntrospectionEndpoint(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]  # noqa: RUF012

    def create_endpoint_response(self, request: Any) -> tuple[int, Any, Any]:
        _check_hint(request, self.SUPPORTED_TOKEN_TYPES)
        response: tuple[int, Any, Any] = super().create_endpoint_response(request)
        return response

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        return find_token(_server(self), token_string, token_type_hint)

    def check_permission(self, token: StoredToken, client: Any, request: Any) -> bool:
        """A client introspects the tokens issued to it, and no others."""
        return token.check_client(client)

    def introspect_token(self, token: StoredToken) -> dict[str, Any]:
        server = _server(self)
        with Session(server.engine, expire_on_commit=False) as session:
            standing = standing_of(session, token.row.account_id, utcnow())
        # The account's standing now counts as much as the token's own expiry and revocation.
        if standing is None or standing.locked:
            return {"active": False}
        held = scopes_of(token.row.scope) & standing.scopes
        return {
            "active": True,
            "token_type": "Bearer" if token.kind == ACCESS else REFRESH,
            "scope": " ".join(sorted(scope.value for scope in held)),
            "client_id": token.row.client_id,
            "sub": token.row.account_id,
            "iss": server.issuer,
            "aud": server.issuer,
            "jti": token.row.jti,
            "iat": int(token.row.issued_at.timestamp()),
            "exp": int(token.expires_at().timestamp()),
        }
