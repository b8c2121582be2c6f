"""A drawn character's explicit landmarks: checked, scaled to the stored photo, kept with it and
handed to the gate; malformed ones are refused and the refusal audited."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from lpm_guard.consent.models import Use
from lpm_guard.consent.services import ConsentService
from lpm_guard.demo.services import bundled
from lpm_guard.errors import InvalidRequest

from .conftest import PRINCIPALS

A = PRINCIPALS["token-researcher-a"]
B = PRINCIPALS["token-researcher-b"]
ATTESTATION = "Drawn from a generic mean face by a test; it depicts no real person."


def _points() -> list[list[float]]:
    points: list[list[float]] = json.loads(bundled("pip.json"))
    return points


def test_landmarks_travel_with_the_photo_scaled_to_its_stored_size(
    service: ConsentService,
) -> None:
    picture = cv2.imdecode(np.frombuffer(bundled("pip.png"), np.uint8), cv2.IMREAD_COLOR)
    big = cv2.resize(picture, (2048, 2048), interpolation=cv2.INTER_CUBIC)  # shrunk on upload
    ok, encoded = cv2.imencode(".png", big)
    assert ok
    scaled = [[x * 4, y * 4] for x, y in _points()]
    view = service.enroll_synthetic(
        A,
        "Pip",
        "drawn",
        ATTESTATION,
        [encoded.tobytes()],
        [Use.OFFLINE],  # type: ignore[arg-type]
        landmarks=json.dumps(scaled),
    )
    stored = service.enrolled_landmarks(A.subject, view.id)
    photo = service.enrolled_photos(A.subject, view.id)[0]
    assert stored is not None and photo.shape[1] == 1600  # the working size
    assert np.allclose(np.array(stored), np.array(scaled) * 1600 / 2048, atol=0.01)
    # Only the owner reads them; an identity without landmarks has none.
    with pytest.raises(Exception, match="no such identity"):
        service.enrolled_landmarks(B.subject, view.id)
    plain = service.enroll_synthetic(
        A,
        "Plain",
        "drawn",
        ATTESTATION,
        [bundled("pip.png")],
        [Use.OFFLINE],  # type: ignore[arg-type]
    )
    assert service.enrolled_landmarks(A.subject, plain.id) is None


@pytest.mark.parametrize(
    ("landmarks", "says"),
    [
        ("not json", "must be JSON"),
        (json.dumps(_points()[:67]), "68 \\[x, y\\] pairs"),
        (json.dumps([[float("nan"), 1.0]] * 68), "68 \\[x, y\\] pairs"),
        (json.dumps([[600.0, 10.0]] * 68), "inside the first photo"),
        (json.dumps({"points": _points()}), "must be JSON"),
    ],
)
def test_malformed_landmarks_are_refused_and_audited(
    service: ConsentService, landmarks: str, says: str
) -> None:
    before = service.audit.log.size()
    with pytest.raises(InvalidRequest, match=says):
        service.enroll_synthetic(
            A,
            "Pip",
            "drawn",
            ATTESTATION,
            [bundled("pip.png")],
            [Use.OFFLINE],  # type: ignore[arg-type]
            landmarks=landmarks,
        )
    assert service.audit.log.size() == before + 1
    entry = json.loads(service.audit.log.entry(before).body)
    assert entry["action"] == "consent:synthetic:enroll" and entry["outcome"] == "deny"
