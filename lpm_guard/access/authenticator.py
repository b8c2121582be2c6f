"""The authenticator the API installs: an RFC 9068 access token, checked against the database
on every request, so that revocation, suspension and expiry take effect at once."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from ..keys import KeyStore
from .ids import utcnow
from .models import TokenRow
from .principals import Principal
from .scopes import Role
from .standing import standing_of
from .tokens import AccessTokenValidator, scopes_of


class TokenAuthenticator:
    def __init__(self, engine: Engine, keys: KeyStore, issuer: str) -> None:
        self.engine = engine
        self.validator = AccessTokenValidator(issuer.rstrip("/"), keys)

    def authenticate(self, token: str) -> Principal | None:
        # (1): signature, header, issuer, audience, lifetime (Authlib's RFC 9068 validator).
        claims = self.validator.claims_of(token)
        if claims is None:
            return None
        with Session(self.engine, expire_on_commit=False) as session:
            # (2): a token this server issued, nobody revoked, and whose row has not expired
            # (the row's expiry rules, whatever the JWT's exp says: issue 18, I).
            row = session.get(TokenRow, claims["jti"])
            now = utcnow()
            if (
                row is None
                or row.access_revoked
                or row.expires_at <= now
                or row.account_id != claims["sub"]
                or row.client_id != claims["client_id"]
            ):
                return None
            # (3): the account's standing now: suspended, expired or disabled stops here.
            standing = standing_of(session, row.account_id, now)
        if standing is None or standing.locked:
            return None
        # (4): the token's scopes, less any the account no longer holds.
        return Principal(
            subject=row.account_id,
            scopes=scopes_of(row.scope) & standing.scopes,
            role=Role(standing.account.role),
            client_id=row.client_id,
        )
