"""Route guards: every protected route declares the scope it needs with ``require_scope``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..access.principals import Authenticator, Principal
from ..access.scopes import Scope
from ..errors import Forbidden, Unauthenticated

_bearer = HTTPBearer(auto_error=False, description="OAuth2 access token")


def get_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    if credentials is None:
        raise Unauthenticated("send an access token: Authorization: Bearer <token>")
    authenticator: Authenticator = request.app.state.authenticator
    principal = authenticator.authenticate(credentials.credentials)
    if principal is None:
        raise Unauthenticated("the access token is not valid")
    return principal


def require_scope(scope: Scope) -> Callable[..., Principal]:
    def guard(principal: Principal = Depends(get_principal)) -> Principal:
        if scope not in principal.scopes:
            raise Forbidden(f"this needs the {scope.value} scope", required_scope=scope.value)
        return principal

    return guard
