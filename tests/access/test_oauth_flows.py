"""The OAuth2 flows end to end over real HTTP against a live server."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from lpm_guard.access.models import IntendedUse
from lpm_guard.access.scopes import Role
from tests.access.world import World, pkce_pair


def _header(token: str) -> dict[str, str]:
    part = token.split(".")[0]
    header: dict[str, str] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return header


def test_client_credentials_gives_a_signed_rfc9068_token(world: World) -> None:
    alice = world.researcher()
    response = world.client_token(alice)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert "refresh_token" not in body
    assert set(body["scope"].split()) == {"generate:live", "generate:offline", "identities:write"}
    # The token verifies against the published JWKS, with the RFC 9068 header and claims.
    keys = KeySet.import_key_set(world.http.get("/.well-known/jwks.json").json())
    token = jwt.decode(body["access_token"], keys, algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt" and token.header["alg"] == "ES256"
    assert token.header["kid"] == keys.keys[0].kid
    claims = token.claims
    assert claims["iss"] == world.issuer and claims["aud"] == world.issuer
    assert claims["sub"] == alice.account_id and claims["client_id"] == alice.client_id
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]
    me = world.get("/v1/me", body["access_token"])
    assert me.status_code == 200
    assert me.json()["subject"] == alice.account_id and me.json()["role"] == "researcher"


def test_a_wrong_client_secret_is_refused(world: World) -> None:
    alice = world.researcher()
    client_id, _ = world.api_client(alice)
    response = world.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, "wrong")
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_scopes_are_limited_by_role_and_approved_uses(world: World) -> None:
    offline_only = world.researcher(uses=(IntendedUse.OFFLINE,))
    # (1): a scope the client was never given.
    refused = world.client_token(offline_only, scope="admin")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    # (2): a use the researcher was not approved for.
    refused = world.client_token(offline_only, scope="generate:live")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    # (3): an unknown scope.
    refused = world.client_token(offline_only, scope="everything")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    narrowed = world.client_token(offline_only, scope="generate:offline")
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "generate:offline"
    # A route that needs a scope the token lacks answers 403 with the scope it needs.
    wrong = world.get("/v1/audit/entries/0", narrowed.json()["access_token"])
    assert wrong.status_code == 403 and wrong.json()["required_scope"] == "audit:read"


def test_authorization_code_with_pkce(world: World) -> None:
    bob = world.researcher()
    verifier, challenge = pkce_pair()
    params = world.authorize_params(challenge)
    page = world.http.get("/oauth/authorize", params=params)
    assert page.status_code == 200 and "<form" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    signed_in = world.sign_in(bob, challenge, state="xyz")
    assert signed_in.status_code == 302
    location = signed_in.headers["location"]
    assert location.startswith(f"{world.issuer}/callback.html?code=") and "state=xyz" in location
    code = location.split("code=")[1].split("&")[0]
    response = world.exchange(code, verifier)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["refresh_token"] and tokens["expires_in"] == 900
    me = world.get("/v1/me", tokens["access_token"]).json()
    assert me["subject"] == bob.account_id and me["client_id"] == "lpm-guard-web"
    assert "identities:write" in me["scopes"]


def test_a_wrong_code_verifier_fails_pkce(world: World) -> None:
    bob = world.researcher()
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    response = world.exchange(world.code(bob, challenge), other_verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    missing = world.exchange(world.code(bob, challenge), "")
    assert missing.status_code == 400


def test_pkce_is_required_and_s256_only(world: World) -> None:
    bob = world.researcher()
    _, challenge = pkce_pair()
    for extra in ({"code_challenge": ""}, {"code_challenge_method": "plain"}):
        response = world.sign_in(bob, challenge, **extra)
        # The redirect URI is the client's own, so the error goes back to it.
        assert response.status_code == 302
        assert "error=invalid_request" in response.headers["location"]


def test_an_unregistered_redirect_uri_is_never_followed(world: World) -> None:
    _, challenge = pkce_pair()
    params = world.authorize_params(challenge, redirect_uri="https://evil.example/cb")
    response = world.http.get("/oauth/authorize", params=params)
    assert response.status_code == 400 and "location" not in response.headers


def test_a_replayed_code_is_refused_and_revokes_its_tokens(world: World) -> None:
    bob = world.researcher()
    verifier, challenge = pkce_pair()
    code = world.code(bob, challenge)
    first = world.exchange(code, verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert world.get("/v1/me", access).status_code == 200
    again = world.exchange(code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert world.get("/v1/me", access).status_code == 401


def test_refresh_tokens_rotate_and_a_reused_one_ends_the_family(world: World) -> None:
    carol = world.researcher()
    tokens = world.web_tokens(carol)
    data = {"grant_type": "refresh_token", "client_id": "lpm-guard-web"}
    rotated = world.http.post(
        "/oauth/token", data=data | {"refresh_token": tokens["refresh_token"]}
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert world.get("/v1/me", new["access_token"]).status_code == 200
    # The old refresh token is spent; presenting it again revokes everything descended from it.
    reused = world.http.post("/oauth/token", data=data | {"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert world.get("/v1/me", new["access_token"]).status_code == 401
    later = world.http.post("/oauth/token", data=data | {"refresh_token": new["refresh_token"]})
    assert later.status_code == 400


def test_a_revoked_access_token_stops_working(world: World) -> None:
    dave = world.researcher()
    access = world.client_token(dave).json()["access_token"]
    assert world.get("/v1/me", access).status_code == 200
    assert dave.client_id and dave.client_secret
    revoked = world.http.post(
        "/oauth/revoke",
        data={"token": access, "token_type_hint": "access_token"},
        auth=(dave.client_id, dave.client_secret),
    )
    assert revoked.status_code == 200
    assert world.get("/v1/me", access).status_code == 401


def test_the_web_client_revokes_its_refresh_token(world: World) -> None:
    erin = world.researcher()
    tokens = world.web_tokens(erin)
    revoked = world.http.post(
        "/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": "lpm-guard-web"}
    )
    assert revoked.status_code == 200
    # Revoking the refresh token takes its access token with it.
    assert world.get("/v1/me", tokens["access_token"]).status_code == 401
    refresh = world.http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "lpm-guard-web",
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert refresh.status_code == 400


def test_a_wrong_token_type_hint_still_revokes(world: World) -> None:
    """RFC 7009 §2.1: the hint only orders the search; the server looks at the other type."""
    heidi = world.researcher()
    tokens = world.web_tokens(heidi)
    assert world.get("/v1/me", tokens["access_token"]).status_code == 200
    revoked = world.http.post(
        "/oauth/revoke",
        data={
            "token": tokens["refresh_token"],
            "token_type_hint": "access_token",
            "client_id": "lpm-guard-web",
        },
    )
    assert revoked.status_code == 200
    assert world.get("/v1/me", tokens["access_token"]).status_code == 401
    refresh = {
        "grant_type": "refresh_token",
        "client_id": "lpm-guard-web",
        "refresh_token": tokens["refresh_token"],
    }
    assert world.http.post("/oauth/token", data=refresh).status_code == 400

    ivan = world.researcher()
    access = world.client_token(ivan).json()["access_token"]
    assert ivan.client_id and ivan.client_secret
    revoked = world.http.post(
        "/oauth/revoke",
        data={"token": access, "token_type_hint": "refresh_token"},
        auth=(ivan.client_id, ivan.client_secret),
    )
    assert revoked.status_code == 200
    assert world.get("/v1/me", access).status_code == 401


@pytest.mark.parametrize("endpoint", ["/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("authenticated", [True, False])
def test_an_unknown_token_type_hint_is_a_400(
    world: World, endpoint: str, authenticated: bool
) -> None:
    judy = world.researcher()
    access = world.client_token(judy).json()["access_token"]
    assert judy.client_id and judy.client_secret
    auth = (judy.client_id, judy.client_secret) if authenticated else None
    answer = world.http.post(
        endpoint, data={"token": access, "token_type_hint": "id_token"}, auth=auth
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_token_type"
    assert world.get("/v1/me", access).status_code == 200  # nothing was revoked


def test_introspection(world: World) -> None:
    frank, grace = world.researcher(), world.researcher()
    access = world.client_token(frank).json()["access_token"]
    other = world.client_token(grace).json()["access_token"]
    assert frank.client_id and frank.client_secret
    auth = (frank.client_id, frank.client_secret)
    active = world.http.post("/oauth/introspect", data={"token": access}, auth=auth).json()
    assert active["active"] is True
    assert active["sub"] == frank.account_id and active["client_id"] == frank.client_id
    assert "generate:offline" in active["scope"].split()
    # Another client's token, a token that is no token, and no client authentication.
    assert world.http.post("/oauth/introspect", data={"token": other}, auth=auth).json() == {
        "active": False
    }
    assert world.http.post("/oauth/introspect", data={"token": "nope"}, auth=auth).json() == {
        "active": False
    }
    assert world.http.post("/oauth/introspect", data={"token": access}).status_code == 401
    world.http.post("/oauth/revoke", data={"token": access}, auth=auth)
    revoked = world.http.post("/oauth/introspect", data={"token": access}, auth=auth).json()
    assert revoked == {"active": False}


def test_suspension_and_expiry_end_tokens_at_once(world: World) -> None:
    heidi, ivan = world.researcher(), world.researcher()
    heidi_token = world.client_token(heidi).json()["access_token"]
    ivan_token = world.client_token(ivan).json()["access_token"]
    assert world.get("/v1/me", heidi_token).status_code == 200
    world.suspend(heidi)
    world.expire(ivan)
    assert world.get("/v1/me", heidi_token).status_code == 401
    assert world.get("/v1/me", ivan_token).status_code == 401
    # Neither gets a new token, by any grant.
    for account in (heidi, ivan):
        refused = world.client_token(account)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    _, challenge = pkce_pair()
    assert world.sign_in(ivan, challenge).status_code == 403


def test_reinstatement_needs_a_new_token(world: World) -> None:
    judy = world.researcher()
    old = world.client_token(judy).json()["access_token"]
    world.suspend(judy)
    assert judy.application_id
    from lpm_guard.access.schemas import Decision

    world.services.applications.reinstate(judy.application_id, Decision(reason="cleared"), "t")
    assert world.get("/v1/me", old).status_code == 401
    new = world.client_token(judy).json()["access_token"]
    assert world.get("/v1/me", new).status_code == 200


def test_a_revoked_api_client_loses_its_tokens(world: World) -> None:
    kim = world.researcher()
    access = world.client_token(kim).json()["access_token"]
    assert kim.client_id
    deleted = world.http.delete(
        f"/v1/clients/{kim.client_id}", headers={"Authorization": f"Bearer {access}"}
    )
    assert deleted.status_code == 200 and deleted.json()["revoked_at"]
    assert world.get("/v1/me", access).status_code == 401
    assert world.client_token(kim).status_code == 401


def test_staff_sign_in_through_the_web_pages(world: World) -> None:
    reviewer = world.staff(Role.REVIEWER)
    tokens = world.web_tokens(reviewer)
    me = world.get("/v1/me", tokens["access_token"]).json()
    assert me["role"] == "reviewer" and set(me["scopes"]) == {"review", "audit:read"}


def test_a_pending_applicant_signs_in_with_no_scopes(world: World) -> None:
    applicant = world.applicant()
    tokens = world.web_tokens(applicant)
    response = world.get("/v1/me", tokens["access_token"])
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["scopes"] == [] and me["application"]["status"] == "submitted"
    verifier, challenge = pkce_pair()
    code = world.code(applicant, challenge, scope="generate:offline")
    refused = world.exchange(code, verifier)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


def test_a_wrong_password_shows_the_form_again(world: World) -> None:
    lee = world.researcher()
    lee.password = "not the password at all"
    _, challenge = pkce_pair()
    response = world.sign_in(lee, challenge)
    assert response.status_code == 401 and "wrong" in response.text
    assert "location" not in response.headers


def test_discovery_metadata(world: World) -> None:
    metadata = world.http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == world.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["token_endpoint"] == f"{world.issuer}/oauth/token"


def test_a_one_time_password_must_be_replaced_at_first_sign_in(world: World) -> None:
    admin = world.staff(Role.ADMIN)
    one_time = admin.password
    _, challenge = pkce_pair()
    first = world.sign_in(admin, challenge)
    assert first.status_code == 200 and 'name="new_password"' in first.text
    assert "location" not in first.headers
    query = urlencode(world.authorize_params(challenge))
    same = world.http.post(
        f"/oauth/authorize?{query}",
        data={"email": admin.email, "password": one_time, "new_password": one_time},
    )
    assert same.status_code == 200 and "other than the one-time password" in same.text
    chosen = world.http.post(
        f"/oauth/authorize?{query}",
        data={"email": admin.email, "password": one_time, "new_password": "my own long password"},
    )
    assert chosen.status_code == 302 and "code=" in chosen.headers["location"]
    assert world.sign_in(admin, challenge).status_code == 401  # the one-time password is spent
    admin.password = "my own long password"
    assert world.sign_in(admin, challenge).status_code == 302


def test_tokens_never_reach_the_log(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = world.web_tokens(world.researcher())
    refreshed = world.http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "lpm-guard-web",
            "refresh_token": tokens["refresh_token"],
        },
    ).json()
    assert caplog.records  # the log was listening
    logged = caplog.text + "".join(str(vars(record)) for record in caplog.records)
    for secret in (tokens["refresh_token"], refreshed["refresh_token"], tokens["access_token"]):
        assert secret not in logged


def test_a_disabled_account_loses_its_tokens_at_once(world: World) -> None:
    reviewer = world.staff(Role.REVIEWER)
    token = world.web_tokens(reviewer)["access_token"]
    assert world.get("/v1/me", token).status_code == 200
    world.services.accounts.set_disabled(reviewer.email, True, "test")
    assert world.get("/v1/me", token).status_code == 401
    world.services.accounts.set_disabled(reviewer.email, False, "test")
    assert world.get("/v1/me", token).status_code == 401  # enabling does not revive tokens
    assert world.get("/v1/me", world.web_tokens(reviewer)["access_token"]).status_code == 200


def test_expired_codes_and_refresh_tokens_are_refused(world: World) -> None:
    from datetime import timedelta

    from sqlalchemy import update
    from sqlmodel import Session

    from lpm_guard.access.ids import digest, utcnow
    from lpm_guard.access.models import AuthorizationCodeRow, TokenRow

    mallory = world.researcher()
    verifier, challenge = pkce_pair()
    code = world.code(mallory, challenge)
    tokens = world.web_tokens(mallory)
    past = utcnow() - timedelta(seconds=1)
    with Session(world.services.oauth2.engine) as session:
        session.exec(
            update(AuthorizationCodeRow)
            .where(AuthorizationCodeRow.code_hash == digest(code))  # type: ignore[arg-type]
            .values(expires_at=past)
        )
        session.exec(
            update(TokenRow)
            .where(TokenRow.refresh_hash == digest(tokens["refresh_token"]))  # type: ignore[arg-type]
            .values(refresh_expires_at=past)
        )
        session.commit()
    stale = world.exchange(code, verifier)
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"
    refresh = world.http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "lpm-guard-web",
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
