"""Every route against every kind of caller, over real HTTP with real tokens (``matrix.CASES``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from lpm_guard.generator import faces as generator_faces

from lpm_guard.access.schemas import ApplicationDetails
from lpm_guard.access.scopes import Role
from lpm_guard.consent.faces import decode_image
from lpm_guard.consent.models import Use
from lpm_guard.consent.services import ConsentService
from tests.access.matrix import CALLERS, CASES, Case
from tests.access.world import Account, World, application_form, pkce_pair, unique_email
from tests.consent.conftest import insightface_images, png

TARGETS = (
    "entry_0",
    "no_capture",
    "no_manifest",
    "app_a",
    "client_a",
    "submitted",
    "approved",
    "suspended",
    "identity_a",
    "synthetic_a",
    "account_a",
    "approved_account",
)


def face_photos() -> list[bytes]:
    """Single-face PNGs of different people, cut from insightface's t1.jpg."""
    group = decode_image((insightface_images() / "t1.jpg").read_bytes())
    photos = []
    for face in generator_faces.detect_faces(group):
        left, top, right, bottom = face.box
        margin = int((right - left) * 0.8)
        top, left = max(0, top - margin), max(0, left - margin)
        photos.append(png(group[top : bottom + margin, left : right + margin].copy()))
    return photos


class Callers:
    """One account per kind of caller, each with a live token (taken before any expiry or
    suspension, which must end it)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.a, self.b = world.researcher(), world.researcher()
        reviewer, admin = world.staff(Role.REVIEWER), world.staff(Role.ADMIN)
        expired, suspended = world.researcher(), world.researcher()
        self.tokens: dict[str, str | None] = {
            "anonymous": None,
            "researcher_a": world.web_tokens(self.a)["access_token"],
            "researcher_b": world.client_token(self.b).json()["access_token"],
            "reviewer": world.web_tokens(reviewer)["access_token"],
            "admin": world.web_tokens(admin)["access_token"],
            "expired": world.client_token(expired).json()["access_token"],
            "suspended": world.web_tokens(suspended)["access_token"],
        }
        world.expire(expired)
        world.suspend(suspended)
        assert world.runtime is not None
        self.consent = ConsentService(world.runtime)
        # Person 0 enrolls as identities, person 4 as synthetic characters, person 2 is the
        # protected one (they are far apart: nothing collides).
        self.photos = face_photos()

    def target(self, name: str) -> str:
        """A fresh object for one case, so that a case that succeeds changes nothing shared."""
        world = self.world
        if name == "app_a":
            assert self.a.application_id
            return self.a.application_id
        if name == "client_a":
            return world.api_client(self.a)[0]
        if name == "account_a":
            return self.a.account_id
        if name == "approved_account":
            return world.researcher().account_id
        if name == "entry_0":
            return "0"
        if name == "no_job":
            return "job_nobody"
        if name == "no_session":
            return "ses_nobody"
        if name == "no_capture":
            return "cap_nobody"
        if name == "no_held":
            return "irv_nobody"
        if name == "no_manifest":
            return "f" * 48  # a handle (reference + tag) no output was signed with
        if name == "identity_a":
            return self.consent.create_identity(
                self.a.principal,
                "Subject",
                [self.photos[0]],
                subject_email=unique_email("subject"),
            ).id
        if name == "synthetic_a":
            return self.consent.enroll_synthetic(
                self.a.principal,
                "Drawn",
                "drawn",
                "depicts no real person",
                [self.photos[4]],
                [Use.OFFLINE],  # type: ignore[arg-type]
            ).id
        account: Account = world.applicant() if name == "submitted" else world.researcher()
        if name == "suspended":
            world.suspend(account)
        assert account.application_id
        return account.application_id


@pytest.fixture(scope="module")
def callers(live_world: World) -> Callers:
    return Callers(live_world)


def _body(case: Case) -> Any:
    if case.json == "signup":
        return application_form().model_dump(mode="json")
    if case.json == "details":
        form = application_form().model_dump(mode="json")
        return {key: form[key] for key in ApplicationDetails.model_fields}
    if case.json == "reviewer":
        return {"email": unique_email("reviewer"), "name": "New Reviewer"}
    return case.json() if callable(case.json) else case.json


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_route_answers_each_caller_as_the_matrix_says(
    callers: Callers, case: Case, caller: str
) -> None:
    world = callers.world
    path = case.path
    for name in TARGETS:
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", callers.target(name))
    if case.params.get("authorize") == "web":
        path += "?" + urlencode(world.authorize_params(pkce_pair()[1]))
    elif case.params:
        path += "?" + urlencode(case.params)
    token = callers.tokens[caller]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    form = case.form
    if form == {"signin": "unknown"}:  # a fresh unknown account, so no throttle is reached
        form = {"email": unique_email("nobody"), "password": "wrong password"}
    files = None
    if case.photos:
        photo = callers.photos[2 if "protected" in path else 4 if "synthetic" in path else 0]
        files = [("photos", ("face.png", photo, "image/png"))]
    response = world.http.request(
        case.method, path, headers=headers, json=_body(case), data=form, files=files
    )
    assert response.status_code == case.expect[caller], (caller, case.name, response.text)
    if response.status_code in (401, 403) and path.startswith("/v1/"):
        assert response.headers["content-type"] == "application/problem+json"


def test_every_route_is_in_the_matrix(live_world: World) -> None:
    from lpm_guard.access.routes import api, oauth
    from lpm_guard.api.health import router as health
    from lpm_guard.auditing.routes import router as audit
    from lpm_guard.consent.routes import router as consent
    from lpm_guard.jobs.routes import router as generations
    from lpm_guard.live.review_routes import router as instruction_reviews
    from lpm_guard.live.routes import router as sessions
    from lpm_guard.provenance.routes import router as provenance

    covered = {(case.method, case.path.split("?")[0]) for case in CASES}
    routers = (
        api,
        oauth,
        health,
        audit,
        consent,
        provenance,
        sessions,
        generations,
        instruction_reviews,
    )
    for router in routers:
        for route in router.routes:
            for method in route.methods - {"HEAD"}:  # type: ignore[attr-defined]
                path = route.path  # type: ignore[attr-defined]
                path = path.replace("{application_id}", "{app}").replace("{client_id}", "{cli}")
                assert any(m == method and _same_shape(p, path) for m, p in covered), (
                    f"{method} {route.path} is not in the authorisation matrix"
                )


def _same_shape(matrix_path: str, route_path: str) -> bool:
    left, right = matrix_path.split("/"), route_path.split("/")
    return len(left) == len(right) and all(
        a == b or (a.startswith("{") and b.startswith("{"))
        for a, b in zip(left, right, strict=True)
    )


def test_a_researcher_sees_only_their_own_applications(callers: Callers) -> None:
    world = callers.world
    mine = world.get("/v1/applications", callers.tokens["researcher_b"]).json()
    assert [view["account_id"] for view in mine] == [callers.b.account_id]
    everything = world.get("/v1/applications", callers.tokens["reviewer"]).json()
    assert {callers.a.account_id, callers.b.account_id} <= {v["account_id"] for v in everything}
