from __future__ import annotations

import importlib.util
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from lpm_guard.generator import faces as generator_faces
from PIL import Image
from skimage import data
from sqlmodel import Session

from lpm_guard.access.principals import Principal
from lpm_guard.access.scopes import Scope
from lpm_guard.api import create_app
from lpm_guard.consent.faces import decode_image
from lpm_guard.consent.models import Identity, Use
from lpm_guard.consent.services import ConsentService
from lpm_guard.consent.settings import ConsentSettings
from lpm_guard.consent.views import InvitationSent
from lpm_guard.runtime import Runtime
from tests import mailbox
from tests.mailbox import Mailbox

RESEARCHER = frozenset({Scope.IDENTITIES_WRITE, Scope.GENERATE_OFFLINE, Scope.GENERATE_LIVE})
PRINCIPALS = {
    "token-researcher-a": Principal("researcher-a", RESEARCHER),
    "token-researcher-b": Principal("researcher-b", RESEARCHER),
    "token-reviewer": Principal("reviewer-1", frozenset({Scope.REVIEW, Scope.AUDIT_READ})),
    "token-admin": Principal("admin-1", frozenset(Scope)),
}


class TokenAuthenticator:
    """Fixed test tokens; the Access issue's OAuth2 authenticator replaces it at merge."""

    def authenticate(self, token: str) -> Principal | None:
        return PRINCIPALS.get(token)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def insightface_images() -> Path:
    """insightface's sample photos (its wheel, installed with --no-deps by `make install-dev`)."""
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        if os.environ.get("CI"):
            pytest.fail("insightface is not installed; `make install-dev` installs it")
        pytest.skip("insightface is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "images"


@dataclass(frozen=True)
class People:
    """Single-face photos of different people: the six in insightface's t1.jpg, cropped, and
    scikit-image's astronaut. t1's people 3 and 4 sit 0.60 apart: tests that need two clearly
    different people use 0, 1, 2 and 5."""

    t1: list[np.ndarray]
    astronaut: np.ndarray
    group: np.ndarray  # t1.jpg itself: six faces


@pytest.fixture(scope="session")
def people() -> People:
    group = decode_image((insightface_images() / "t1.jpg").read_bytes())
    crops = []
    for face in generator_faces.detect_faces(group):
        left, top, right, bottom = face.box
        margin = int((right - left) * 0.8)
        top, left = max(0, top - margin), max(0, left - margin)
        crops.append(np.ascontiguousarray(group[top : bottom + margin, left : right + margin]))
    assert len(crops) == 6
    return People(t1=crops, astronaut=data.astronaut(), group=group)


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def camera_still(rgb: np.ndarray) -> bytes:
    """The same person as the webcam would show them: rescaled, brighter, re-compressed."""
    height, width = rgb.shape[:2]
    scaled = cv2.resize(rgb, (int(width * 1.3), int(height * 1.3)), interpolation=cv2.INTER_CUBIC)
    brighter = np.clip(scaled.astype(np.float32) * 1.1 + 8, 0, 255).astype(np.uint8)
    return jpeg(brighter, 80)


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server on loopback: what the gate sends to subjects arrives here."""
    with mailbox.smtp_server() as box:
        yield box


@pytest.fixture
def consent_settings(smtp_server: Mailbox) -> ConsentSettings:
    return ConsentSettings(
        max_upload_bytes=8 * 1024 * 1024,
        public_url="https://lpm.test",
        **smtp_server.settings(),
    )


SUBJECT_EMAIL = "subject@example.org"


def invite_and_read_token(
    service: ConsentService,
    smtp_server: Mailbox,
    principal: Principal,
    identity_id: str,
    uses: Sequence[Use] = (Use.OFFLINE, Use.LIVE),
    **terms: Any,
) -> tuple[InvitationSent, str]:
    """Invite as the researcher, then read the token where only the subject can: in the
    message the loopback SMTP server received."""
    sent = service.invite(principal, identity_id, uses, **terms)
    address = service.subject_address(_identity(service, identity_id))
    return sent, smtp_server.invitation_token(address)


def _identity(service: ConsentService, identity_id: str) -> Identity:
    with Session(service.engine) as session:
        identity = session.get(Identity, identity_id)
        assert identity is not None
        return identity


@pytest.fixture
def service(runtime: Runtime, consent_settings: ConsentSettings) -> ConsentService:
    return ConsentService(runtime, consent_settings)


@pytest.fixture
def api(runtime: Runtime, consent_settings: ConsentSettings) -> Iterator[TestClient]:
    app = create_app(runtime=runtime, authenticator=TokenAuthenticator())
    app.state.consent_settings = consent_settings
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
