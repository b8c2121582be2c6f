"""Access tokens: key rotation keeps issued tokens valid; forged tokens are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from joserfc import jws, jwt
from joserfc.jwk import ECKey

from lpm_guard.access.authenticator import TokenAuthenticator
from lpm_guard.access.clients import ClientService
from lpm_guard.access.principals import Principal
from lpm_guard.access.scopes import Role
from lpm_guard.api import create_app
from lpm_guard.auditing.services import AuditService
from lpm_guard.keys import KeyKind
from lpm_guard.runtime import Runtime
from tests.access.world import application_form


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime=runtime)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def _token(web: TestClient, runtime: Runtime) -> tuple[str, str]:
    services = web.app.state.access  # type: ignore[attr-defined]
    view = services.applications.apply(application_form(), "test")
    from lpm_guard.access.schemas import Approval

    services.applications.approve(view.id, Approval(reason="ok"), "test")
    owner = Principal(subject=view.account_id, role=Role.RESEARCHER)
    client = ClientService(runtime.engine, AuditService(runtime.audit)).create(owner, "c")
    response = web.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.client_secret),
    )
    assert response.status_code == 200, response.text
    return view.account_id, response.json()["access_token"]


def test_tokens_outlive_a_rotation_of_the_signing_key(web: TestClient, runtime: Runtime) -> None:
    _, before = _token(web, runtime)
    old_kid = jws.extract_compact(before.encode()).protected["kid"]
    runtime.keys.rotate(KeyKind.TOKEN_SIGNING)
    _, after = _token(web, runtime)
    new_kid = jws.extract_compact(after.encode()).protected["kid"]
    assert new_kid != old_kid
    kids = [key["kid"] for key in web.get("/.well-known/jwks.json").json()["keys"]]
    assert kids == [new_kid, old_kid]
    for token in (before, after):
        assert web.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_forged_tokens_are_refused(web: TestClient, runtime: Runtime) -> None:
    subject, genuine = _token(web, runtime)
    authenticator = TokenAuthenticator(
        runtime.engine, runtime.keys, runtime.settings.resolved_public_url
    )
    assert authenticator.authenticate(genuine) is not None
    kid = jws.extract_compact(genuine.encode()).protected["kid"]
    claims = jwt.decode(genuine, ECKey.import_key(runtime.keys.token_public_keys()[kid]))
    # (1): the right claims, signed by a key that is not ours.
    stranger = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    forged = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims.claims, stranger)
    # (2): HMAC keyed with our public key (algorithm confusion).
    public_pem = runtime.keys.token_public_keys()[kid].public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = ".".join(
        _b64(json.dumps(part).encode())
        for part in ({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims.claims)
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{_b64(mac)}"
    # (3): unsigned.
    header, payload, _ = genuine.split(".")
    unsigned = f"{header}.{payload}."
    # (4): a tampered claim (another subject) under the genuine signature.
    tampered = genuine.replace(payload, payload[:-2] + ("AA" if payload[-2:] != "AA" else "AB"))
    for token in (forged, confused, unsigned, tampered, "not a token", ""):
        assert authenticator.authenticate(token) is None, token
    assert subject


def test_an_expired_token_is_refused(runtime: Runtime, web: TestClient) -> None:
    _, genuine = _token(web, runtime)
    kid, key = runtime.keys.token_signing_key()
    claims = jwt.decode(genuine, ECKey.import_key(runtime.keys.token_public_keys()[kid])).claims
    claims["exp"] = int(time.time()) - 5
    private = ECKey.import_key(key, {"kid": kid})
    stale = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims, private)
    authenticator = TokenAuthenticator(
        runtime.engine, runtime.keys, runtime.settings.resolved_public_url
    )
    assert authenticator.authenticate(stale) is None
    # The same claims with a live expiry pass: the refusal was the expiry, nothing else.
    claims["exp"] = int(time.time()) + 60
    fresh = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims, private)
    assert authenticator.authenticate(fresh) is not None


def test_the_token_rows_expiry_rules_over_the_jwts(runtime: Runtime, web: TestClient) -> None:
    """Issue 18, I: a token whose row has expired is refused though its JWT's exp is still
    ahead (a JWT re-signed with a longer exp by whoever holds the key, or a row cut short)."""
    from datetime import timedelta

    from sqlalchemy import update
    from sqlmodel import Session

    from lpm_guard.access.ids import utcnow
    from lpm_guard.access.models import TokenRow

    _, token = _token(web, runtime)
    headers = {"Authorization": f"Bearer {token}"}
    assert web.get("/v1/me", headers=headers).status_code == 200
    jti = jwt.decode(token, ECKey.import_key(next(iter(runtime.keys.token_public_keys().values()))))
    with Session(runtime.engine) as session:
        session.exec(
            update(TokenRow)
            .where(TokenRow.jti == jti.claims["jti"])  # type: ignore[arg-type]
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    assert jti.claims["exp"] > time.time() + 60  # the JWT itself is still live
    refused = web.get("/v1/me", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"


def test_a_researcher_holds_at_most_ten_api_clients(runtime: Runtime, web: TestClient) -> None:
    from lpm_guard.access.clients import MAX_ACTIVE_CLIENTS

    _, token = _token(web, runtime)  # the first client
    headers = {"Authorization": f"Bearer {token}"}
    made = [web.post("/v1/clients", json={"name": f"c{n}"}, headers=headers) for n in range(12)]
    statuses = [response.status_code for response in made]
    assert statuses == [201] * (MAX_ACTIVE_CLIENTS - 1) + [409] * 3
    assert made[-1].headers["content-type"] == "application/problem+json"
    # Revoking one makes room for one.
    revoked = web.delete(f"/v1/clients/{made[0].json()['client_id']}", headers=headers)
    assert revoked.status_code == 200
    assert web.post("/v1/clients", json={"name": "again"}, headers=headers).status_code == 201
    assert web.post("/v1/clients", json={"name": "more"}, headers=headers).status_code == 409
