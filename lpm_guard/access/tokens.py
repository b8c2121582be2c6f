"""RFC 9068 JWT access tokens: Authlib's generator and validator, signed with the key store's
ES256 token-signing key (``kid`` = key id), 15 minutes long; the JWKS that publishes them."""

from __future__ import annotations

import json
import secrets
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator, JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import Engine
from sqlmodel import Session

from ..keys import KeyStore
from .ids import utcnow
from .scopes import Scope
from .standing import standing_of

ACCESS_TOKEN_LIFETIME_S = 15 * 60
REFRESH_TOKEN_LIFETIME_S = 30 * 24 * 3600
ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"  # noqa: S105 (a JWT typ, not a secret)


def private_jwk(keys: KeyStore) -> ECKey:
    key_id, key = keys.token_signing_key()
    return ECKey.import_key(key, {"kid": key_id, "alg": ALGORITHM, "use": "sig"})


_key_sets: dict[tuple[str, ...], KeySet] = {}


def public_key_set(keys: KeyStore) -> KeySet:
    """Every token-signing public key, current first: retired keys still verify their tokens
    until those expire. Built once per set of keys (a rotation makes a new set)."""
    public_keys = keys.token_public_keys()
    ids = tuple(public_keys)
    if ids not in _key_sets:
        _key_sets[ids] = KeySet(
            [
                ECKey.import_key(public_key, {"kid": key_id, "alg": ALGORITHM, "use": "sig"})
                for key_id, public_key in public_keys.items()
            ]
        )
    return _key_sets[ids]


def jwks(keys: KeyStore) -> dict[str, Any]:
    return dict(public_key_set(keys).as_dict(private=False))


class OAuthUser:
    """The resource owner as Authlib's grants see it: an account id."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def get_user_id(self) -> str:
        return self.account_id


class AccessTokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    """Authlib's RFC 9068 generator; the scope granted is limited to what the account holds
    now (its role, and for a researcher the approved intended uses)."""

    def __init__(self, issuer: str, keys: KeyStore, engine: Engine) -> None:
        super().__init__(
            issuer=issuer,
            alg=ALGORITHM,
            refresh_token_generator=lambda **_: secrets.token_urlsafe(36),
            expires_generator=lambda client, grant_type: ACCESS_TOKEN_LIFETIME_S,
        )
        self.keys = keys
        self.engine = engine

    def get_jwks(self) -> ECKey:
        return private_jwk(self.keys)

    def access_token_generator(self, client: Any, grant_type: str, user: Any, scope: str) -> str:
        """Authlib's claims, signed again with the key id in the header: Authlib's generator
        writes only ``alg`` and ``typ``, and without ``kid`` a verifier cannot pick the key
        after a rotation."""
        first = super().access_token_generator(client, grant_type, user, scope)
        claims = json.loads(jws.extract_compact(first.encode()).payload)
        if not claims.get("scope"):
            claims.pop("scope", None)  # a token with no scope carries no blank claim
        key = private_jwk(self.keys)
        header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def get_audiences(self, client: Any, user: Any, scope: Any) -> str:
        # This server is the only resource server of its tokens.
        return str(self.issuer)

    def generate(
        self,
        grant_type: str,
        client: Any,
        user: OAuthUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        if user is None:
            raise InvalidGrantError("a token must stand for an account")
        # (1): what the client may ask for (None: a scope the client was never given).
        allowed = set(scope_to_list(self.get_allowed_scope(client, scope)) or [])
        with Session(self.engine, expire_on_commit=False) as session:
            standing = standing_of(session, user.account_id, utcnow())
        # (2): a locked account (suspended, expired, disabled) gets no token at all.
        if standing is None or standing.locked:
            raise InvalidGrantError(standing.reason if standing else "no such account")
        held = {held_scope.value for held_scope in standing.scopes}
        if scope:
            # (3): an explicit scope beyond what the account holds now is refused.
            if allowed - held:
                raise InvalidScopeError(
                    f"not granted to this account: {' '.join(sorted(allowed - held))}"
                )
            granted = " ".join(sorted(allowed))
        else:
            # (3): no scope asked: what the client's default and the account both allow.
            granted = " ".join(sorted((allowed & held) if client.secret_hash else held))
        token: dict[str, Any] = super().generate(
            grant_type, _ScopeAsIs(client), user, granted, expires_in, include_refresh_token
        )
        if not granted:
            token["scope"] = ""
        return token


class _ScopeAsIs:
    """The client, with the scope already decided passed through unchanged."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class AccessTokenValidator(JWTBearerTokenValidator):  # type: ignore[misc]
    """Authlib's RFC 9068 validator over our JWKS, audience and issuer both this server."""

    def __init__(self, issuer: str, keys: KeyStore) -> None:
        super().__init__(issuer=issuer, resource_server=issuer)
        self.keys = keys

    def get_jwks(self) -> KeySet:
        return public_key_set(self.keys)

    def claims_of(self, token: str) -> JWTAccessTokenClaims | None:
        """The token's claims if it is one of ours and current; None otherwise."""
        # (1): a compact JWS whose header says ES256 (no "none", no HMAC confusion), at+jwt,
        # and one of our key ids; the signature is checked next.
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError):
            return None
        if header.get("typ") != TOKEN_TYPE or header.get("alg") != ALGORITHM:
            return None
        if header.get("kid") not in self.keys.token_public_keys():
            return None
        # (2): signature, then iss, aud, exp, iat, sub, client_id and jti (Authlib).
        try:
            claims = self.authenticate_token(token)
            self.validate_token(claims, scopes=None, request=None)
        except (OAuth2Error, JoseError):
            return None
        assert isinstance(claims, JWTAccessTokenClaims)
        return claims


def scopes_of(text: str) -> frozenset[Scope]:
    known = {scope.value for scope in Scope}
    return frozenset(Scope(part) for part in text.split() if part in known)


def signed_jti(keys: KeyStore, token: str) -> str | None:
    """The ``jti`` of a token whose signature verifies, expired or not (for revocation)."""
    try:
        claims = jwt.decode(token, public_key_set(keys), algorithms=[ALGORITHM]).claims
    except (JoseError, ValueError):
        return None
    jti = claims.get("jti")
    return jti if isinstance(jti, str) else None
