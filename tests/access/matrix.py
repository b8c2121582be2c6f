"""The authorisation matrix: every route, every kind of caller, the status each must get.

Extend ``CASES`` with other domains' routes: a path may name targets in braces (``{app_a}``),
made fresh for each case by ``Targets``; ``expect`` maps each caller in ``CALLERS`` to a status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CALLERS = (
    "anonymous",
    "researcher_a",
    "researcher_b",
    "reviewer",
    "admin",
    "expired",
    "suspended",
)

Body = dict[str, Any] | Callable[[], dict[str, Any]] | None


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    expect: dict[str, int]
    json: Body = None
    form: dict[str, str] | None = None
    params: dict[str, str] = field(default_factory=dict)
    photos: bool = False  # send the form as multipart with a face photo in "photos"

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(CALLERS, status)


def signed_in(
    researcher_a: int,
    researcher_b: int | None = None,
    reviewer: int | None = None,
    admin: int | None = None,
) -> dict[str, int]:
    """Anonymous, expired and suspended callers get 401; the rest as given."""
    b = researcher_a if researcher_b is None else researcher_b
    rev = researcher_a if reviewer is None else reviewer
    adm = rev if admin is None else admin
    return {
        "anonymous": 401,
        "researcher_a": researcher_a,
        "researcher_b": b,
        "reviewer": rev,
        "admin": adm,
        "expired": 401,
        "suspended": 401,
    }


def reviewers_only(status: int) -> dict[str, int]:
    return signed_in(403, 403, status, status)


def researchers_only(a: int, b: int | None = None) -> dict[str, int]:
    return signed_in(a, b, 403, 403)


REASON = {"reason": "checked against the policy"}

CASES: list[Case] = [
    # OAuth2 and discovery: public, whatever bearer token comes along.
    Case("GET", "/.well-known/oauth-authorization-server", everyone(200)),
    Case("GET", "/.well-known/jwks.json", everyone(200)),
    Case("GET", "/oauth/authorize", everyone(200), params={"authorize": "web"}),
    # Signing in takes credentials, not tokens: wrong ones get the form again, with 401.
    Case(
        "POST",
        "/oauth/authorize",
        everyone(401),
        params={"authorize": "web"},
        form={"signin": "unknown"},
    ),
    # The token, revocation and introspection endpoints authenticate clients, not bearers.
    Case("POST", "/oauth/token", everyone(401), form={"grant_type": "client_credentials"}),
    Case("POST", "/oauth/revoke", everyone(401), form={"token": "x"}),
    Case("POST", "/oauth/introspect", everyone(401), form={"token": "x"}),
    # Applications.
    Case("POST", "/v1/applications", everyone(202), json="signup"),  # type: ignore[arg-type]
    Case("GET", "/v1/applications", signed_in(200)),
    Case("GET", "/v1/applications/{app_a}", signed_in(200, 404, 200)),
    Case("POST", "/v1/applications/{submitted}/approve", reviewers_only(200), json=REASON),
    Case("POST", "/v1/applications/{submitted}/deny", reviewers_only(200), json=REASON),
    Case("POST", "/v1/applications/{approved}/suspend", reviewers_only(200), json=REASON),
    Case("POST", "/v1/applications/{suspended}/reinstate", reviewers_only(200), json=REASON),
    # API clients, staff, me.
    Case("GET", "/v1/clients", researchers_only(200)),
    Case("POST", "/v1/clients", researchers_only(201), json={"name": "lab laptop"}),
    Case("DELETE", "/v1/clients/{client_a}", researchers_only(200, 404)),
    Case(
        "POST",
        "/v1/reviewers",
        signed_in(403, 403, 403, 201),
        json="reviewer",  # type: ignore[arg-type]
    ),
    Case("GET", "/v1/me", signed_in(200)),
    Case("GET", "/v1/me/quota", researchers_only(200)),
    # Applying again is for denied researchers; approved ones get 409.
    Case("POST", "/v1/me/applications", researchers_only(409), json="details"),  # type: ignore[arg-type]
    # Researchers as reviewers see them, and their quotas.
    Case("GET", "/v1/researchers", reviewers_only(200)),
    Case("GET", "/v1/researchers/{account_a}", reviewers_only(200)),
    Case(
        "POST",
        "/v1/researchers/{approved_account}/quota",
        reviewers_only(200),
        json={"daily_quota_s": 900, "reason": "a longer study"},
    ),
    # Other domains' routes: health and the audit log.
    Case("GET", "/healthz", everyone(200)),
    Case("GET", "/readyz", everyone(200)),
    Case("GET", "/v1/audit/entries/{entry_0}", reviewers_only(200)),
    Case("GET", "/v1/audit/entries", reviewers_only(200), params={"about": "ses_nobody"}),
    Case("GET", "/v1/audit/keys", everyone(200)),
    Case("GET", "/v1/audit/checkpoint", everyone(200)),
    Case("GET", "/v1/audit/checkpoint.txt", everyone(200)),
    Case("GET", "/v1/audit/proofs/inclusion", everyone(200), params={"index": "0"}),
    Case("GET", "/v1/audit/proofs/consistency", everyone(200), params={"old_size": "1"}),
    # Consent: researchers see their identities, reviewers the review queue and the protected
    # list; the subject's routes take a capability link, never a bearer token.
    Case("GET", "/v1/consent/identities", researchers_only(200)),
    Case("GET", "/v1/consent/review/identities", reviewers_only(200)),
    Case("GET", "/v1/consent/protected", reviewers_only(200)),
    Case("GET", "/v1/consent/invitation", everyone(401)),
    Case("POST", "/v1/consent/revocation", everyone(401)),
    Case("POST", "/v1/consent/invitation/captures", everyone(401)),
    Case("PUT", "/v1/consent/invitation/captures/{no_capture}", everyone(401)),
    Case("POST", "/v1/consent/invitation/refusal", everyone(401), json={"report": True}),
    Case("GET", "/v1/consent/review/reports", reviewers_only(200)),
    Case("GET", "/v1/consent/review/captures", reviewers_only(200)),
    Case("GET", "/v1/consent/review/captures/{no_capture}", reviewers_only(404)),
    Case("GET", "/v1/consent/review/captures/{no_capture}/video", reviewers_only(404)),
    Case(
        "POST", "/v1/consent/review/captures/{no_capture}/approve", reviewers_only(404), json=REASON
    ),
    Case(
        "POST", "/v1/consent/review/captures/{no_capture}/reject", reviewers_only(404), json=REASON
    ),
    Case("GET", "/v1/consent/identities/{identity_a}", researchers_only(200, 404)),
    Case(
        "POST",
        "/v1/consent/identities",
        researchers_only(201),
        form={"display_name": "A subject", "subject_email": "a.subject@example.org"},
        photos=True,
    ),
    Case(
        "POST",
        "/v1/consent/identities/{identity_a}/invitations",
        researchers_only(201, 404),
        json={"uses": ["offline"]},
    ),
    Case(
        "POST",
        "/v1/consent/synthetic",
        researchers_only(201),
        form={
            "display_name": "A drawn character",
            "origin": "drawn",
            "attestation": "depicts no real person",
            "uses": "offline",
        },
        photos=True,
    ),
    Case(
        "POST",
        "/v1/consent/review/identities/{synthetic_a}/approve",
        reviewers_only(200),
        json=REASON,
    ),
    Case(
        "POST",
        "/v1/consent/review/identities/{synthetic_a}/reject",
        reviewers_only(200),
        json=REASON,
    ),
    Case(
        "POST",
        "/v1/consent/review/identities/{identity_a}/revoke",
        reviewers_only(200),
        json=REASON,
    ),
    Case(
        "POST",
        "/v1/consent/protected",
        reviewers_only(201),
        form={"name": "A public figure", "reason": "asked not to be generated"},
        photos=True,
    ),
    # Sessions: the gate answers researchers (here: no such identity), the scope everyone else.
    Case("POST", "/v1/sessions", signed_in(403), json={"identity_id": "idn_nobody"}),
    Case("DELETE", "/v1/sessions/{no_session}", signed_in(404)),
    # Lists of sessions and jobs: everyone signed in gets their own; only reviewers may name
    # another researcher (tests/gate/test_lists.py checks whose each caller sees).
    Case("GET", "/v1/sessions", signed_in(200)),
    Case("GET", "/v1/sessions", signed_in(403, 403, 200), params={"owner": "acct_other"}),
    Case("GET", "/v1/sessions/{no_session}", signed_in(404)),
    # Live instructions held for review: reviewers only (none is held here).
    Case("GET", "/v1/review/instructions", reviewers_only(200)),
    Case("GET", "/v1/review/instructions/{no_held}", reviewers_only(404)),
    Case("POST", "/v1/review/instructions/{no_held}/approve", reviewers_only(404), json=REASON),
    Case("POST", "/v1/review/instructions/{no_held}/deny", reviewers_only(404), json=REASON),
    Case("GET", "/v1/generations", signed_in(200)),
    Case("GET", "/v1/generations", signed_in(403, 403, 200), params={"owner": "acct_other"}),
    # Offline generations: researchers' own jobs (reviewers see all); none exists here.
    Case("POST", "/v1/generations", signed_in(422, 422, 403, 403), json={"not": "multipart"}),
    Case("GET", "/v1/generations/{no_job}", signed_in(404)),
    Case("GET", "/v1/generations/{no_job}/events", signed_in(404)),
    Case("GET", "/v1/generations/{no_job}/video", signed_in(404)),
    # Provenance: public.
    Case("GET", "/v1/provenance/trust-anchors", everyone(200)),
    Case("GET", "/v1/provenance/trust-anchors.pem", everyone(200)),
    Case("POST", "/v1/verify", everyone(415), json={"not": "a video"}),
    # Resolution of a reference to its signed manifest (found: tests/provenance/test_manifests).
    Case("GET", "/v1/manifests/{no_manifest}", everyone(404)),
]
